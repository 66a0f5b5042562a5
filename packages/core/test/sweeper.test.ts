import { keysUnder, startRedisServer } from '@active-runs/test-utils';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { ActiveRun, ParsedScope } from '../src/index.js';
import { createActiveRunStore, scopeKeys } from '../src/index.js';
import { parseScope, registryKey } from '../src/keys.js';
import { SCRIPTS } from '../src/scripts/index.js';
import { sleep, useStoreHarness } from './harness.js';
import { monitorCommands } from './monitor.js';

const h = useStoreHarness();
const scopeA = { workspaceId: 'w', projectId: 'a' };
const scopeB = { workspaceId: 'w', projectId: 'b' };

interface Report {
  run: ActiveRun;
  scope: ParsedScope;
}

async function rawSizes(prefix: string, scope: { workspaceId: string; projectId: string }) {
  const keys = scopeKeys(prefix, parseScope(scope));
  return {
    runs: await h.client.hlen(keys.runs),
    index: await h.client.zcard(keys.index),
    lease: await h.client.zcard(keys.lease),
    bySource: await h.client.zcard(keys.bySource),
    outbox: await h.client.hlen(keys.expired),
  };
}

/**
 * Stands in for the passage of time: deletes every key of the prefix whose expiry (PEXPIRETIME)
 * comes before `atMs`, as Redis would once its clock reached it. Returns the deleted keys.
 */
async function expireKeysBefore(prefix: string, atMs: number): Promise<string[]> {
  const gone: string[] = [];
  for (const key of await keysUnder(h.client, prefix)) {
    const expireAt = await h.client.pexpiretime(key);
    if (expireAt > 0 && expireAt < atMs) {
      await h.client.del(key);
      gone.push(key);
    }
  }
  return gone;
}

describe('sweeper', () => {
  it('removes lapsed runs from every structure and reports each with its last state', async () => {
    const reports: Report[] = [];
    const store = h.store({
      leaseMs: 200,
      onExpired: (run, scope) => void reports.push({ run, scope }),
    });
    await store.enqueue(scopeA, { id: 'q1', source: 'api', caption: 'c' });
    await store.enqueue(scopeA, { id: 'r1', data: { n: 1 } });
    await store.start(scopeA, 'r1');
    await store.enqueue(scopeB, { id: 'b1', source: 'eval' });
    await store.enqueue(scopeA, { id: 'fresh', source: 'api', leaseMs: 60_000 });
    await sleep(300);

    const result = await store.sweep();
    expect(result).toMatchObject({ ran: true, expired: 3, redelivered: 0, failedReports: 0 });
    expect(reports.map((r) => `${r.scope.projectId}/${r.run.id}/${r.run.status}`).sort()).toEqual([
      'a/q1/queued',
      'a/r1/running',
      'b/b1/queued',
    ]);
    expect(reports.find((r) => r.run.id === 'r1')?.run.data).toEqual({ n: 1 });
    expect(reports.find((r) => r.run.id === 'q1')?.run).toMatchObject({
      source: 'api',
      caption: 'c',
    });

    expect(await rawSizes(store.prefix, scopeA)).toEqual({
      runs: 1,
      index: 1,
      lease: 1,
      bySource: 1,
      outbox: 0,
    });
    expect(await rawSizes(store.prefix, scopeB)).toEqual({
      runs: 0,
      index: 0,
      lease: 0,
      bySource: 0,
      outbox: 0,
    });
    expect(await store.counts(scopeA)).toEqual({
      total: 1,
      byStatus: { queued: 1, running: 0 },
      bySource: { api: 1 },
    });
    // nothing more to do: a second pass reports nothing
    expect((await store.sweep()).expired).toBe(0);
    expect(reports).toHaveLength(3);
    // a late heartbeat after the sweep does not bring the run back
    await expect(store.heartbeat(scopeA, 'r1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('removes a scope with no runs left from the registry, and keeps a live one scheduled', async () => {
    const store = h.store({ leaseMs: 150 });
    await store.enqueue(scopeA, { id: 'x' });
    await store.enqueue(scopeB, { id: 'y', leaseMs: 60_000 });
    const keysA = scopeKeys(store.prefix, parseScope(scopeA));
    const keysB = scopeKeys(store.prefix, parseScope(scopeB));
    expect(await h.client.zscore(keysA.registry, keysA.tag)).not.toBeNull();
    await sleep(250);
    await store.sweep();
    expect(await h.client.zscore(keysA.registry, keysA.tag)).toBeNull();
    const next = Number(await h.client.zscore(keysB.registry, keysB.tag));
    expect(next).toBe((await store.get(scopeB, 'y'))!.leaseExpiresAt);
  });

  it('a scope emptied by end leaves the registry at once, and the registry key expires', async () => {
    const store = h.store({ leaseMs: 60_000 });
    await store.enqueue(scopeA, { id: 'one' });
    await store.enqueue(scopeA, { id: 'two', source: 'api' });
    const keys = scopeKeys(store.prefix, parseScope(scopeA));
    expect(await h.client.zscore(keys.registry, keys.tag)).not.toBeNull();
    // the registry of the slot outlives its scopes but does not live forever
    const registryExpiry = await h.client.pexpiretime(keys.registry);
    expect(registryExpiry).toBeGreaterThanOrEqual(await h.client.pexpiretime(keys.runs));
    await store.end(scopeA, 'one');
    expect(await h.client.zscore(keys.registry, keys.tag)).not.toBeNull();
    await store.end(scopeA, 'two');
    expect(await h.client.zscore(keys.registry, keys.tag)).toBeNull();
    // a new run brings it back
    await store.enqueue(scopeA, { id: 'three' });
    expect(await h.client.zscore(keys.registry, keys.tag)).not.toBeNull();
  });

  it('reports each lapsed run exactly once with three stores sweeping concurrently', async () => {
    const prefix = h.track(`test:sweep-race:${Date.now()}`);
    const counts = new Map<string, number>();
    const onExpired = (run: ActiveRun, scope: ParsedScope) => {
      const key = `${scope.projectId}/${run.id}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    };
    const stores = [0, 1, 2].map(() =>
      createActiveRunStore({
        redis: h.client,
        prefix,
        leaseMs: 200,
        onExpired,
        sweeper: { batchSize: 7 },
      }),
    );
    const writer = stores[0]!;
    const scopes = Array.from({ length: 6 }, (_, i) => ({
      workspaceId: 'race',
      projectId: `p${i}`,
    }));
    const lapsing: string[] = [];
    for (const scope of scopes) {
      for (let i = 0; i < 40; i++) {
        await writer.enqueue(scope, { id: `r${i}`, source: i % 3 === 0 ? 'api' : undefined });
        lapsing.push(`${scope.projectId}/r${i}`);
      }
      await writer.enqueue(scope, { id: 'fresh', leaseMs: 60_000 });
    }
    await sleep(300);
    let ran = 0;
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(stores.map((s) => s.sweep()));
      ran += results.filter((r) => r.ran).length;
    }
    expect(ran).toBeGreaterThan(0);
    expect([...counts.keys()].sort()).toEqual(lapsing.sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    for (const scope of scopes) {
      expect((await writer.list(scope)).items.map((r) => r.id)).toEqual(['fresh']);
    }
    for (const s of stores) await s.close();
  });

  it('the next batch is claimed while the hooks of one run, and acknowledges the batch before: one round trip per batch', async () => {
    const prefix = h.track(`test:sweep-acks:${Date.now()}`);
    const reported: string[] = [];
    /** Reports in the outbox when the first hook ran. */
    let claimedDuringFirstHook = -1;
    const scope = { workspaceId: 'acks', projectId: 'p' };
    const keys = scopeKeys(prefix, parseScope(scope));
    const store = createActiveRunStore({
      redis: h.client,
      prefix,
      leaseMs: 200,
      onExpired: async (run) => {
        // the same connection as the store's: this HLEN runs after every call sent before it
        if (reported.length === 0) claimedDuringFirstHook = await h.client.hlen(keys.expired);
        reported.push(run.id);
      },
      sweeper: { batchSize: 10 },
    });
    for (let i = 0; i < 25; i++) await store.enqueue(scope, { id: `r${i}` });
    await sleep(300);
    // this store's scripts only (the server may be shared): their first key is the scope's
    const monitor = await monitorCommands(
      h.client,
      (args) => /^eval(sha)?$/i.test(String(args[0])) && String(args[3]).startsWith(prefix),
    );
    try {
      const result = await store.sweep();
      await monitor.flush(keys.runs);
      const byKeys = (n: number) => monitor.seen.filter((args) => String(args[2]) === String(n));
      // claims of 10, 10, 5 and 0 runs: once the first said there was more, two claims wait at
      // Redis before each batch's hooks run (the 2nd and 3rd were claimed when the first hook
      // ran), so the 4th (empty: the 3rd said there was no more) carries the 1st's answers, and
      // the answers of the 2nd and 3rd go alone in one settle call
      expect(result.expired).toBe(25);
      expect(claimedDuringFirstHook).toBe(25);
      expect(byKeys(SCRIPTS.sweep.numberOfKeys).length).toBe(4);
      const sweepArgs = byKeys(SCRIPTS.sweep.numberOfKeys).map(
        (args) => args.length - 3 - SCRIPTS.sweep.numberOfKeys - 8,
      );
      expect(sweepArgs).toEqual([0, 0, 0, 20]);
      const settleArgs = byKeys(SCRIPTS.settle.numberOfKeys).map(
        (args) => args.length - 3 - SCRIPTS.settle.numberOfKeys - 3,
      );
      expect(settleArgs).toEqual([30]);
    } finally {
      monitor.stop();
    }
    expect(reported.sort()).toEqual(Array.from({ length: 25 }, (_, i) => `r${i}`).sort());
    // every report acknowledged: nothing is handed out again, the outbox is empty
    expect(await h.client.hlen(keys.expired)).toBe(0);
    await sleep(250);
    const again = await store.sweep();
    expect(again.expired + again.redelivered).toBe(0);
    await store.close();
  });

  it('another instance takes over when a sweeper dies holding the lock', async () => {
    const reports: string[] = [];
    const store = h.store({
      leaseMs: 100,
      sweeper: { lockMs: 300 },
      onExpired: (run) => void reports.push(run.id),
    });
    await store.enqueue(scopeA, { id: 'stuck' });
    // a sweeper that took the lock and died: its token is not ours, it just expires
    await h.client.set(`${store.prefix}:sweeper:lock`, 'dead-sweeper', 'PX', 300, 'NX');
    await sleep(150);
    expect(await store.sweep()).toMatchObject({ ran: false, expired: 0 });
    expect(reports).toEqual([]);
    await sleep(250);
    expect(await store.sweep()).toMatchObject({ ran: true, expired: 1 });
    expect(reports).toEqual(['stuck']);
    // the lock is released by its owner after the pass
    expect(await h.client.exists(`${store.prefix}:sweeper:lock`)).toBe(0);
  });

  it('a report whose hook failed (or whose sweeper died before acknowledging) is handed out again', async () => {
    let fail = true;
    const delivered: string[] = [];
    const warnings: string[] = [];
    const store = h.store({
      leaseMs: 100,
      sweeper: { reclaimMs: 1_500 },
      logger: { warn: (_o, m) => void warnings.push(m) },
      onExpired: (run) => {
        if (fail) throw new Error('database down');
        delivered.push(run.id);
      },
    });
    await store.enqueue(scopeA, { id: 'a' });
    await store.enqueue(scopeA, { id: 'b' });
    await sleep(150);
    expect(await store.sweep()).toMatchObject({ expired: 2, failedReports: 2 });
    expect(warnings.some((w) => w.includes('onExpired hook threw'))).toBe(true);
    expect(await store.stats(scopeA)).toMatchObject({ total: 0, pendingExpiredReports: 2 });
    // not yet reclaimable
    expect(await store.sweep()).toMatchObject({ expired: 0, redelivered: 0 });
    fail = false;
    await sleep(1_600);
    expect(await store.sweep()).toMatchObject({ expired: 0, redelivered: 2, failedReports: 0 });
    expect(delivered.sort()).toEqual(['a', 'b']);
    expect((await store.stats(scopeA)).pendingExpiredReports).toBe(0);
    expect(await store.sweep()).toMatchObject({ expired: 0, redelivered: 0 });
  });

  it('startSweeper sweeps on a timer and stops on close', async () => {
    const reports: string[] = [];
    const store = h.store({ leaseMs: 100, onExpired: (run) => void reports.push(run.id) });
    store.startSweeper({ intervalMs: 50 });
    expect(() => store.startSweeper()).toThrow(/already running/);
    await store.enqueue(scopeA, { id: 'timer' });
    for (let i = 0; i < 100 && reports.length === 0; i++) await sleep(50);
    expect(reports).toEqual(['timer']);
    await store.close();
    await expect(store.sweep()).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });
  });

  it('sweeps 100k lapsed runs in bounded batches (longest script printed)', async () => {
    const server = await startRedisServer();
    const client = new Redis(server.url, { commandTimeout: 30_000 });
    try {
      const reported = { n: 0 };
      const store = createActiveRunStore({
        redis: client,
        prefix: 'bulk',
        leaseMs: 3_000,
        publishEvents: false,
        onExpired: () => {
          reported.n++;
        },
      });
      const scope = { workspaceId: 'big', projectId: 'one' };
      const total = 100_000;
      const t0 = performance.now();
      for (let i = 0; i < total; i += 2_000) {
        await Promise.all(
          Array.from({ length: 2_000 }, (_, j) =>
            store.enqueue(scope, { id: `run-${i + j}`, source: j % 2 ? 'api' : undefined }),
          ),
        );
      }
      const fillMs = performance.now() - t0;
      const lapseAt = Date.now() + 3_100;
      await sleep(Math.max(0, lapseAt - Date.now()));
      // log only calls over 100 µs: with 0, Redis also logs every command inside each script
      await client.config('SET', 'slowlog-log-slower-than', '100');
      await client.config('SET', 'slowlog-max-len', '100000');
      await client.slowlog('RESET');
      const result = await store.sweep();
      const slowlog = (await client.slowlog('GET', 100_000)) as [
        number,
        number,
        number,
        string[],
      ][];
      const sweepCalls = slowlog.filter(
        (e) =>
          String(e[3][0]).toLowerCase().startsWith('eval') &&
          String(e[3][2]) === String(SCRIPTS.sweep.numberOfKeys),
      );
      const longestUs = Math.max(...sweepCalls.map((e) => e[2]));
      console.log(
        `[sweeper] 100k lapsed runs: fill ${fillMs.toFixed(0)} ms, sweep ${result.durationMs.toFixed(0)} ms in ${sweepCalls.length} script calls over 100 µs (default batch size), longest script ${(longestUs / 1000).toFixed(2)} ms (SLOWLOG), longest round trip ${result.longestCallMs.toFixed(2)} ms`,
      );
      expect(sweepCalls.length).toBeGreaterThan(0);
      expect(result.expired).toBe(total);
      expect(reported.n).toBe(total);
      expect(result.longestCallMs).toBeGreaterThan(0);
      expect(await client.exists(scopeKeys('bulk', parseScope(scope)).runs)).toBe(0);
      await store.close();
    } finally {
      await client.quit();
      await server.stop();
    }
  }, 180_000);
});

describe('sweeper: one pass at a time, each report once, whatever the hooks take', () => {
  it('slow hooks keep the lock: a second instance sweeping meanwhile reports nothing twice', async () => {
    const prefix = h.track(`test:slow-hooks:${Date.now()}`);
    const calls: string[] = [];
    const options = {
      redis: h.client,
      prefix,
      leaseMs: 100,
      sweeper: { lockMs: 1_000, reclaimMs: 2_000 },
      onExpired: async (run: ActiveRun) => {
        calls.push(run.id);
        await sleep(500);
      },
    };
    const first = createActiveRunStore(options);
    const second = createActiveRunStore(options);
    try {
      for (let i = 0; i < 8; i++) await first.enqueue(scopeA, { id: `slow-${i}` });
      await sleep(150);
      const pass = first.sweep();
      await sleep(2_500);
      // the first pass is still calling hooks (8 x 500 ms): its lock is held and renewed
      expect(await second.sweep()).toMatchObject({ ran: false, expired: 0, redelivered: 0 });
      expect(await pass).toMatchObject({ ran: true, expired: 8, redelivered: 0 });
      expect(await second.sweep()).toMatchObject({ ran: true, expired: 0, redelivered: 0 });
      expect(calls.sort()).toEqual(Array.from({ length: 8 }, (_, i) => `slow-${i}`).sort());
    } finally {
      await first.close();
      await second.close();
    }
  }, 20_000);

  it("a sweeper that lost its claim does not acknowledge it: the new owner's failure is retried", async () => {
    const prefix = h.track(`test:lost-claim:${Date.now()}`);
    const lockKey = `${prefix}:sweeper:lock`;
    const calls: string[] = [];
    let firstHookRunning: () => void = () => {};
    const firstHookStarted = new Promise<void>((resolve) => {
      firstHookRunning = resolve;
    });
    let releaseFirst: () => void = () => {};
    const firstMayFinish = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const base = {
      redis: h.client,
      prefix,
      leaseMs: 100,
      sweeper: { lockMs: 300, reclaimMs: 500 },
    };
    const first = createActiveRunStore({
      ...base,
      onExpired: async (run) => {
        calls.push(`first:${run.id}`);
        firstHookRunning();
        await firstMayFinish;
      },
    });
    let secondFails = true;
    const second = createActiveRunStore({
      ...base,
      onExpired: (run) => {
        calls.push(`second:${run.id}`);
        if (secondFails) throw new Error('database down');
      },
    });
    try {
      await first.enqueue(scopeA, { id: 'claimed' });
      await sleep(150);
      const pass = first.sweep();
      await firstHookStarted;
      // the first sweeper stalls (a GC pause, a frozen VM): its lock lapses and another takes over
      await h.client.del(lockKey);
      await sleep(600);
      expect(await second.sweep()).toMatchObject({ ran: true, redelivered: 1, failedReports: 1 });
      releaseFirst();
      await pass;
      // the report is the second sweeper's now, and its hook failed: it must still be pending
      expect((await first.stats(scopeA)).pendingExpiredReports).toBe(1);
      secondFails = false;
      await sleep(600);
      expect(await second.sweep()).toMatchObject({ ran: true, redelivered: 1, failedReports: 0 });
      expect((await first.stats(scopeA)).pendingExpiredReports).toBe(0);
      expect(calls).toEqual(['first:claimed', 'second:claimed', 'second:claimed']);
    } finally {
      releaseFirst();
      await first.close();
      await second.close();
    }
  }, 20_000);

  it("a report whose hook failed is handed out again even after the scope's keys expired", async () => {
    let fail = true;
    const delivered: string[] = [];
    const store = h.store({
      leaseMs: 100,
      sweeper: { reclaimMs: 500 },
      onExpired: (run) => {
        if (fail) throw new Error('database down');
        delivered.push(run.id);
      },
    });
    await store.enqueue(scopeA, { id: 'kept' });
    await sleep(150);
    expect(await store.sweep()).toMatchObject({ expired: 1, failedReports: 1 });
    const keys = scopeKeys(store.prefix, parseScope(scopeA));
    const outboxExpireAt = await h.client.pexpiretime(keys.expired);
    expect(outboxExpireAt).toBeGreaterThan(0);
    // Time passes: every key of the prefix due to expire before the outbox is gone (the scope's
    // keys live one lease plus a minute of grace; the outbox a day).
    const gone = await expireKeysBefore(store.prefix, outboxExpireAt);
    expect(gone).toContain(keys.meta);
    fail = false;
    await sleep(600);
    expect(await store.sweep()).toMatchObject({ redelivered: 1, failedReports: 0 });
    expect(delivered).toEqual(['kept']);
    expect((await store.stats(scopeA)).pendingExpiredReports).toBe(0);
  });
});

describe('stats and size warnings', () => {
  it('stats reports counts, lapsed-but-unswept runs, oldest ages and memory', async () => {
    const store = h.store({ leaseMs: 60_000 });
    const [seconds] = await h.client.time();
    const now = Number(seconds) * 1000;
    await store.enqueue(scopeA, { id: 'q-old', queuedAt: now - 50_000, source: 'api' });
    await store.enqueue(scopeA, { id: 'q-new', source: 'api' });
    await store.enqueue(scopeA, { id: 'r', queuedAt: now - 90_000 });
    await store.start(scopeA, 'r', { startedAt: now - 20_000 });
    await store.enqueue(scopeA, { id: 'lapsing', leaseMs: 100 });
    await sleep(150);
    const stats = await store.stats(scopeA, { memory: true });
    expect(stats).toMatchObject({
      total: 3,
      byStatus: { queued: 2, running: 1 },
      bySource: { api: 2 },
      lapsed: 1,
      pendingExpiredReports: 0,
    });
    expect(stats.oldestQueuedAgeMs).toBeGreaterThanOrEqual(49_000);
    expect(stats.oldestQueuedAgeMs).toBeLessThan(70_000);
    expect(stats.longestRunningMs).toBeGreaterThanOrEqual(19_000);
    expect(stats.longestRunningMs).toBeLessThan(40_000);
    expect(stats.memoryBytes).toBeGreaterThan(0);
    const empty = await store.stats(scopeB);
    expect(empty).toMatchObject({
      total: 0,
      lapsed: 0,
      oldestQueuedAgeMs: null,
      longestRunningMs: null,
    });
    expect(empty.memoryBytes).toBeUndefined();
  });

  it('warns once when a scope crosses warnScopeSize, and again after it drops and crosses again', async () => {
    const warnings: Record<string, unknown>[] = [];
    const store = h.store({ warnScopeSize: 3, logger: { warn: (o) => void warnings.push(o) } });
    for (let i = 0; i < 6; i++) await store.enqueue(scopeA, { id: `r${i}` });
    await store.enqueue(scopeA, { id: 'r5' }); // idempotent re-send: no new warning
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ runs: 4, threshold: 3 });
    for (let i = 0; i < 4; i++) await store.end(scopeA, `r${i}`);
    for (let i = 10; i < 13; i++) await store.enqueue(scopeA, { id: `r${i}` });
    expect(warnings).toHaveLength(2);
  });
});

describe('registry layout', () => {
  it('every registry key hashes to the slot of the scopes it lists', async () => {
    const store = h.store();
    await store.enqueue(scopeA, { id: 'x' });
    const keys = scopeKeys(store.prefix, parseScope(scopeA));
    const { default: slotOf } = await import('cluster-key-slot');
    expect(keys.registry).toBe(registryKey(store.prefix, slotOf(keys.runs)));
    expect(await h.client.zrange(keys.registry, '0', '-1')).toEqual([keys.tag]);
  });
});
