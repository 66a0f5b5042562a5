import { connect, startRedisServer, uniquePrefix } from '@active-runs/test-utils';
import { describe, expect, it } from 'vitest';
import { createActiveRunStore, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { codeOf } from './expect-failure.js';
import { sleep, useStoreHarness } from './harness.js';
import { redisClock } from './outcomes.js';

const h = useStoreHarness();
const scope = { workspaceId: 'w', projectId: 'clock' };
const { serverNow } = redisClock(h.client);

/**
 * Redis TIME can go backwards: a failover promotes a replica whose clock is behind. The scripts'
 * clock is the scope's high-water mark `hw` (meta) when TIME is behind it, so a lapsed run never
 * comes back. These tests cannot move a server's clock; they leave the scope in the state a master
 * 10 s ahead would have left it in (hw 10 s past TIME), which is what a promoted replica sees.
 */
describe('time never goes backwards for a scope', () => {
  it('a run lapsed by the scope clock stays lapsed for every call while TIME is behind', async () => {
    const reports: string[] = [];
    const store = h.store({ onExpired: (run) => void reports.push(run.id) });
    const behind = await store.enqueue(scope, { id: 'behind', source: 'api', leaseMs: 5_000 });
    await store.enqueue(scope, { id: 'later', leaseMs: 60_000 });
    const keys = scopeKeys(store.prefix, parseScope(scope));
    const ahead = (await serverNow()) + 10_000;
    await h.client.hset(keys.meta, 'hw', String(ahead));
    // 'behind' lapsed by the scope clock (its deadline is before hw), though not by TIME
    expect(behind.leaseExpiresAt).toBeLessThan(ahead);
    expect(behind.leaseExpiresAt).toBeGreaterThan(await serverNow());
    expect(await store.get(scope, 'behind')).toBeNull();
    for (const call of [
      store.heartbeat(scope, 'behind'),
      store.start(scope, 'behind'),
      store.progress(scope, 'behind', { caption: 'x' }),
      store.end(scope, 'behind'),
    ]) {
      expect(await codeOf(call)).toBe('NOT_FOUND');
    }
    expect((await store.list(scope)).items.map((r) => r.id)).toEqual(['later']);
    expect(await store.counts(scope)).toMatchObject({ total: 1, bySource: {} });
    expect(await store.stats(scope)).toMatchObject({ total: 1, lapsed: 1 });
    // a new run's times are never earlier than the scope clock
    const fresh = await store.enqueue(scope, { id: 'fresh', leaseMs: 1_000 });
    expect(fresh.queuedAt).toBeGreaterThanOrEqual(ahead);
    expect(fresh.leaseExpiresAt).toBeGreaterThanOrEqual(ahead + 1_000);
    expect(await store.get(scope, 'fresh')).toMatchObject({ id: 'fresh' });
    // the sweeper finds scopes by Redis TIME: it reports the run once TIME passes its deadline
    expect(await store.sweep()).toMatchObject({ expired: 0 });
    expect(reports).toEqual([]);
  });

  it('a write told NOT_FOUND for a lapsed run records the time it decided at', async () => {
    const store = h.store();
    const run = await store.enqueue(scope, { id: 'lapses', leaseMs: 100 });
    const keys = scopeKeys(store.prefix, parseScope(scope));
    await sleep(150);
    const before = await serverNow();
    expect(await codeOf(store.heartbeat(scope, 'lapses'))).toBe('NOT_FOUND');
    const hw = Number(await h.client.hget(keys.meta, 'hw'));
    expect(hw).toBeGreaterThanOrEqual(before);
    expect(hw).toBeGreaterThan(run.leaseExpiresAt);
  });
});

describe.skipIf(h.topology === 'cluster')('time high-water mark and replication', () => {
  it('a replica promoted after the NOT_FOUND has the mark, so the run stays lapsed there', async () => {
    const primary = await startRedisServer();
    const replica = await startRedisServer({
      args: ['--replicaof', '127.0.0.1', String(primary.port)],
    });
    const admin = connect(primary.url);
    const onReplica = connect(replica.url);
    const prefix = uniquePrefix('failover');
    const store = createActiveRunStore({ redis: admin, prefix });
    try {
      for (let i = 0; i < 100; i++) {
        if (/master_link_status:up/.test(await onReplica.info('replication'))) break;
        await sleep(50);
      }
      await store.enqueue(scope, { id: 'x', leaseMs: 100 });
      await sleep(150);
      expect(await codeOf(store.heartbeat(scope, 'x'))).toBe('NOT_FOUND');
      expect(await admin.wait(1, 2_000)).toBe(1);
      await onReplica.replicaof('NO', 'ONE');
      const keys = scopeKeys(prefix, parseScope(scope));
      const hw = Number(await onReplica.hget(keys.meta, 'hw'));
      const lapsedAt = Number(await onReplica.zscore(keys.lease, 'x'));
      expect(hw).toBeGreaterThan(lapsedAt);
      // whatever the promoted node's clock says, the scope's clock starts at hw there
      const promoted = createActiveRunStore({ redis: onReplica, prefix });
      expect(await codeOf(promoted.heartbeat(scope, 'x'))).toBe('NOT_FOUND');
      expect(await promoted.get(scope, 'x')).toBeNull();
      await promoted.close();
    } finally {
      await store.close();
      admin.disconnect();
      onReplica.disconnect();
      await replica.stop();
      await primary.stop();
    }
  });
});
