import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { RunChangeEvent, RunEvent } from '../src/index.js';
import { expectFailure } from './expect-failure.js';
import { sleep, useStoreHarness } from './harness.js';

// Runs on both projects (standalone and cluster), as every file of test/.
const h = useStoreHarness();
const scope = { workspaceId: 'once', projectId: 1 };

async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) await sleep(25);
  if (!predicate()) throw new Error(`timed out waiting for ${what}`);
}

describe('enqueue with start: a run that starts at once is one call', () => {
  it('returns the running run, stored, listed and counted as after enqueue + start', async () => {
    const store = h.store({ dataSchema: z.object({ model: z.string() }) });
    const run = await store.enqueue(scope, {
      id: 'a',
      source: 'api',
      caption: 'working',
      data: { model: 'gpt' },
      start: true,
    });
    expect(run).toEqual({
      id: 'a',
      status: 'running',
      queuedAt: run.startedAt,
      startedAt: expect.any(Number),
      source: 'api',
      caption: 'working',
      data: { model: 'gpt' },
      leaseExpiresAt: run.startedAt! + 3 * 3_600_000,
    });
    expect(await store.get(scope, 'a')).toEqual(run);

    // the same run made the two-call way sits beside it with the same shape
    await store.enqueue(scope, {
      id: 'b',
      source: 'api',
      caption: 'working',
      data: { model: 'gpt' },
    });
    const two = await store.start(scope, 'b');
    await store.enqueue(scope, { id: 'c', source: 'web' });
    expect(await store.counts(scope)).toEqual({
      total: 3,
      byStatus: { queued: 1, running: 2 },
      bySource: { api: 2, web: 1 },
    });
    const page = await store.list(scope);
    expect(page.items.map((r) => [r.id, r.status])).toEqual([
      ['b', 'running'],
      ['a', 'running'],
      ['c', 'queued'],
    ]);
    expect((await store.list(scope, { status: 'running' })).items.map((r) => r.id)).toEqual([
      'b',
      'a',
    ]);
    expect((await store.list(scope, { status: 'queued' })).total).toBe(1);
    expect((await store.list(scope, { source: 'api', status: 'running' })).total).toBe(2);
    const { id: _a, queuedAt: _qa, startedAt: _sa, leaseExpiresAt: _la, ...onceShape } = run;
    const { id: _b, queuedAt: _qb, startedAt: _sb, leaseExpiresAt: _lb, ...twoShape } = two;
    expect(onceShape).toEqual(twoShape);

    // and it lives on like any running run
    const progressed = await store.progress(scope, 'a', { caption: 'done soon' });
    expect(progressed).toMatchObject({ status: 'running', startedAt: run.startedAt });
    expect(await store.end(scope, 'a')).toEqual(progressed);
    expect((await store.counts(scope)).byStatus).toEqual({ queued: 1, running: 1 });
  });

  it('takes startedAt and queuedAt, and a lease of its own', async () => {
    const store = h.store();
    const run = await store.enqueue(scope, {
      id: 'a',
      queuedAt: 1_700_000_000_000,
      leaseMs: 60_000,
      start: { startedAt: 1_700_000_001_000 },
    });
    expect(run).toMatchObject({
      status: 'running',
      queuedAt: 1_700_000_000_000,
      startedAt: 1_700_000_001_000,
    });
    expect(run.leaseExpiresAt - Date.now()).toBeGreaterThan(50_000);
    expect(run.leaseExpiresAt - Date.now()).toBeLessThanOrEqual(61_000);
    expect(await store.get(scope, 'a')).toEqual(run);
    // start: false is a plain enqueue
    expect(await store.enqueue(scope, { id: 'b', start: false })).toMatchObject({
      status: 'queued',
      startedAt: null,
    });
  });

  it('is idempotent: a re-sent request returns the same run, a different one fails CONFLICT', async () => {
    const store = h.store();
    const input = { id: 'a', source: 'api', caption: 'c', data: { n: 1 }, start: true };
    const run = await store.enqueue(scope, input);
    await sleep(5);
    expect(await store.enqueue(scope, input)).toEqual(run);
    expect(await store.enqueue(scope, { ...input, start: {} })).toEqual(run);
    // a plain enqueue of the same payload finds it running and returns it, as after a start
    const { start: _, ...plain } = input;
    expect(await store.enqueue(scope, plain)).toEqual(run);
    // still recognised after progress changed its caption and data (the fingerprint)
    const progressed = await store.progress(scope, 'a', { caption: 'later', data: { n: 2 } });
    expect(await store.enqueue(scope, input)).toEqual(progressed);

    await expectFailure(() => store.enqueue(scope, { ...input, data: { n: 3 } }), 'CONFLICT');
    await expectFailure(
      () => store.enqueue(scope, { ...input, start: { startedAt: 1_000 } }),
      'CONFLICT',
      /already running since/,
    );
    // a run enqueued without start is another request: starting it goes through start
    await store.enqueue(scope, { id: 'q' });
    await expectFailure(
      () => store.enqueue(scope, { id: 'q', start: true }),
      'CONFLICT',
      /already queued/,
    );
    expect(await store.counts(scope)).toEqual({
      total: 2,
      byStatus: { queued: 1, running: 1 },
      bySource: { api: 1 },
    });
  });

  it('replaces a lapsed run of the same id and keeps the counts exact', async () => {
    const store = h.store();
    await store.enqueue(scope, { id: 'a', source: 'api', leaseMs: 100 });
    await store.enqueue(scope, { id: 'b', source: 'web', leaseMs: 100, start: true });
    await sleep(150);
    const a = await store.enqueue(scope, { id: 'a', source: 'web', start: true });
    const b = await store.enqueue(scope, { id: 'b', source: 'web', start: true });
    expect([a.status, b.status]).toEqual(['running', 'running']);
    expect(await store.counts(scope)).toEqual({
      total: 2,
      byStatus: { queued: 0, running: 2 },
      bySource: { web: 2 },
    });
    // the replaced runs were reported as expired (the outbox), then are swept
    const swept = await store.sweep();
    expect(swept.expired).toBe(2);
    expect((await store.counts(scope)).total).toBe(2);
  });

  it('publishes queued then started, with consecutive sequence numbers', async () => {
    const store = h.store();
    const seen: RunEvent[] = [];
    const unsubscribe = await store.subscribe(scope, (e) => void seen.push(e));
    await store.enqueue(scope, { id: 'x' });
    const run = await store.enqueue(scope, { id: 'a', source: 'api', caption: 'hi', start: true });
    await until(() => seen.length >= 4, 'three changes');
    await unsubscribe();
    const changes = seen.filter((e): e is RunChangeEvent => e.type !== 'gap');
    expect(changes.map((e) => `${e.type}:${e.id}:${e.run.status}`)).toEqual([
      'queued:x:queued',
      'queued:a:queued',
      'started:a:running',
    ]);
    expect(changes.map((e) => e.seq - changes[0]!.seq)).toEqual([0, 1, 2]);
    expect(changes[1]!.run).toEqual({ ...run, status: 'queued', startedAt: null });
    expect(changes[2]!.run).toEqual(run);
  });

  it('refuses a bad start option before any Redis call', async () => {
    const store = h.store();
    await expectFailure(
      () => store.enqueue(scope, { id: 'a', start: 'yes' as unknown as boolean }),
      'INVALID_ARGUMENT',
      /input\.start: must be true, false or \{ startedAt \}/,
    );
    await expectFailure(
      () => store.enqueue(scope, { id: 'a', start: { startedAt: -5 } }),
      'INVALID_ARGUMENT',
      /input\.start\.startedAt/,
    );
    await expectFailure(
      () => store.enqueue(scope, { id: 'a', start: { leaseMs: 5 } as { startedAt?: number } }),
      'INVALID_ARGUMENT',
      /input\.start/,
    );
    expect(await store.get(scope, 'a')).toBeNull();
  });
});
