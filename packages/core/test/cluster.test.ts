import { keysUnder } from '@active-runs/test-utils';
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Scope } from '../src/index.js';
import { scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { useStoreHarness } from './harness.js';

const h = useStoreHarness();

/** Ports of the masters that hold `key`, asked of every master directly. */
async function holderOf(cluster: Cluster, key: string): Promise<number[]> {
  const slot = Number(await cluster.cluster('KEYSLOT', key));
  const holders: number[] = [];
  for (const node of cluster.nodes('master')) {
    const count = Number(await node.call('CLUSTER', 'COUNTKEYSINSLOT', slot));
    // a master that does not serve the slot holds no key of it (and would answer EXISTS with MOVED)
    if (count > 0 && (await node.exists(key)) === 1) holders.push(node.options.port!);
  }
  return holders;
}

const tagOf = (key: string) => key.slice(key.indexOf('{') + 1, key.indexOf('}'));

describe.skipIf(h.topology !== 'cluster')('Redis Cluster: scopes on different shards', () => {
  it('every operation works per shard and nothing leaks across scopes', async () => {
    const store = h.store({ dataSchema: z.object({ scope: z.number(), step: z.number() }) });
    const scopes = await h.scopesOnDifferentShards(3);

    // The same run ids in every scope, with payloads that say which scope they belong to.
    for (const [i, scope] of scopes.entries()) {
      await store.enqueue(scope, { id: 'a', source: 'api', data: { scope: i, step: 0 } });
      await store.enqueue(scope, { id: 'b', source: `web${i}`, data: { scope: i, step: 0 } });
      await store.enqueue(scope, { id: 'c', caption: `c of ${i}` });
      await store.start(scope, 'a');
      await store.progress(scope, 'a', { caption: `scope ${i}`, data: { scope: i, step: 1 } });
      await store.heartbeat(scope, 'b', { leaseMs: 120_000 });
      const ended = await store.end(scope, 'c');
      expect(ended.caption).toBe(`c of ${i}`);
    }

    for (const [i, scope] of scopes.entries()) {
      const a = await store.get(scope, 'a');
      expect(a).toMatchObject({
        status: 'running',
        caption: `scope ${i}`,
        source: 'api',
        data: { scope: i, step: 1 },
      });
      expect(await store.get(scope, 'c')).toBeNull();
      const page = await store.list(scope);
      expect(page.items.map((r) => [r.id, r.status, r.data?.scope])).toEqual([
        ['a', 'running', i],
        ['b', 'queued', i],
      ]);
      expect(page.total).toBe(2);
      expect((await store.list(scope, { source: `web${i}` })).items.map((r) => r.id)).toEqual([
        'b',
      ]);
      for (const [j] of scopes.entries()) {
        if (j === i) continue;
        // another scope's source label does not exist here
        expect(await store.list(scope, { source: `web${j}` })).toEqual({
          items: [],
          total: 0,
          nextCursor: null,
        });
      }
      expect(await store.counts(scope)).toEqual({
        total: 2,
        byStatus: { queued: 1, running: 1 },
        bySource: { api: 1, [`web${i}`]: 1 },
      });
    }

    // Each scope's keys physically live on its own master, and only there.
    const cluster = h.client as Cluster;
    const holders: number[] = [];
    for (const scope of scopes) {
      const keys = scopeKeys(store.prefix, parseScope(scope));
      const where = await holderOf(cluster, keys.runs);
      expect(where, keys.runs).toHaveLength(1);
      for (const key of [keys.index, keys.bySource, keys.lease, keys.meta, keys.registry]) {
        expect(await holderOf(cluster, key), key).toEqual(where);
      }
      holders.push(where[0]!);
    }
    expect(new Set(holders).size).toBe(3);

    // Every key under the prefix belongs to one of the scopes or to a registry of their slots.
    const expectedTags = new Set<string>();
    for (const scope of scopes) {
      const keys = scopeKeys(store.prefix, parseScope(scope));
      expectedTags.add(keys.tag).add(tagOf(keys.registry));
    }
    const tags = new Set((await keysUnder(h.client, store.prefix)).map(tagOf));
    expect([...tags].sort()).toEqual([...expectedTags].sort());

    // Ending everything in one shard leaves the others untouched.
    await store.end(scopes[0]!, 'a');
    await store.end(scopes[0]!, 'b');
    expect(await store.counts(scopes[0]!)).toEqual({
      total: 0,
      byStatus: { queued: 0, running: 0 },
      bySource: {},
    });
    for (const scope of scopes.slice(1)) {
      expect((await store.counts(scope)).total).toBe(2);
      expect((await store.list(scope)).items.map((r) => r.id)).toEqual(['a', 'b']);
    }
  });

  it('many scopes written concurrently across shards each keep exactly their own runs', async () => {
    const store = h.store();
    const scopes: Scope[] = Array.from({ length: 24 }, (_, i) => ({
      workspaceId: i,
      projectId: 7,
    }));
    await Promise.all(
      scopes.map(async (scope, i) => {
        for (let n = 0; n <= i % 5; n++) {
          await store.enqueue(scope, { id: `run-${n}`, caption: `${i}/${n}` });
          if (n % 2 === 0) await store.start(scope, `run-${n}`);
        }
      }),
    );
    const masters = new Set<string>();
    for (const [i, scope] of scopes.entries()) {
      const n = (i % 5) + 1;
      const page = await store.list(scope, { limit: 10 });
      expect(page.total).toBe(n);
      expect(page.items.every((r) => r.caption?.startsWith(`${i}/`))).toBe(true);
      const counts = await store.counts(scope);
      expect(counts.byStatus).toEqual({ running: Math.ceil(n / 2), queued: Math.floor(n / 2) });
      const keys = scopeKeys(store.prefix, parseScope(scope));
      masters.add((await holderOf(h.client as Cluster, keys.runs)).join());
    }
    // 24 scopes spread over all three masters
    expect(masters.size).toBe(3);
  });
});
