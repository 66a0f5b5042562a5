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
