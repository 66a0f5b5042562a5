import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, startRedisServer, uniquePrefix } from '@active-runs/test-utils';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { ActiveRun, ActiveRunStore, ActiveRunStoreOptions } from '../src/index.js';
import { createActiveRunStore, encodeLegacyRecord, isActiveRunsError } from '../src/index.js';
import { storeCaller } from '../src/store.js';
import { contentsAll, dumpAll } from './dump.js';
import { expectFailure } from './expect-failure.js';
import { persistent, sleep, until, useStoreHarness } from './harness.js';

/*
 * Rollout mode under faults, on throwaway redis-servers (standalone project only): a rollout call
 * is several Redis calls (the new layout, the legacy mirror, tombstones), and it keeps what a
 * store call promises: REDIS_UNAVAILABLE = applied to neither layout, now or after Redis comes
 * back; one deadline for the whole call; close() settles it; end and the sweeper work on a full
 * Redis.
 */

const h = useStoreHarness();
const scope = { workspaceId: 'w1', projectId: 'p1' };
const T = 300;
/** Scheduling slack on a shared 2-core machine (the bound itself is commandTimeout + 100 ms). */
const SLACK_MS = 250;

/** A rollout store on `url`; its legacy keys live under its prefix (so `dumpAll` sees them). */
function rollout(
  redis: Redis | string,
  options: Partial<ActiveRunStoreOptions> & { encodeHook?: () => void } = {},
) {
  const prefix = uniquePrefix('rollout-faults');
  const keyPrefix = `${prefix}:old:`;
  const { encodeHook, ...rest } = options;
  const store: ActiveRunStore = createActiveRunStore({
    redis,
    prefix,
    commandTimeoutMs: T,
    ...rest,
    legacy: {
      keyPrefix,
      encode: (run: ActiveRun) => {
        encodeHook?.();
        return encodeLegacyRecord(run);
      },
    },
  });
  const legacyKey = `${keyPrefix}runs:active:${scope.workspaceId}:${scope.projectId}`;
  return { store, prefix, legacyKey };
}

/** A legacy record in the original shape (a run enqueued before the rollout). */
function oldRecord(id: string, queuedAt: number, startedAt?: number): string {
  return JSON.stringify({
    uuid: id,
    queuedAt: new Date(queuedAt).toISOString(),
    ...(startedAt && { startedAt: new Date(startedAt).toISOString() }),
    caption: 'old',
  });
}

/** Blocks the event loop (a slow `encode`): the call's first step used part of its deadline. */
function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe.skipIf(h.topology === 'cluster')('rollout mode under faults (throwaway servers)', () => {
  it('a call reported REDIS_UNAVAILABLE while Redis is down is applied to neither layout after it comes back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'active-runs-rollout-ghost-'));
    let server = await persistent(dir);
    const port = server.port;
    const client = new Redis(server.url, { commandTimeout: T });
    client.on('error', () => {});
    const { store, prefix, legacyKey } = rollout(client);
    let admin = connect(server.url);
    try {
      await store.enqueue(scope, { id: 'queued', caption: 'before' });
      await store.enqueue(scope, { id: 'running', caption: 'before' });
      await store.start(scope, 'running');
      await store.enqueue(scope, { id: 'ended', caption: 'before' });
      await store.end(scope, 'ended'); // leaves a tombstone: an enqueue of its id clears it
      const now = Date.now();
      await admin.hset(legacyKey, 'old', oldRecord('old', now - 60_000, now - 30_000));
      const before = await contentsAll(admin, prefix);
      expect(before.map(([key]) => key.slice(prefix.length))).toEqual(
        expect.arrayContaining([':old:runs:active:w1:p1', ':{w1:p1}:ended']),
      );
      admin.disconnect();
      await server.kill('SIGKILL');
      await until('the client noticed', () => client.status !== 'ready');
      const calls: [string, () => Promise<unknown>][] = [
        ['enqueue', () => store.enqueue(scope, { id: 'ghost' })],
        ['enqueue', () => store.enqueue(scope, { id: 'ended' })],
        ['start', () => store.start(scope, 'queued')],
        ['start', () => store.start(scope, 'old')], // copy on write of a legacy-only run
        ['progress', () => store.progress(scope, 'running', { caption: 'ghost' })],
        ['heartbeat', () => store.heartbeat(scope, 'running', { leaseMs: 60_000 })],
        ['end', () => store.end(scope, 'running')],
        ['end', () => store.end(scope, 'old')],
      ];
      for (const [name, call] of calls) {
        const t0 = performance.now();
        const error = await expectFailure(call, 'REDIS_UNAVAILABLE', name, 'never will be');
        expect(performance.now() - t0, error.message).toBeLessThan(T + SLACK_MS);
      }
      server = await persistent(dir, port);
      admin = connect(server.url);
      await until('the client reconnected', () => client.status === 'ready');
      // ioredis flushes its offline queue on ready: give anything it held time to land
      await sleep(300);
      // the new layout, the legacy hash, the tombstones and the migration state, expiries included
      expect(await contentsAll(admin, prefix)).toEqual(before);
      expect(await store.get(scope, 'running')).toMatchObject({ caption: 'before' });
      expect((await store.list(scope)).items.map((run) => run.id)).toEqual([
        'running',
        'old',
        'queued',
      ]);
    } finally {
      await store.close();
      client.disconnect();
      admin.disconnect();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Redis dying between the two layouts: TIMEOUT, not REDIS_UNAVAILABLE; the legacy step never lands later, and a retry brings both in step', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'active-runs-rollout-between-'));
    let server = await persistent(dir);
    const port = server.port;
    const client = new Redis(server.url, { commandTimeout: T });
    client.on('error', () => {});
    let killNow = false;
    const { store, legacyKey } = rollout(client, {
      // called between the new layout's write (acknowledged) and the legacy one
      encodeHook: () => {
        if (!killNow) return;
        killNow = false;
        process.kill(server.pid, 'SIGKILL');
      },
    });
    let admin: Redis | undefined;
    try {
      await store.enqueue(scope, { id: 'warm-up' });
      killNow = true;
      const t0 = performance.now();
      await expectFailure(
        () => store.enqueue(scope, { id: 'between', caption: 'c' }),
        'TIMEOUT',
        'may or may not',
        'Retry',
      );
      expect(performance.now() - t0).toBeLessThan(T + SLACK_MS);
      await server.kill('SIGKILL');
      server = await persistent(dir, port);
      admin = connect(server.url);
      await until('the client reconnected', () => client.status === 'ready');
      await sleep(300);
      // acknowledged by Redis before it died: in the new layout; its legacy step, answered
      // (TIMEOUT) before Redis came back, never reached it
      expect(await store.get(scope, 'between')).toMatchObject({ caption: 'c' });
      expect(await admin.hexists(legacyKey, 'between')).toBe(0);
      // a retry returns the run (same payload) and mirrors it
      expect(await store.enqueue(scope, { id: 'between', caption: 'c' })).toMatchObject({
        caption: 'c',
      });
      expect(await admin.hexists(legacyKey, 'between')).toBe(1);
    } finally {
      await store.close();
      client.disconnect();
      admin?.disconnect();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('one deadline for the whole call: a legacy step after a slow first step ends at commandTimeout from the start', async () => {
    const server = await startRedisServer();
    let stall = false;
    const { store } = rollout(server.url, {
      commandTimeoutMs: 600,
      encodeHook: () => {
        if (!stall) return;
        stall = false;
        block(400);
        process.kill(server.pid, 'SIGSTOP');
      },
    });
    try {
      await store.enqueue(scope, { id: 'a' });
      stall = true;
      const t0 = performance.now();
      // the new layout's step took 400 ms, the legacy step is sent to a stalled server: the
      // call ends at 600 ms, not 400 + 600 (a deadline per Redis call)
      await expectFailure(() => store.start(scope, 'a'), 'TIMEOUT', 'start');
      const ms = performance.now() - t0;
      console.log(
        `[rollout-faults] a start stalled in its legacy step settled after ${ms.toFixed(0)} ms (commandTimeout 600 ms)`,
      );
      expect(ms).toBeGreaterThanOrEqual(550);
      expect(ms).toBeLessThan(600 + SLACK_MS);
    } finally {
      process.kill(server.pid, 'SIGCONT');
      await store.close();
      await server.stop();
    }
  });

  it('close() with rollout calls in flight on a stalled Redis: bounded, every call typed, nothing left in flight', async () => {
    const server = await startRedisServer();
    const { store, legacyKey } = rollout(server.url, {
      commandTimeoutMs: 10_000,
      closeTimeoutMs: 600,
    });
    const caller = storeCaller(store);
    expect(caller).toBeDefined();
    try {
      await store.enqueue(scope, { id: 'live' });
      await store.start(scope, 'live');
      process.kill(server.pid, 'SIGSTOP');
      const kinds = [
        (i: number) => store.enqueue(scope, { id: `r${i}` }),
        () => store.progress(scope, 'live', { caption: 'x' }),
        () => store.end(scope, 'live'),
        () => store.list(scope),
        () => store.get(scope, 'live'),
      ];
      const outcomes = Array.from({ length: 100 }, (_, i) =>
        kinds[i % kinds.length]!(i).then(
          () => 'ok',
          (error: unknown) => (isActiveRunsError(error) ? error.code : 'untyped'),
        ),
      );
      await sleep(50);
      // the rollout calls' Redis calls are the store's own caller's: close() settles them
      expect(caller!.pending).toBeGreaterThanOrEqual(100);
      const t0 = performance.now();
      await store.close();
      const closeMs = performance.now() - t0;
      const byCode: Record<string, number> = {};
      for (const code of await Promise.all(outcomes)) byCode[code] = (byCode[code] ?? 0) + 1;
      console.log(
        `[rollout-faults] close() took ${closeMs.toFixed(0)} ms; calls: ${JSON.stringify(byCode)}`,
      );
      expect(closeMs).toBeLessThan(600 + 300);
      expect(byCode).toEqual({ TIMEOUT: 100 });
      expect(caller!.pending).toBe(0);
      await expectFailure(
        () => store.enqueue(scope, { id: 'late' }),
        'REDIS_UNAVAILABLE',
        'closed',
      );
    } finally {
      process.kill(server.pid, 'SIGCONT');
    }
    const admin = connect(server.url);
    try {
      await sleep(100);
      // nothing was sent after close(): no mirror of a call settled by it
      expect(await admin.hlen(legacyKey)).toBe(1);
    } finally {
      admin.disconnect();
      await server.stop();
    }
  });

  it('close() lets the rollout calls in progress finish both layouts while Redis answers', async () => {
    const server = await startRedisServer();
    const admin = connect(server.url);
    const { store, legacyKey } = rollout(server.url);
    try {
      await store.enqueue(scope, { id: 'warm-up' });
      const calls = Array.from({ length: 50 }, (_, i) => store.enqueue(scope, { id: `r${i}` }));
      await store.close();
      expect(await Promise.all(calls)).toHaveLength(50);
      expect(await admin.hlen(legacyKey)).toBe(51);
    } finally {
      admin.disconnect();
      await server.stop();
    }
  });

  it('storeCaller(rolloutStore) is the store proper’s caller: the same deadline, settled by close()', async () => {
    const server = await startRedisServer();
    const { store } = rollout(server.url);
    const caller = storeCaller(store);
    try {
      expect(caller).toBeDefined();
      expect(caller!.timeoutMs).toBe(T);
      expect(await caller!.command('ping', [], 'ping')).toBe('PONG');
      process.kill(server.pid, 'SIGSTOP');
      const pending = caller!.command('hset', ['k', 'f', 'v'], 'write', { isWrite: true });
      const settled = pending.catch((error: unknown) => error);
      await store.close();
      expect(await settled).toMatchObject({ code: 'TIMEOUT' });
      expect(caller!.pending).toBe(0);
    } finally {
      process.kill(server.pid, 'SIGCONT');
      await server.stop();
    }
  });

  it('over maxmemory (noeviction): end and the sweeper work in both layouts; other writes change nothing', async () => {
    const server = await startRedisServer({ args: ['--maxmemory-policy', 'noeviction'] });
    const admin = connect(server.url);
    const expired: string[] = [];
    const { store, prefix, legacyKey } = rollout(server.url, {
      commandTimeoutMs: 2_000,
      onExpired: (run) => {
        expired.push(run.id);
      },
    });
    try {
      // every script runs once first (Redis keeps each script it ran)
      await store.enqueue(scope, { id: 'warm-up', leaseMs: 100 });
      await store.start(scope, 'warm-up');
      await store.progress(scope, 'warm-up', { caption: 'c' });
      await store.end(scope, 'warm-up');
      await store.enqueue(scope, { id: 'lapsing', leaseMs: 300 });
      await store.enqueue(scope, { id: 'queued' });
      await store.enqueue(scope, { id: 'running' });
      await store.start(scope, 'running');
      const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
      await admin.config('SET', 'maxmemory', String(used + 256 * 1024));
      const ballast = 'x'.repeat(8_000);
      for (let i = 0; ; i++) {
        expect(i).toBeLessThan(1_000);
        const full = await admin.set(`${prefix}:ballast:${i}`, ballast).then(
          () => false,
          (error: Error) => error.message.startsWith('OOM'),
        );
        if (full) break;
      }
      await sleep(350); // 'lapsing' lapses
      const before = await dumpAll(admin, prefix);
      for (const [name, call] of [
        ['enqueue', () => store.enqueue(scope, { id: 'one-more' })],
        ['enqueue', () => store.enqueue(scope, { id: 'warm-up' })], // would clear its tombstone
        ['start', () => store.start(scope, 'queued')],
        ['progress', () => store.progress(scope, 'running', { caption: 'more' })],
      ] as const) {
        await expectFailure(call, 'REDIS_UNAVAILABLE', name, 'out of memory');
      }
      expect(await dumpAll(admin, prefix)).toEqual(before);
      // end: the tombstone, the new layout and the legacy record
      expect(await store.end(scope, 'running')).toMatchObject({ id: 'running' });
      expect(await admin.hexists(legacyKey, 'running')).toBe(0);
      // the sweeper's hook removes the expired run's legacy record too
      expect(await store.sweep()).toMatchObject({ expired: 1, failedReports: 0 });
      expect(expired).toEqual(['lapsing']);
      expect(await admin.hexists(legacyKey, 'lapsing')).toBe(0);
      expect((await store.list(scope)).items.map((run) => run.id)).toEqual(['queued']);
    } finally {
      await store.close();
      admin.disconnect();
      await server.stop();
    }
  });
});
