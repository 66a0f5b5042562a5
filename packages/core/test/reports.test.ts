import { describe, expect, it } from 'vitest';
import type { ActiveRun, ExpiredReport } from '../src/index.js';
import { scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { sleep, useStoreHarness } from './harness.js';

const h = useStoreHarness();
const scope = { workspaceId: 'w', projectId: 'reports' };

interface Delivery {
  id: string;
  report: ExpiredReport;
}

describe('expired-run reports: attempts, redelivery, dead letters', () => {
  it('the hook gets the attempt, a redelivery flag and a claim token that stays the same', async () => {
    const deliveries: Delivery[] = [];
    let failures = 2;
    const store = h.store({
      leaseMs: 100,
      sweeper: { reclaimMs: 300 },
      onExpired: (run: ActiveRun, _scope, report) => {
        deliveries.push({ id: run.id, report });
        if (failures-- > 0) throw new Error('database down');
      },
    });
    const run = await store.enqueue(scope, { id: 'r1' });
    await sleep(150);
    expect(await store.sweep()).toMatchObject({ expired: 1, failedReports: 1 });
    await sleep(350);
    expect(await store.sweep()).toMatchObject({ redelivered: 1, failedReports: 1 });
    await sleep(350);
    expect(await store.sweep()).toMatchObject({ redelivered: 1, failedReports: 0 });
    expect(deliveries.map((d) => d.report.attempt)).toEqual([1, 2, 3]);
    expect(deliveries.map((d) => d.report.redelivery)).toEqual([false, true, true]);
    const tokens = new Set(deliveries.map((d) => d.report.claimToken));
    expect([...tokens]).toEqual([`w:reports:r1:${run.leaseExpiresAt}`]);
    expect((await store.stats(scope)).pendingExpiredReports).toBe(0);
  });

  it('every failed report is handed out again, however many wait (not only a first page)', async () => {
    let failing = true;
    const delivered = new Map<string, number>();
    const store = h.store({
      leaseMs: 100,
      sweeper: { reclaimMs: 300, batchSize: 50 },
      onExpired: (run) => {
        delivered.set(run.id, (delivered.get(run.id) ?? 0) + 1);
        if (failing) throw new Error('database down');
      },
    });
    for (let i = 0; i < 300; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => store.enqueue(scope, { id: `r${i + j}` })),
      );
    }
    await sleep(150);
    expect(await store.sweep()).toMatchObject({ expired: 300, failedReports: 300 });
    expect((await store.stats(scope)).pendingExpiredReports).toBe(300);
    failing = false;
    await sleep(350);
    expect(await store.sweep()).toMatchObject({ redelivered: 300, failedReports: 0 });
    expect([...delivered.values()].every((n) => n === 2)).toBe(true);
    expect(delivered.size).toBe(300);
    expect((await store.stats(scope)).pendingExpiredReports).toBe(0);
    const keys = scopeKeys(store.prefix, parseScope(scope));
    expect(await h.client.exists(keys.expired, keys.expiredDue)).toBe(0);
  });

  it('a report that keeps failing stops after maxAttempts with a logged dead letter, and does not hold up others', async () => {
    const errors: { object: Record<string, unknown>; message: string }[] = [];
    const calls: string[] = [];
    const store = h.store({
      leaseMs: 100,
      sweeper: { reclaimMs: 200, maxAttempts: 3 },
      logger: { error: (object, message) => void errors.push({ object, message }) },
      onExpired: (run, _scope, report) => {
        calls.push(`${run.id}#${report.attempt}`);
        if (run.id === 'poison') throw new Error('cannot handle this one');
      },
    });
    const poison = await store.enqueue(scope, { id: 'poison', caption: 'bad' });
    await sleep(150);
    for (let pass = 0; pass < 4; pass++) {
      // a healthy run lapses between passes: it is reported at once, every time
      await store.enqueue(scope, { id: `healthy-${pass}`, leaseMs: 100 });
      await sleep(250);
      await store.sweep();
    }
    expect(calls).toEqual([
      'poison#1',
      'healthy-0#1',
      'poison#2',
      'healthy-1#1',
      'poison#3',
      'healthy-2#1',
      'healthy-3#1',
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/dead letter/);
    expect(errors[0]!.object).toMatchObject({
      id: 'poison',
      attempts: 3,
      run: { id: 'poison', caption: 'bad' },
      claimToken: `w:reports:poison:${poison.leaseExpiresAt}`,
    });
    expect((await store.stats(scope)).pendingExpiredReports).toBe(0);
  });

  it('a dead letter left by a sweeper that died on the last attempt is dropped and logged', async () => {
    const errors: string[] = [];
    let calls = 0;
    const store = h.store({
      leaseMs: 100,
      sweeper: { reclaimMs: 200, maxAttempts: 1 },
      logger: { error: (_o, message) => void errors.push(message) },
      onExpired: () => {
        calls++;
      },
    });
    await store.enqueue(scope, { id: 'orphan' });
    await sleep(150);
    // a sweeper claims the report (attempt 1 of 1) and dies before settling it
    const keys = scopeKeys(store.prefix, parseScope(scope));
    const [seconds] = await h.client.time();
    const entry = (await h.client.hget(keys.runs, 'orphan'))!;
    const leaseScore = await h.client.zscore(keys.lease, 'orphan');
    const deadline = Number(leaseScore) % 2 ** 44;
    await h.client.hdel(keys.runs, 'orphan');
    await h.client.zrem(keys.lease, 'orphan');
    await h.client.zrem(keys.index, 'orphan');
    await h.client.hincrby(keys.meta, 'c:queued', -1);
    const report = `orphan:${deadline}`;
    await h.client.hset(keys.expired, report, `dead-sweeper\n1\n${leaseScore}\n${entry}`);
    await h.client.zadd(keys.expiredDue, Number(seconds) * 1000 - 1, report);
    expect(await store.sweep()).toMatchObject({ deadLetters: 1, expired: 0, redelivered: 0 });
    expect(calls).toBe(0);
    expect(errors).toHaveLength(1);
    expect(await h.client.hlen(keys.expired)).toBe(0);
  });
});
