import { connect, startRedisServer, uniquePrefix } from '@active-runs/test-utils';
import { describe, expect, it } from 'vitest';
import type { ExpiredReport } from '../src/index.js';
import { createActiveRunStore, isActiveRunsError } from '../src/index.js';
import { sleep, useStoreHarness } from './harness.js';

/*
 * Hooks that never settle and close() while Redis hangs: bounded by hookTimeoutMs and
 * closeTimeoutMs, every call settled typed, reports kept for later. (The chaos project does the
 * same with 1,000 calls in a separate process that must exit by itself.)
 */

const h = useStoreHarness();
const scope = { workspaceId: 'w1', projectId: 'p1' };

describe('hooks that hang', () => {
  it('a hook past hookTimeoutMs counts as failed: its signal aborts, the report stays and is handed out again', async () => {
    const reports: ExpiredReport[] = [];
    let hang = true;
    const store = h.store({
      sweeper: { hookTimeoutMs: 200, reclaimMs: 300 },
      onExpired: async (_run, _scope, report) => {
        reports.push(report);
        if (hang) await new Promise(() => {});
      },
    });
    await store.enqueue(scope, { id: 'a', leaseMs: 100 });
    await sleep(150);
    const t0 = performance.now();
    expect(await store.sweep()).toMatchObject({
      ran: true,
      expired: 1,
      failedReports: 1,
      hookTimeouts: 1,
    });
    expect(performance.now() - t0).toBeLessThan(200 + 1_000);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.signal.aborted).toBe(true);
    expect(String(reports[0]!.signal.reason)).toContain('hookTimeoutMs');
    expect((await store.stats(scope)).pendingExpiredReports).toBe(1);

    hang = false;
    await sleep(350);
    expect(await store.sweep()).toMatchObject({ redelivered: 1, failedReports: 0 });
    expect(reports.map((r) => [r.attempt, r.redelivery, r.signal.aborted])).toEqual([
      [1, false, true],
      [2, true, false],
    ]);
    expect(reports[1]!.claimToken).toBe(reports[0]!.claimToken);
    expect((await store.stats(scope)).pendingExpiredReports).toBe(0);
  });
});

describe.skipIf(h.topology === 'cluster')('close() is bounded (throwaway server)', () => {
  it('with a hung hook and calls in flight on a stalled Redis: resolves within closeTimeoutMs, settles every call typed, keeps the report', async () => {
    const server = await startRedisServer();
    const prefix = uniquePrefix('close');
    let hookSignal: AbortSignal | undefined;
    const store = createActiveRunStore({
      redis: server.url,
      prefix,
      commandTimeoutMs: 10_000,
      closeTimeoutMs: 500,
      sweeper: { hookTimeoutMs: 60_000 },
      onExpired: async (_run, _scope, report) => {
        hookSignal = report.signal;
        await new Promise(() => {});
      },
    });
    try {
      await store.enqueue(scope, { id: 'lapsing', leaseMs: 100 });
      await store.enqueue(scope, { id: 'live' });
      await sleep(150);
      store.startSweeper({ intervalMs: 60_000 });
      for (let i = 0; i < 200 && !hookSignal; i++) await sleep(10);
      expect(hookSignal).toBeDefined();

      process.kill(server.pid, 'SIGSTOP');
      const calls = Array.from({ length: 100 }, (_, i) =>
        i % 2 ? store.enqueue(scope, { id: `r${i}` }) : store.get(scope, 'live'),
      );
      const outcomes = calls.map((call) =>
        call.then(
          () => 'ok',
          (error: unknown) => (isActiveRunsError(error) ? error.code : 'untyped'),
        ),
      );
      await sleep(50);
      const t0 = performance.now();
      await store.close();
      const closeMs = performance.now() - t0;
      const codes = await Promise.all(outcomes);
      const byCode: Record<string, number> = {};
      for (const code of codes) byCode[code] = (byCode[code] ?? 0) + 1;
      console.log(
        `[shutdown] close() took ${closeMs.toFixed(0)} ms; calls: ${JSON.stringify(byCode)}`,
      );
      expect(closeMs).toBeLessThan(500 + 300);
      // written to the stalled server's socket: sent, no answer
      expect(byCode).toEqual({ TIMEOUT: 100 });
      expect(hookSignal?.aborted).toBe(true);
      // its socket is destroyed, not left half-closed to a server that never answers
      for (let i = 0; i < 20 && store.redis.status !== 'end'; i++) await sleep(10);
      expect(store.redis.status).toBe('end');
    } finally {
      process.kill(server.pid, 'SIGCONT');
    }
    const admin = connect(server.url);
    const reader = createActiveRunStore({ redis: admin, prefix });
    try {
      // the hook never acknowledged its report: it waits in the outbox for the next sweeper
      expect((await reader.stats(scope)).pendingExpiredReports).toBe(1);
    } finally {
      await reader.close();
      admin.disconnect();
      await server.stop();
    }
  });

  it('calls not sent when close() gives up are REDIS_UNAVAILABLE and are never sent', async () => {
    const server = await startRedisServer();
    const prefix = uniquePrefix('close-unsent');
    const port = server.port;
    const store = createActiveRunStore({
      redis: server.url,
      prefix,
      commandTimeoutMs: 10_000,
      closeTimeoutMs: 300,
    });
    (store.redis as unknown as { on(e: string, f: () => void): void }).on('error', () => {});
    await store.enqueue(scope, { id: 'before' });
    await server.kill('SIGKILL');
    for (let i = 0; i < 200 && store.redis.status === 'ready'; i++) await sleep(10);
    const pending = store.enqueue(scope, { id: 'never' }).catch((error: unknown) => error);
    await store.close();
    const error = await pending;
    expect(isActiveRunsError(error, 'REDIS_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain('never will be');
    const again = await startRedisServer({ port });
    const admin = connect(again.url);
    try {
      await sleep(300);
      expect(await admin.exists(`${prefix}:{w1:p1}:runs`)).toBe(0);
    } finally {
      admin.disconnect();
      await again.stop();
    }
  });
});
