import type { RedisServerHandle } from '@active-runs/test-utils';
import {
  connect,
  connectCluster,
  deletePrefix,
  startRedisServer,
  uniquePrefix,
} from '@active-runs/test-utils';
import calculateSlot from 'cluster-key-slot';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, inject } from 'vitest';
import type { ActiveRunStore, ActiveRunStoreOptions, Scope } from '../src/index.js';
import { createActiveRunStore } from '../src/index.js';

/** The Redis a test project runs on (see vitest.config.ts: projects `standalone` and `cluster`). */
export type Topology = 'standalone' | 'cluster';

/** The master serving a slot range, as CLUSTER SLOTS reports it. */
type SlotRange = [number, number, [string, number, string?, ...unknown[]], ...unknown[]];

/**
 * Per-file test harness: one client on the project's Redis (an ioredis `Redis` on standalone, an
 * ioredis `Cluster` on the cluster project), a fresh prefix per store, and clean-up of every key
 * the test wrote (never a whole-database flush: the Redis may be shared).
 *
 * `url` is a `redis://` URL of the standalone Redis; on the cluster project it points at one
 * node only, so a client made from it (or a store given it) is NOT cluster-aware: use `client`.
 */
export function useStoreHarness() {
  const topology: Topology = inject('redisTopology') === 'cluster' ? 'cluster' : 'standalone';
  let url: string;
  let client: Redis | Cluster;
  if (topology === 'cluster') {
    const nodes = inject('redisClusterNodes');
    const first = nodes[0];
    if (!first) throw new Error('the cluster project provided no cluster nodes');
    url = `redis://${first.host}:${first.port}`;
    client = connectCluster(nodes);
  } else {
    url = inject('redisUrl');
    client = connect(url);
  }
  const prefixes: string[] = [];
  const stores: ActiveRunStore<unknown>[] = [];

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const prefix of prefixes.splice(0)) await deletePrefix(client, prefix);
  });
  afterAll(async () => {
    await client.quit();
  });

  return {
    url,
    topology,
    client,
    /** A store on its own fresh prefix. */
    store<TData = unknown>(
      options: Partial<ActiveRunStoreOptions<TData>> = {},
    ): ActiveRunStore<TData> {
      const prefix = options.prefix ?? uniquePrefix();
      prefixes.push(prefix);
      const store = createActiveRunStore<TData>({ redis: client, ...options, prefix });
      stores.push(store as ActiveRunStore<unknown>);
      return store;
    },
    /** Registers a prefix for clean-up. */
    track(prefix: string): string {
      prefixes.push(prefix);
      return prefix;
    },
    /**
     * `n` distinct scopes whose keys land on slots served by `n` different masters (asserted
     * against the cluster's own CLUSTER KEYSLOT and CLUSTER SLOTS). On standalone: `n` distinct
     * scopes (one node serves them all).
     */
    async scopesOnDifferentShards(n: number, label = 'shard'): Promise<Scope[]> {
      if (!(client instanceof Cluster)) {
        return Array.from({ length: n }, (_, i) => ({
          workspaceId: `${label}${i}`,
          projectId: 'p',
        }));
      }
      const cluster = client;
      const ranges = (await cluster.cluster('SLOTS')) as unknown as SlotRange[];
      const ownerOf = (slot: number) => {
        const range = ranges.find(([a, b]) => slot >= a && slot <= b);
        if (!range) throw new Error(`no master serves slot ${slot}`);
        return `${range[2][0]}:${range[2][1]}`;
      };
      const masters = new Set(ranges.map(([a]) => ownerOf(a)));
      if (masters.size < n) {
        throw new Error(
          `asked for scopes on ${n} shards but the cluster has ${masters.size} masters`,
        );
      }
      const byOwner = new Map<string, Scope>();
      for (let i = 0; byOwner.size < n && i < 100_000; i++) {
        const scope = { workspaceId: `${label}${i}`, projectId: 'p' };
        const owner = ownerOf(calculateSlot(`${scope.workspaceId}:${scope.projectId}`));
        if (!byOwner.has(owner)) byOwner.set(owner, scope);
      }
      const scopes = [...byOwner.values()];
      // Ask Redis itself where a scope's keys go: the hash tag decides the slot.
      const owners: string[] = [];
      for (const scope of scopes) {
        const key = `any-prefix:{${scope.workspaceId}:${scope.projectId}}:runs`;
        owners.push(ownerOf(Number(await cluster.cluster('KEYSLOT', key))));
      }
      expect(new Set(owners).size, `owners of ${JSON.stringify(scopes)}`).toBe(n);
      return scopes;
    },
  };
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A throwaway redis-server persisting every write to its AOF, so a restart on the same `dir` and
 * `port` keeps what was acknowledged.
 */
export function persistent(dir: string, port?: number): Promise<RedisServerHandle> {
  return startRedisServer({
    dir,
    ...(port ? { port } : {}),
    args: ['--appendonly', 'yes', '--appendfsync', 'always'],
  });
}

/** Waits until `predicate` holds (polling every 10 ms, at most `ms`), then asserts it. */
export async function until(what: string, predicate: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate() && Date.now() < deadline) await sleep(10);
  expect(predicate(), what).toBe(true);
}

/**
 * A throwaway redis-server for the tests of the enclosing describe block (started before them,
 * stopped after), with an admin client on it: read `url` and `admin` inside the tests.
 */
export function useThrowawayRedis() {
  const own = { url: '', admin: undefined as unknown as Redis };
  let server: RedisServerHandle | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
    own.url = server.url;
    own.admin = connect(server.url);
  });
  afterAll(async () => {
    own.admin?.disconnect();
    await server?.stop();
  });
  return own;
}
