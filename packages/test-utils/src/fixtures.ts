import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';

/** A key prefix unique to one test, so tests can share a Redis without ever flushing it. */
export function uniquePrefix(name = 't'): string {
  return `test:${name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 24)}:${randomBytes(5).toString('hex')}`;
}

/** An ioredis client for tests, with the commandTimeout the store requires. */
export function connect(url: string): Redis {
  return new Redis(url, { commandTimeout: 5_000, maxRetriesPerRequest: 2 });
}

async function scanDelete(node: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    // one DEL per key: on a cluster node, keys of a batch span slots
    for (const key of keys) deleted += await node.del(key);
  } while (cursor !== '0');
  return deleted;
}

/**
 * Deletes every key under `prefix` (test clean-up only: it SCANs, on every master of a cluster).
 * Also removes this prefix's scope registry entries, which live under `prefix:{r...}:scopes`.
 */
export async function deletePrefix(client: Redis | Cluster, prefix: string): Promise<number> {
  const pattern = `${prefix}:*`;
  if (client instanceof Cluster) {
    let deleted = 0;
    for (const node of client.nodes('master')) deleted += await scanDelete(node, pattern);
    return deleted;
  }
  return scanDelete(client, pattern);
}

/** Every key under `prefix` (test assertions only). */
export async function keysUnder(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const out: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
  }
  return out.sort();
}
