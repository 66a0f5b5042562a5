import { uniquePrefix } from '@active-runs/test-utils';
import { describe, expect, it } from 'vitest';
import type { ActiveRun, ActiveRunStoreOptions, ExpiredReport, ParsedScope } from '../src/index.js';
import { createActiveRunStore, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { migrationKeys } from '../src/legacy/checkpoint.js';
import { importRecords } from '../src/legacy/importer.js';
import { expectFailure } from './expect-failure.js';
import { sleep, useStoreHarness } from './harness.js';
import { contextFor, listAll, record } from './legacy-fixtures.js';
import { redisClock } from './outcomes.js';

/**
 * The rollout mode: scopes not yet migrated are read from the legacy hash (bounded memory, the
 * window, the original order) and written to both layouts; migrated ones use the new layout only.
 */

const h = useStoreHarness();
const scope = { workspaceId: 7, projectId: 'p1' };
const HOUR = 3_600_000;
const { serverNow } = redisClock(h.client);
const iso = (ms: number) => new Date(ms).toISOString();

/** A store in rollout mode whose legacy keys live under its own prefix (cleaned up with it). */
function rolloutStore(options: Partial<ActiveRunStoreOptions> = {}) {
  const prefix = uniquePrefix('rollout');
  const keyPrefix = `${prefix}:old:`;
  const store = h.store({ prefix, ...options, legacy: { keyPrefix, ...options.legacy } });
  const legacyKey = `${keyPrefix}runs:active:${scope.workspaceId}:${scope.projectId}`;
  return { store, prefix, keyPrefix, legacyKey };
}

async function legacyRecord(key: string, id: string): Promise<Record<string, unknown> | null> {
  const value = await h.client.hget(key, id);
  return value === null ? null : (JSON.parse(value) as Record<string, unknown>);
}

async function markMigrated(prefix: string, s: ParsedScope) {
  await h.client.hset(migrationKeys(prefix, s).state, 'migrated', Date.now());
}

describe('rollout mode: reading the legacy hash', () => {
  it('lists the window newest-first, running first, with filters, cursors and offsets', async () => {
    const logs: unknown[] = [];
    const { store, legacyKey } = rolloutStore({ logger: { warn: (o) => void logs.push(o) } });
    const now = await serverNow();
    const runs: Record<string, unknown> = {
      q1: { uuid: 'q1', queuedAt: iso(now - 60_000), source: 'api', model: 'gpt' },
      q2: { uuid: 'q2', queuedAt: iso(now - 30_000), caption: 'waiting' },
      q3: { uuid: 'q3', queuedAt: iso(now - 30_000), source: 'api' },
      r1: { uuid: 'r1', queuedAt: iso(now - 90_000), startedAt: iso(now - 20_000), source: 'eval' },
      r2: { uuid: 'r2', queuedAt: iso(now - 90_000), startedAt: iso(now - 10_000) },
      old: { uuid: 'old', queuedAt: iso(now - 4 * HOUR), startedAt: iso(now - 4 * HOUR) },
    };
    await h.client.hset(legacyKey, {
      ...Object.fromEntries(Object.entries(runs).map(([id, r]) => [id, JSON.stringify(r)])),
      junk: '{not json',
      mismatch: JSON.stringify({ uuid: 'other', queuedAt: iso(now) }),
      'bad{id': JSON.stringify({ queuedAt: iso(now) }),
      notime: JSON.stringify({ uuid: 'notime' }),
      badsrc: JSON.stringify({ uuid: 'badsrc', queuedAt: iso(now), source: 'has space' }),
      scalar: '42',
    });

    const page = await store.list(scope, { limit: 10 });
    expect(page.items.map((r) => r.id)).toEqual(['r2', 'r1', 'q3', 'q2', 'q1']);
    expect(page.total).toBe(5);
    expect(page.nextCursor).toBeNull();
    expect(page.items[4]).toEqual({
      id: 'q1',
      status: 'queued',
      queuedAt: now - 60_000,
      startedAt: null,
      source: 'api',
      caption: null,
      data: { model: 'gpt' },
      leaseExpiresAt: now - 60_000 + 3 * HOUR,
    });
    expect((await store.list(scope, { status: 'running' })).items.map((r) => r.id)).toEqual([
      'r2',
      'r1',
    ]);
    expect(await store.list(scope, { source: 'api' })).toMatchObject({
      total: 2,
      items: [{ id: 'q3' }, { id: 'q1' }],
    });
    expect((await store.list(scope, { page: 2, pageSize: 2 })).items.map((r) => r.id)).toEqual([
      'q3',
      'q2',
    ]);

    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const next = await store.list(scope, { limit: 2, cursor });
      walked.push(...next.items.map((r) => r.id));
      cursor = next.nextCursor;
    } while (cursor);
    expect(walked).toEqual(['r2', 'r1', 'q3', 'q2', 'q1']);

    expect(await store.counts(scope)).toEqual({
      total: 5,
      byStatus: { queued: 3, running: 2 },
      bySource: { api: 2, eval: 1 },
    });
    const stats = await store.stats(scope);
    expect(stats).toMatchObject({ total: 5, lapsed: 1, pendingExpiredReports: 0 });
    expect(stats.oldestQueuedAgeMs).toBeGreaterThanOrEqual(60_000);
    expect(stats.longestRunningMs).toBeGreaterThanOrEqual(20_000);
    expect((await store.get(scope, 'r1'))?.startedAt).toBe(now - 20_000);
    expect(await store.get(scope, 'old')).toBeNull();

    // records that do not map are counted by reason, once per key, never fatal
    expect(logs).toEqual([
      {
        key: legacyKey,
        skipped: { 'bad-json': 1, 'bad-id': 2, 'bad-time': 1, 'bad-source': 1, 'not-a-run': 1 },
        unreadable: null,
      },
    ]);
    await expectFailure(() => store.list(scope, { limit: 0 }), 'INVALID_ARGUMENT');
    await expectFailure(
      () => store.list(scope, { cursor: 'edited.x' }),
      'INVALID_ARGUMENT',
      'cursor',
    );
  });

  it('reads the JSON-string variants (an array, an id → run map) and survives a wrong-type key', async () => {
    const logs: unknown[] = [];
    const { store, keyPrefix } = rolloutStore({ logger: { warn: (o) => void logs.push(o) } });
    const now = await serverNow();
    const array = { workspaceId: 'w', projectId: 'array' };
    const map = { workspaceId: 'w', projectId: 'map' };
    const list = { workspaceId: 'w', projectId: 'list' };
    await h.client.set(
      `${keyPrefix}runs:active:w:array`,
      JSON.stringify([
        { uuid: 'a1', queuedAt: iso(now - 2) },
        { uuid: 'a2', queuedAt: iso(now - 1), startedAt: iso(now) },
      ]),
    );
    await h.client.set(
      `${keyPrefix}runs:active:w:map`,
      JSON.stringify({ m1: { uuid: 'm1', queuedAt: iso(now) }, m2: { queuedAt: iso(now - 5) } }),
    );
    await h.client.rpush(`${keyPrefix}runs:active:w:list`, 'x');
    expect((await store.list(array)).items.map((r) => r.id)).toEqual(['a2', 'a1']);
    expect((await store.list(map)).items.map((r) => r.id)).toEqual(['m1', 'm2']);
    expect(await store.list(list)).toEqual({ items: [], total: 0, nextCursor: null });
    expect(logs).toEqual([
      { key: `${keyPrefix}runs:active:w:list`, skipped: {}, unreadable: 'a list' },
    ]);
  });
  it("judges the window by the scope's clock: its high-water mark when TIME is behind", async () => {
    const { store, prefix, legacyKey } = rolloutStore();
    const now = await serverNow();
    // live by TIME for 5 more minutes, lapsed by the scope's clock (10 minutes ahead, as after a
    // failover to a node whose clock is behind)
    const edge = { uuid: 'edge', queuedAt: iso(now - 3 * HOUR + 5 * 60_000) };
    const fresh = { uuid: 'fresh', queuedAt: iso(now) };
    await h.client.hset(legacyKey, { edge: JSON.stringify(edge), fresh: JSON.stringify(fresh) });
    expect((await store.list(scope)).items.map((r) => r.id)).toEqual(['fresh', 'edge']);
    await h.client.hset(scopeKeys(prefix, parseScope(scope)).meta, 'hw', now + 10 * 60_000);
    expect((await store.list(scope)).items.map((r) => r.id)).toEqual(['fresh']);
    expect((await store.stats(scope)).lapsed).toBe(1);
    expect(await store.get(scope, 'edge')).toBeNull();
    expect(await store.get(scope, 'fresh')).toMatchObject({ id: 'fresh' });
  });
});

describe('rollout mode: writes go to both layouts', () => {
  it('mirrors enqueue, start, progress and end into the legacy hash; heartbeat needs nothing', async () => {
    const { store, legacyKey } = rolloutStore({ dataSchema: undefined });
    const run = await store.enqueue(scope, {
      id: 'run-1',
      source: 'api',
      caption: 'queued',
      data: { model: 'gpt', tokens: 0 },
    });
    expect(await legacyRecord(legacyKey, 'run-1')).toEqual({
      uuid: 'run-1',
      queuedAt: iso(run.queuedAt),
      source: 'api',
      caption: 'queued',
      model: 'gpt',
      tokens: 0,
    });
    const pttl = await h.client.pttl(legacyKey);
    expect(pttl).toBeGreaterThan(3 * HOUR - 60_000);
    const started = await store.start(scope, 'run-1');
    expect(await legacyRecord(legacyKey, 'run-1')).toMatchObject({
      startedAt: iso(started.startedAt!),
    });
    await store.progress(scope, 'run-1', {
      caption: 'streaming',
      data: { model: 'gpt', tokens: 9 },
    });
    expect(await legacyRecord(legacyKey, 'run-1')).toMatchObject({
      caption: 'streaming',
      tokens: 9,
    });
    const before = await h.client.hget(legacyKey, 'run-1');
    await store.heartbeat(scope, 'run-1');
    expect(await h.client.hget(legacyKey, 'run-1')).toBe(before);
    // the legacy list now shows the run exactly as the new layout holds it (lease aside)
    const [listed] = (await store.list(scope)).items;
    const own = await store.get(scope, 'run-1');
    expect({ ...listed, leaseExpiresAt: 0 }).toEqual({ ...own, leaseExpiresAt: 0 });
    const ended = await store.end(scope, 'run-1');
    expect(ended.caption).toBe('streaming');
    expect(await h.client.hexists(legacyKey, 'run-1')).toBe(0);
    expect(await store.list(scope)).toEqual({ items: [], total: 0, nextCursor: null });
  });

  it('mirrors a run enqueued with start as running, with its startedAt, and a re-send as a no-op', async () => {
    const { store, legacyKey } = rolloutStore({ dataSchema: undefined });
    const input = { id: 'now', source: 'api', data: { model: 'gpt' }, start: true };
    const run = await store.enqueue(scope, input);
    expect(run.status).toBe('running');
    expect(await legacyRecord(legacyKey, 'now')).toEqual({
      uuid: 'now',
      queuedAt: iso(run.queuedAt),
      startedAt: iso(run.startedAt!),
      source: 'api',
      model: 'gpt',
    });
    const before = await h.client.hget(legacyKey, 'now');
    expect(await store.enqueue(scope, input)).toEqual(run);
    expect(await h.client.hget(legacyKey, 'now')).toBe(before);
    // the legacy list (what the rollout reads) shows it running
    expect((await store.list(scope, { status: 'running' })).items.map((r) => r.id)).toEqual([
      'now',
    ]);
    expect((await store.counts(scope)).byStatus).toEqual({ queued: 0, running: 1 });
  });

  it('copies a run only the legacy hash has on its first write (copy on write)', async () => {
    const { store, prefix, legacyKey } = rolloutStore();
    const now = await serverNow();
    await h.client.hset(legacyKey, {
      old: JSON.stringify({ uuid: 'old', queuedAt: iso(now - 1_000), source: 'api', app: 1 }),
      old2: JSON.stringify({ uuid: 'old2', queuedAt: iso(now - 2_000) }),
      old3: JSON.stringify({ uuid: 'old3', queuedAt: iso(now - 3_000), caption: 'c' }),
    });
    const started = await store.start(scope, 'old');
    expect(started).toMatchObject({
      id: 'old',
      status: 'running',
      queuedAt: now - 1_000,
      source: 'api',
      data: { app: 1 },
    });
    expect(await legacyRecord(legacyKey, 'old')).toMatchObject({
      startedAt: iso(started.startedAt!),
    });
    expect((await store.heartbeat(scope, 'old2')).id).toBe('old2');

    // end of a legacy-only run: its last state, gone from both, and never copied back
    const ended = await store.end(scope, 'old3');
    expect(ended).toMatchObject({ id: 'old3', status: 'queued', caption: 'c' });
    expect(await h.client.hexists(legacyKey, 'old3')).toBe(0);
    await expectFailure(() => store.end(scope, 'old3'), 'NOT_FOUND');
    const statuses = await importRecords(
      contextFor(store),
      parseScope(scope),
      [record('old3', { queuedAt: now - 3_000, leaseExpiresAt: now + HOUR })],
      { mode: 'write' },
    );
    expect(statuses).toEqual(['ended']);
    expect(
      await h.client.zscore(migrationKeys(prefix, parseScope(scope)).tombstones, 'old3'),
    ).not.toBeNull();
    await expectFailure(() => store.start(scope, 'never'), 'NOT_FOUND');
  });

  it('keeps the JSON-string variant in step (compare-and-set rewrites)', async () => {
    const { store, keyPrefix } = rolloutStore();
    const now = await serverNow();
    const array = { workspaceId: 'w', projectId: 'array' };
    const key = `${keyPrefix}runs:active:w:array`;
    await h.client.set(key, JSON.stringify([{ uuid: 'a1', queuedAt: iso(now - 2) }]));
    await Promise.all([
      store.enqueue(array, { id: 'n1' }),
      store.enqueue(array, { id: 'n2' }),
      store.start(array, 'a1'),
    ]);
    const stored = JSON.parse((await h.client.get(key))!) as { uuid: string; startedAt?: string }[];
    expect(stored.map((r) => r.uuid).sort()).toEqual(['a1', 'n1', 'n2']);
    expect(stored.find((r) => r.uuid === 'a1')?.startedAt).toBeDefined();
    await store.end(array, 'n1');
    expect((await store.list(array)).items.map((r) => r.id).sort()).toEqual(['a1', 'n2']);
  });

  it('an expired run leaves the legacy hash, and the app hook still hears of it', async () => {
    const reports: [ActiveRun, ExpiredReport][] = [];
    const { store, legacyKey } = rolloutStore({
      leaseMs: 200,
      onExpired: (run, _scope, report) => void reports.push([run, report]),
    });
    const doomed = await store.enqueue(scope, { id: 'doomed' });
    expect(await h.client.hexists(legacyKey, 'doomed')).toBe(1);
    await sleep(300);
    expect((await store.sweep()).expired).toBe(1);
    expect(reports).toEqual([
      [
        { ...doomed },
        {
          attempt: 1,
          redelivery: false,
          claimToken: `${scope.workspaceId}:${scope.projectId}:doomed:${doomed.leaseExpiresAt}`,
          signal: expect.any(AbortSignal),
        },
      ],
    ]);
    expect(await h.client.hexists(legacyKey, 'doomed')).toBe(0);
  });

  it('an id reused after its run lapsed keeps the new run in the legacy list when the old one is reported', async () => {
    const reports: ActiveRun[] = [];
    const { store, legacyKey } = rolloutStore({ onExpired: (run) => void reports.push(run) });
    const now = await serverNow();
    const first = await store.enqueue(scope, {
      id: 'again',
      queuedAt: now - 1_000,
      leaseMs: 100,
      caption: 'first',
    });
    await store.start(scope, 'again', { leaseMs: 100 });
    await sleep(150);
    // enqueue takes the id of the lapsed run at once (its report waits for the sweeper)
    const second = await store.enqueue(scope, { id: 'again', caption: 'second' });
    expect(await legacyRecord(legacyKey, 'again')).toMatchObject({
      caption: 'second',
      queuedAt: iso(second.queuedAt),
    });
    expect((await store.list(scope)).items).toEqual([second]);
    expect((await store.sweep()).expired).toBe(1);
    expect(reports.map((r) => [r.id, r.caption, r.queuedAt])).toEqual([
      ['again', 'first', first.queuedAt],
    ]);
    // the old run's report left the new run's record alone, and no tombstone hides it
    expect((await store.list(scope)).items).toEqual([second]);
    expect(await legacyRecord(legacyKey, 'again')).toMatchObject({ caption: 'second' });
    expect(await store.end(scope, 'again')).toMatchObject({ id: 'again', caption: 'second' });
    expect(await h.client.hexists(legacyKey, 'again')).toBe(0);
  });

  it('a late call for a run whose expiry report is pending neither brings it back nor ends it', async () => {
    const { store, prefix, legacyKey } = rolloutStore({ leaseMs: 100 });
    // a sweep that has claimed the run but not run the rollout hook yet: the legacy record stays
    const sweeper = h.store({ prefix, onExpired: () => Promise.reject(new Error('later')) });
    for (const id of ['late-beat', 'late-end']) await store.enqueue(scope, { id });
    await sleep(150);
    expect((await sweeper.sweep()).expired).toBe(2);
    expect(await h.client.hexists(legacyKey, 'late-beat')).toBe(1);
    await expectFailure(() => store.heartbeat(scope, 'late-beat'), 'NOT_FOUND');
    await expectFailure(() => store.start(scope, 'late-beat'), 'NOT_FOUND');
    await expectFailure(() => store.end(scope, 'late-end'), 'NOT_FOUND');
    // nothing was copied back into the new layout (until the rollout hook runs, the legacy
    // reads still show the record, as they show any change a moment late)
    const runs = scopeKeys(prefix, parseScope(scope)).runs;
    expect(await h.client.hlen(runs)).toBe(0);
    expect(await h.client.hexists(legacyKey, 'late-end')).toBe(0);
  });
});

describe('rollout mode: migrated scopes', () => {
  it('use the new layout only, and a cursor made on the legacy list continues there', async () => {
    const { store, prefix, legacyKey } = rolloutStore();
    const now = await serverNow();
    for (const id of ['a', 'b', 'c', 'd']) {
      await store.enqueue(scope, { id, queuedAt: now - 1_000 + id.charCodeAt(0) });
    }
    const first = await store.list(scope, { limit: 2 });
    expect(first.items.map((r) => r.id)).toEqual(['d', 'c']);
    // the legacy list and the new layout agree; switch the scope between two pages
    await markMigrated(prefix, parseScope(scope));
    await h.client.hset(
      legacyKey,
      'ghost',
      JSON.stringify({ uuid: 'ghost', queuedAt: iso(Date.now()) }),
    );
    const second = await store.list(scope, { limit: 2, cursor: first.nextCursor });
    expect(second.items.map((r) => r.id)).toEqual(['b', 'a']);
    expect(second.nextCursor).toBeNull();
    await store.enqueue(scope, { id: 'e' });
    expect(await h.client.hexists(legacyKey, 'e')).toBe(0);
    expect(await store.get(scope, 'ghost')).toBeNull();
    expect((await listAll(store, scope)).map((r) => r.id)).toEqual(['e', 'd', 'c', 'b', 'a']);
  });

  it('cost the same commands as a store without rollout mode, once the flag was seen', async () => {
    const { store, prefix } = rolloutStore();
    const plain = createActiveRunStore({ redis: h.client, prefix: `${prefix}-plain` });
    h.track(`${prefix}-plain`);
    await markMigrated(prefix, parseScope(scope));
    await store.counts(scope); // reads the flag once
    const client = h.client as unknown as { sendCommand: (...args: unknown[]) => unknown };
    const original = client.sendCommand;
    const sent: string[] = [];
    client.sendCommand = function (this: unknown, ...args: unknown[]) {
      sent.push(String((args[0] as { name: string }).name));
      return original.apply(this, args);
    };
    const commands = async (target: typeof store) => {
      sent.length = 0;
      await target.enqueue(scope, { id: 'x', source: 'api' });
      await target.start(scope, 'x');
      await target.progress(scope, 'x', { caption: 'c' });
      await target.heartbeat(scope, 'x');
      await target.get(scope, 'x');
      await target.list(scope);
      await target.counts(scope);
      await target.end(scope, 'x');
      return [...sent];
    };
    try {
      const withRollout = await commands(store);
      const without = await commands(plain);
      expect(withRollout).toHaveLength(8);
      expect(withRollout.map((name) => name.replace(/_[0-9a-f]{8}$/, ''))).toEqual(
        without.map((name) => name.replace(/_[0-9a-f]{8}$/, '')),
      );
    } finally {
      client.sendCommand = original;
      await plain.close();
    }
  });
});

describe('rollout mode: bad input', () => {
  it('is refused before any Redis call, as without rollout mode', async () => {
    const { store } = rolloutStore();
    const client = h.client as unknown as { sendCommand: (...args: unknown[]) => unknown };
    const original = client.sendCommand;
    let sent = 0;
    client.sendCommand = function (this: unknown, ...args: unknown[]) {
      sent++;
      return original.apply(this, args);
    };
    try {
      await expectFailure(() => store.enqueue(scope, { id: 'a b' }), 'INVALID_ARGUMENT', 'id');
      await expectFailure(() => store.start(scope, 'a{b'), 'INVALID_ARGUMENT', 'id');
      await expectFailure(() => store.end(scope, 'a:b'), 'INVALID_ARGUMENT', 'id');
      await expectFailure(() => store.get(scope, ''), 'INVALID_ARGUMENT', 'id');
      await expectFailure(
        () => store.list({ workspaceId: 'w}', projectId: 1 }),
        'INVALID_ARGUMENT',
        'workspaceId',
      );
      await expectFailure(() => store.list(scope, { limit: -1 }), 'INVALID_ARGUMENT', 'limit');
      expect(sent).toBe(0);
    } finally {
      client.sendCommand = original;
    }
  });
});

describe('rollout mode: options', () => {
  it('refuses bad legacy options with INVALID_ARGUMENT', async () => {
    await expectFailure(
      () => createActiveRunStore({ redis: h.client, legacy: { windowMs: -1 } }),
      'INVALID_ARGUMENT',
      'windowMs',
    );
    await expectFailure(
      () => createActiveRunStore({ redis: h.client, legacy: { keyOf: 'runs' as never } }),
      'INVALID_ARGUMENT',
      'keyOf',
    );
    await expectFailure(
      () => createActiveRunStore({ redis: h.client, legacy: { extra: 1 } as never }),
      'INVALID_ARGUMENT',
      'legacy',
    );
  });
});
