import { connect, startRedisServer, uniquePrefix } from '@active-runs/test-utils';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { ActiveRunStore } from '../src/index.js';
import { createActiveRunStore } from '../src/index.js';
import { dumpAll } from './dump.js';
import { codeOf, expectFailure } from './expect-failure.js';
import { sleep, useStoreHarness } from './harness.js';

const h = useStoreHarness();
const scope = { workspaceId: 'w1', projectId: 'p1' };

async function usedMemory(client: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
}

/**
 * Enqueues runs of 8 KB (ids `fill-<n>` from `from`) until Redis refuses one for lack of memory;
 * returns the next free n.
 */
async function fillUp(store: ActiveRunStore, from: number): Promise<number> {
  const data = { blob: 'x'.repeat(8_000) };
  for (let i = from; i < from + 1_000; i++) {
    const code = await codeOf(store.enqueue(scope, { id: `fill-${i}`, data })).catch(() => 'ok');
    if (code === 'REDIS_UNAVAILABLE') return i;
  }
  throw new Error('Redis never filled up');
}

// Each test starts its own redis-server: it runs once, in the standalone project.
describe.skipIf(h.topology === 'cluster')('Redis refusing calls (throwaway servers)', () => {
  it('BUSY (another script runs too long) is REDIS_UNAVAILABLE, and nothing was applied', async () => {
    const server = await startRedisServer({ args: ['--busy-reply-threshold', '50'] });
    const busy = connect(server.url);
    const admin = connect(server.url);
    const store = createActiveRunStore({ redis: server.url, prefix: uniquePrefix('busy') });
    try {
      await store.enqueue(scope, { id: 'before' });
      const stuck = busy.eval('local i = 0 while true do i = i + 1 end', 0).catch((e) => e);
      await new Promise((r) => setTimeout(r, 150));
      const write = await expectFailure(
        () => store.enqueue(scope, { id: 'during' }),
        'REDIS_UNAVAILABLE',
        'enqueue',
        'BUSY',
      );
      expect((write.cause as Error).message).toMatch(/^BUSY/);
      await expectFailure(() => store.get(scope, 'before'), 'REDIS_UNAVAILABLE', 'get', 'BUSY');
      await admin.call('SCRIPT', 'KILL');
      expect(await stuck).toBeInstanceOf(Error);
      expect(await store.get(scope, 'during')).toBeNull();
      expect((await store.counts(scope)).total).toBe(1);
    } finally {
      await store.close();
      busy.disconnect();
      admin.disconnect();
      await server.stop();
    }
  });

  it('over maxmemory (noeviction): end, sweep and its lock free memory; other writes change nothing', async () => {
    const server = await startRedisServer({ args: ['--maxmemory-policy', 'noeviction'] });
    const admin = connect(server.url);
    const reports: string[] = [];
    const prefix = uniquePrefix('oom');
    let slowHooks = false;
    const store = createActiveRunStore({
      redis: server.url,
      prefix,
      // a pass longer than lockMs: the lock must be renewed while Redis is full
      sweeper: { lockMs: 300 },
      onExpired: async (run) => {
        reports.push(run.id);
        if (slowHooks) await sleep(50);
      },
    });
    try {
      // load the scripts first (Redis keeps every script it ran: a first call adds its body)
      await store.enqueue(scope, { id: 'warm-up', leaseMs: 100 });
      await store.enqueue(scope, { id: 'warm-up-end' });
      await store.end(scope, 'warm-up-end');
      await sleep(150);
      expect(await store.sweep()).toMatchObject({ expired: 1 });
      reports.length = 0;
      const data = { blob: 'y'.repeat(8_000) };
      for (let i = 0; i < 10; i++) {
        await store.enqueue(scope, { id: `lapsing-${i}`, data, leaseMs: 300 });
      }
      await store.enqueue(scope, { id: 'queued', source: 'api', data });
      await store.enqueue(scope, { id: 'running', source: 'api', data });
      await store.start(scope, 'running');
      await admin.config('SET', 'maxmemory', String((await usedMemory(admin)) + 512 * 1024));
      const filled = await fillUp(store, 0);
      expect(filled).toBeGreaterThan(0);
      await sleep(350); // the lapsing runs lapse

      // writes that add are refused with REDIS_UNAVAILABLE and change nothing, to the byte
      const before = await dumpAll(admin, prefix);
      const refused: [string, () => Promise<unknown>][] = [
        ['enqueue', () => store.enqueue(scope, { id: 'one-more', data })],
        ['start', () => store.start(scope, 'queued')],
        ['progress', () => store.progress(scope, 'running', { caption: 'more' })],
        ['heartbeat', () => store.heartbeat(scope, 'running')],
      ];
      for (const [name, call] of refused) {
        const error = await expectFailure(call, 'REDIS_UNAVAILABLE', name, 'out of memory');
        expect((error.cause as Error).message).toMatch(/^OOM/);
      }
      expect(await dumpAll(admin, prefix)).toEqual(before);

      // reads work
      expect(await store.get(scope, 'running')).toMatchObject({ status: 'running' });
      expect((await store.list(scope, { limit: 5 })).total).toBe(filled + 2);
      expect(await store.counts(scope)).toMatchObject({ total: filled + 2 });
      expect(await store.stats(scope, { memory: true })).toMatchObject({ lapsed: 10 });

      // a sweep (lock, renewals during slow hooks, claims, settling the reports) works and frees memory
      let used = await usedMemory(admin);
      slowHooks = true;
      expect(await store.sweep()).toMatchObject({
        ran: true,
        expired: 10,
        failedReports: 0,
        lockLost: false,
      });
      expect(reports.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `lapsing-${i}`).sort());
      expect(await usedMemory(admin)).toBeLessThan(used);
      expect(await admin.exists(`${prefix}:sweeper:lock`)).toBe(0);

      // full again: end works and frees memory
      const refilled = await fillUp(store, filled);
      used = await usedMemory(admin);
      expect(await store.end(scope, 'running')).toMatchObject({ id: 'running' });
      expect(await usedMemory(admin)).toBeLessThan(used);

      // writes work again as soon as memory is there
      let ended = 0;
      while (
        (await codeOf(store.enqueue(scope, { id: 'after', data })).catch(() => 'ok')) !== 'ok'
      ) {
        await store.end(scope, `fill-${ended++}`);
        expect(ended).toBeLessThan(refilled);
      }
      expect(await store.get(scope, 'after')).toMatchObject({ id: 'after' });
      for (let i = 0; i < 5; i++) await store.end(scope, `fill-${ended++}`);
      await store.start(scope, 'after');
      await store.heartbeat(scope, 'after');
    } finally {
      await store.close();
      admin.disconnect();
      await server.stop();
    }
  });

  it('Redis memory per run, for sizing maxmemory (printed; the README quotes it)', async () => {
    const server = await startRedisServer();
    const admin = connect(server.url);
    try {
      const perRun: Record<number, number> = {};
      for (const bytes of [0, 800, 16_000]) {
        const store = createActiveRunStore({ redis: admin, prefix: `size${bytes}` });
        const runs = 5_000;
        const m0 = await usedMemory(admin);
        for (let i = 0; i < runs; i += 500) {
          await Promise.all(
            Array.from({ length: 500 }, (_, j) =>
              store.enqueue(scope, {
                id: `3f2a9c1e-0000-4000-8000-${String(i + j).padStart(12, '0')}`,
                source: j % 2 ? 'api' : 'playground',
                caption: 'step 3 of 7',
                data: bytes ? { pad: 'x'.repeat(bytes - 10) } : undefined,
              }),
            ),
          );
        }
        perRun[bytes] = ((await usedMemory(admin)) - m0) / runs;
        await store.close();
      }
      console.log(
        `[memory] Redis memory per run (UUID id, source, caption, 5k runs in one scope): ${Object.entries(
          perRun,
        )
          .map(([bytes, used]) => `data ${bytes} B: ${used.toFixed(0)} B`)
          .join(', ')}`,
      );
      // README (Operations: sizing maxmemory): about 650 B per run plus its data's JSON
      for (const [bytes, used] of Object.entries(perRun)) {
        expect(used, `data ${bytes} B`).toBeGreaterThan(Number(bytes));
        expect(used, `data ${bytes} B`).toBeLessThan(650 * 1.15 + Number(bytes) * 1.05);
      }
    } finally {
      admin.disconnect();
      await server.stop();
    }
  });
});
