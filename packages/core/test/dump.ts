import { keysUnder } from '@active-runs/test-utils';
import type { Redis } from 'ioredis';

/** Every key under the prefix: its serialized value (DUMP) and expiry, to prove nothing changed. */
export async function dumpAll(client: Redis, prefix: string): Promise<[string, string, number][]> {
  const out: [string, string, number][] = [];
  for (const key of await keysUnder(client, prefix)) {
    const dump = await client.dumpBuffer(key);
    out.push([key, dump?.toString('hex') ?? '', await client.pexpiretime(key)]);
  }
  return out;
}

/**
 * Every key under the prefix by content, with its expiry: what `dumpAll` proves, across a restart
 * too (a hash or set reloaded from the AOF may be laid out, so DUMPed, in another order).
 */
export async function contentsAll(
  client: Redis,
  prefix: string,
): Promise<[string, string, unknown, number][]> {
  const out: [string, string, unknown, number][] = [];
  for (const key of await keysUnder(client, prefix)) {
    const type = await client.type(key);
    let content: unknown;
    if (type === 'hash') content = Object.entries(await client.hgetall(key)).sort();
    else if (type === 'zset') content = await client.zrange(key, '0', '-1', 'WITHSCORES');
    else if (type === 'set') content = (await client.smembers(key)).sort();
    else if (type === 'list') content = await client.lrange(key, 0, -1);
    else content = await client.get(key);
    out.push([key, type, content, await client.pexpiretime(key)]);
  }
  return out;
}
