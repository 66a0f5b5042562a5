import type { RedisServerHandle } from '@active-runs/test-utils';
import { startRedisServer } from '@active-runs/test-utils';
import { Redis } from 'ioredis';

/** Generous: a full-scan contender at 100k runs moves ~100 MB in one reply. */
const COMMAND_TIMEOUT_MS = 120_000;

/** The bench's own throwaway redis-server and the clients that talk to it. */
export interface BenchServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The client every contender and the store use (one connection, like an app's). */
  readonly client: Redis;
  /** A second connection for INFO, CONFIG and SLOWLOG, so measurement never queues behind a contender. */
  readonly admin: Redis;
  /** Connection options for libraries that open their own connections (BullMQ). */
  readonly connection: { host: string; port: number };
  stop(): Promise<void>;
}

/**
 * Starts a redis-server on a free loopback port that keeps nothing on disk: the bench never
 * touches another Redis, and its data goes away with the process.
 */
export async function startBenchServer(): Promise<BenchServer> {
  const handle: RedisServerHandle = await startRedisServer({
    args: ['--maxmemory-policy', 'noeviction', '--slowlog-max-len', '200000'],
  });
  const client = new Redis(handle.url, { commandTimeout: COMMAND_TIMEOUT_MS });
  const admin = new Redis(handle.url, { commandTimeout: COMMAND_TIMEOUT_MS });
  await Promise.all([client.ping(), admin.ping()]);
  return {
    url: handle.url,
    host: handle.host,
    port: handle.port,
    client,
    admin,
    connection: { host: handle.host, port: handle.port },
    async stop() {
      client.disconnect();
      admin.disconnect();
      await handle.stop();
    },
  };
}

/** `INFO` sections parsed into `field -> value` (strings as Redis prints them). */
export async function info(admin: Redis, ...sections: string[]): Promise<Map<string, string>> {
  const text = await (admin.info as (...s: string[]) => Promise<string>)(...sections);
  const out = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) out.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return out;
}

/** Bytes Redis has allocated for data and overhead (`used_memory`). */
export async function usedMemory(admin: Redis): Promise<number> {
  return Number((await info(admin, 'memory')).get('used_memory'));
}

/** Every key matching `pattern`, found with SCAN (bench clean-up only, on the bench's own server). */
export async function scanKeys(admin: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 10_000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

/** Deletes keys in batches, synchronously (DEL, not UNLINK), so used_memory is settled after it. */
export async function deleteKeys(admin: Redis, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1_000) await admin.del(...keys.slice(i, i + 1_000));
}
