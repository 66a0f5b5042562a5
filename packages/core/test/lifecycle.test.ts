import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { codeOf } from './expect-failure.js';
import { sleep, useStoreHarness } from './harness.js';

const h = useStoreHarness();
const scope = { workspaceId: 'w1', projectId: 'p1' };

describe('run lifecycle', () => {
  it('enqueues, starts, reports progress, heartbeats and ends a run', async () => {
    const store = h.store();
    const queued = await store.enqueue(scope, {
      id: 'run-1',
      source: 'api',
      caption: 'waiting',
      data: { model: 'gpt', tags: [] },
    });
    expect(queued).toMatchObject({
      id: 'run-1',
      status: 'queued',
      startedAt: null,
      source: 'api',
      caption: 'waiting',
      data: { model: 'gpt', tags: [] },
    });
    expect(queued.leaseExpiresAt - queued.queuedAt).toBeGreaterThanOrEqual(3 * 3600_000 - 5);

    const running = await store.start(scope, 'run-1');
    expect(running.status).toBe('running');
    expect(running.startedAt).toBeGreaterThanOrEqual(queued.queuedAt);
    expect(running.queuedAt).toBe(queued.queuedAt);

    const progressed = await store.progress(scope, 'run-1', { caption: 'half way' });
    expect(progressed).toMatchObject({ caption: 'half way', data: { model: 'gpt', tags: [] } });
    const cleared = await store.progress(scope, 'run-1', { caption: null, data: { step: 2 } });
    expect(cleared).toMatchObject({ caption: null, data: { step: 2 }, status: 'running' });

    const beat = await store.heartbeat(scope, 'run-1', { leaseMs: 60_000 });
    expect(beat.leaseExpiresAt).toBeLessThan(cleared.leaseExpiresAt);

    expect(await store.get(scope, 'run-1')).toEqual(beat);
    const ended = await store.end(scope, 'run-1');
    expect(ended).toEqual(beat);
    expect(await store.get(scope, 'run-1')).toBeNull();
    expect(await store.counts(scope)).toEqual({
      total: 0,
      byStatus: { queued: 0, running: 0 },
      bySource: {},
    });
  });

  it('keeps data exactly as JSON (empty arrays, unicode, big numbers, nested nulls)', async () => {
    const store = h.store();
    const data = {
      a: [],
      b: {},
      c: 'žluťoučký 🐎 \u2028 "quoted" \n newline',
      d: 12345678901234,
      e: null,
    };
    await store.enqueue(scope, { id: 'json', data, caption: 'line1\nline2 | pipe' });
    const run = await store.get(scope, 'json');
    expect(run?.data).toEqual(data);
    expect(run?.caption).toBe('line1\nline2 | pipe');
  });

  it('uses explicit queuedAt / startedAt and the Redis clock otherwise', async () => {
    const store = h.store();
    const [seconds] = await h.client.time();
    const serverNow = Number(seconds) * 1000;
    const a = await store.enqueue(scope, { id: 'a' });
    expect(Math.abs(a.queuedAt - serverNow)).toBeLessThan(2_000);
    const b = await store.enqueue(scope, { id: 'b', queuedAt: 1_000 });
    expect(b.queuedAt).toBe(1_000);
    const started = await store.start(scope, 'b', { startedAt: 2_000 });
    expect(started.startedAt).toBe(2_000);
  });

  it('enqueue is idempotent for the same payload and CONFLICT for a different one', async () => {
    const store = h.store();
    const first = await store.enqueue(scope, { id: 'x', source: 'api', data: { n: 1 } });
    const again = await store.enqueue(scope, { id: 'x', source: 'api', data: { n: 1 } });
    expect(again).toEqual(first);
    expect(await codeOf(store.enqueue(scope, { id: 'x', source: 'api', data: { n: 2 } }))).toBe(
      'CONFLICT',
    );
    expect(await codeOf(store.enqueue(scope, { id: 'x', source: 'web', data: { n: 1 } }))).toBe(
      'CONFLICT',
    );
    expect(
      await codeOf(store.enqueue(scope, { id: 'x', source: 'api', data: { n: 1 }, queuedAt: 5 })),
    ).toBe('CONFLICT');
    expect((await store.counts(scope)).total).toBe(1);
  });

  it('start is safe to re-send; a different explicit startedAt is a CONFLICT', async () => {
    const store = h.store();
    await store.enqueue(scope, { id: 's' });
    const first = await store.start(scope, 's', { startedAt: 10_000 });
    expect(await store.start(scope, 's')).toEqual(first);
    expect(await store.start(scope, 's', { startedAt: 10_000 })).toEqual(first);
    expect(await codeOf(store.start(scope, 's', { startedAt: 20_000 }))).toBe('CONFLICT');
    expect(await store.counts(scope)).toMatchObject({ byStatus: { queued: 0, running: 1 } });
  });

  it('a late start, progress or heartbeat after end is NOT_FOUND and does not resurrect', async () => {
    const store = h.store();
    await store.enqueue(scope, { id: 'late', source: 'api' });
    await store.start(scope, 'late');
    await store.end(scope, 'late');
    expect(await codeOf(store.heartbeat(scope, 'late'))).toBe('NOT_FOUND');
    expect(await codeOf(store.progress(scope, 'late', { caption: 'x' }))).toBe('NOT_FOUND');
    expect(await codeOf(store.start(scope, 'late'))).toBe('NOT_FOUND');
    expect(await codeOf(store.end(scope, 'late'))).toBe('NOT_FOUND');
    expect(await store.get(scope, 'late')).toBeNull();
    const page = await store.list(scope);
    expect(page).toEqual({ items: [], total: 0, nextCursor: null });
    const keys = scopeKeys(store.prefix, parseScope(scope));
    expect(await h.client.hlen(keys.runs)).toBe(0);
    expect(await h.client.zcard(keys.lease)).toBe(0);
  });

  it('a lapsed run is invisible to get, list and counts, and cannot be revived', async () => {
    const store = h.store({ leaseMs: 200 });
    await store.enqueue(scope, { id: 'old', source: 'api' });
    await store.enqueue(scope, { id: 'fresh', leaseMs: 60_000 });
    await store.start(scope, 'old');
    await sleep(300);
    expect(await store.get(scope, 'old')).toBeNull();
    const page = await store.list(scope);
    expect(page.items.map((r) => r.id)).toEqual(['fresh']);
    expect(page.total).toBe(1);
    expect(await store.list(scope, { source: 'api' })).toEqual({
      items: [],
      total: 0,
      nextCursor: null,
    });
    expect(await store.counts(scope)).toEqual({
      total: 1,
      byStatus: { queued: 1, running: 0 },
      bySource: {},
    });
    expect(await codeOf(store.heartbeat(scope, 'old'))).toBe('NOT_FOUND');
    expect(await codeOf(store.progress(scope, 'old', { caption: 'x' }))).toBe('NOT_FOUND');
    expect(await codeOf(store.end(scope, 'old'))).toBe('NOT_FOUND');
    expect(await store.get(scope, 'old')).toBeNull();
  });

  it('heartbeat keeps a short-lease run alive', async () => {
    const store = h.store({ leaseMs: 300 });
    await store.enqueue(scope, { id: 'hb' });
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      await store.heartbeat(scope, 'hb');
    }
    expect(await store.get(scope, 'hb')).not.toBeNull();
  });

  it('validates data with the dataSchema and types it', async () => {
    const store = h.store({
      dataSchema: z.object({ model: z.string(), tokens: z.number().int() }),
    });
    const run = await store.enqueue(scope, { id: 'd', data: { model: 'm', tokens: 3 } });
    const model: string | undefined = run.data?.model;
    expect(model).toBe('m');
    expect(
      await codeOf(store.enqueue(scope, { id: 'e', data: { model: 'm', tokens: 1.5 } as never })),
    ).toBe('INVALID_ARGUMENT');
    expect(await codeOf(store.progress(scope, 'd', { data: { model: 7 } as never }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await store.get(scope, 'd'))?.data).toEqual({ model: 'm', tokens: 3 });
  });

  it('rejects oversized captions and data with PAYLOAD_TOO_LARGE before touching Redis', async () => {
    const store = h.store({ maxCaptionLength: 10, maxDataBytes: 50 });
    expect(await codeOf(store.enqueue(scope, { id: 'c', caption: 'x'.repeat(11) }))).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    expect(await codeOf(store.enqueue(scope, { id: 'c', data: { s: 'x'.repeat(60) } }))).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    expect((await store.counts(scope)).total).toBe(0);
    await store.enqueue(scope, { id: 'c', caption: 'x'.repeat(10) });
    expect(await codeOf(store.progress(scope, 'c', { data: 'y'.repeat(100) }))).toBe(
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('every key of the scope expires no earlier than the latest lease', async () => {
    const store = h.store({ leaseMs: 60_000 });
    await store.enqueue(scope, { id: 'a', source: 'api' });
    await store.start(scope, 'a', { leaseMs: 600_000 });
    await store.enqueue(scope, { id: 'b' });
    const keys = scopeKeys(store.prefix, parseScope(scope));
    const latest = (await store.get(scope, 'a'))!.leaseExpiresAt;
    for (const key of [keys.runs, keys.index, keys.bySource, keys.lease, keys.meta]) {
      const expireAt = await h.client.pexpiretime(key);
      expect(expireAt, key).toBeGreaterThanOrEqual(latest);
    }
  });

  it('scopes are isolated: same ids in two workspaces never mix', async () => {
    const store = h.store();
    const a = { workspaceId: 1, projectId: 1 };
    const b = { workspaceId: 2, projectId: 1 };
    await store.enqueue(a, { id: 'same', caption: 'a' });
    await store.enqueue(b, { id: 'same', caption: 'b' });
    await store.end(a, 'same');
    expect((await store.get(b, 'same'))?.caption).toBe('b');
    expect((await store.list(a)).total).toBe(0);
    expect((await store.list(b)).items.map((r) => r.caption)).toEqual(['b']);
    // integer and string forms are the same scope
    expect((await store.get({ workspaceId: '2', projectId: '1' }, 'same'))?.caption).toBe('b');
  });
});

describe('re-sent and reused ids', () => {
  it('an enqueue re-sent after progress changed caption and data returns the active run', async () => {
    const store = h.store();
    const original = { id: 'resent', source: 'api', caption: 'queued', data: { step: 0 } };
    await store.enqueue(scope, original);
    await store.start(scope, 'resent');
    const progressed = await store.progress(scope, 'resent', {
      caption: 'step 1',
      data: { step: 1 },
    });
    // the same request as the first one (ioredis re-sends it after a reconnect): not a CONFLICT
    expect(await store.enqueue(scope, original)).toEqual(progressed);
    expect(await store.enqueue(scope, { ...original, data: { step: 0 } })).toEqual(progressed);
    // after more progress, and after clearing both, the original still matches
    await store.progress(scope, 'resent', { caption: null, data: null });
    expect(await store.enqueue(scope, original)).toMatchObject({ caption: null, data: null });
    // anything else is still a different payload
    for (const other of [
      { ...original, caption: 'step 1', data: { step: 1 } },
      { ...original, data: { step: 2 } },
      { ...original, caption: 'other' },
      { ...original, source: 'web' },
      { id: 'resent' },
    ]) {
      expect(await codeOf(store.enqueue(scope, other)), JSON.stringify(other)).toBe('CONFLICT');
    }
    expect(await store.counts(scope)).toMatchObject({ total: 1, byStatus: { running: 1 } });
  });

  it('a lapsed id can be enqueued again at once; the lapsed run is still reported once', async () => {
    const reports: { id: string; caption: string | null; status: string }[] = [];
    const store = h.store({
      leaseMs: 150,
      onExpired: (run) =>
        void reports.push({ id: run.id, caption: run.caption, status: run.status }),
    });
    await store.enqueue(scope, { id: 'again', source: 'api', caption: 'first' });
    await store.start(scope, 'again');
    await store.enqueue(scope, { id: 'other', leaseMs: 60_000 });
    await sleep(250);
    const second = await store.enqueue(scope, {
      id: 'again',
      source: 'web',
      caption: 'second',
      leaseMs: 60_000,
    });
    expect(second).toMatchObject({
      id: 'again',
      status: 'queued',
      source: 'web',
      caption: 'second',
    });
    expect(await store.get(scope, 'again')).toEqual(second);
    expect(await store.counts(scope)).toEqual({
      total: 2,
      byStatus: { queued: 2, running: 0 },
      bySource: { web: 1 },
    });
    expect((await store.list(scope)).items.map((r) => r.id).sort()).toEqual(['again', 'other']);
    expect(await store.sweep()).toMatchObject({ ran: true, failedReports: 0 });
    expect(reports).toEqual([{ id: 'again', caption: 'first', status: 'running' }]);
    expect(await store.sweep()).toMatchObject({ expired: 0, redelivered: 0 });
    expect(reports).toHaveLength(1);
    expect(await store.get(scope, 'again')).toEqual(second);
    const keys = scopeKeys(store.prefix, parseScope(scope));
    expect(await h.client.hlen(keys.runs)).toBe(2);
    expect(await h.client.zcard(keys.index)).toBe(2);
    expect(await h.client.zcard(keys.lease)).toBe(2);
    expect(await h.client.zcard(keys.bySource)).toBe(1);
  });
});

describe('key expiry', () => {
  it('keys outlive the latest lease by a real grace period, even after a heartbeat up to their expiry', async () => {
    const store = h.store({ leaseMs: 1_000 });
    await store.enqueue(scope, { id: 'edge', source: 'api' });
    const keys = scopeKeys(store.prefix, parseScope(scope));
    const scopeKeyNames = [keys.runs, keys.index, keys.bySource, keys.lease, keys.meta];
    const [seconds, micros] = await h.client.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const expireAt = await h.client.pexpiretime(keys.runs);
    // a lease that ends 10 ms before the keys would expire
    const beat = await store.heartbeat(scope, 'edge', { leaseMs: expireAt - now - 10 });
    expect(beat.leaseExpiresAt).toBeGreaterThan(now + 50_000);
    for (const key of [...scopeKeyNames, keys.registry]) {
      expect(await h.client.pexpiretime(key), key).toBeGreaterThanOrEqual(
        beat.leaseExpiresAt + 30_000,
      );
    }
  });
});
