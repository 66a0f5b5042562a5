import { keysUnder, uniquePrefix } from '@active-runs/test-utils';
import { describe, expect, it } from 'vitest';
import type {
  ActiveRun,
  ActiveRunStoreOptions,
  LegacyMigrationProgress,
  Scope,
} from '../src/index.js';
import { createActiveRunStore, migrateLegacy, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { migrationKeys } from '../src/legacy/checkpoint.js';
import { IMPORT_OUTBOX_CHECK_MAX } from '../src/scripts/import.js';
import { expectFailure } from './expect-failure.js';
import { useStoreHarness } from './harness.js';
import { expectConsistent, listAll } from './legacy-fixtures.js';
import { listOrder } from './list-model.js';
import { redisClock } from './outcomes.js';

/**
 * The backfill: copies legacy hashes into the new layout, scope by scope, resumable, idempotent,
 * verified before each scope switches; bad records and keys are counted, never fatal.
 */

const h = useStoreHarness();
const HOUR = 3_600_000;
const WINDOW = 3 * HOUR;
const { serverNow } = redisClock(h.client);
const iso = (ms: number) => new Date(ms).toISOString();

function setup(options: Partial<ActiveRunStoreOptions> = {}) {
  const prefix = uniquePrefix('backfill');
  const keyPrefix = `${prefix}:old:`;
  const store = h.store({ prefix, ...options, legacy: { keyPrefix, ...options.legacy } });
  const keyOf = (s: Scope) => `${keyPrefix}runs:active:${s.workspaceId}:${s.projectId}`;
  return { store, prefix, keyPrefix, keyOf };
}

/** Writes a legacy hash in chunks (fields → raw values). */
async function seed(key: string, fields: [string, string][]) {
  for (let i = 0; i < fields.length; i += 1_000) {
    await h.client.hset(key, Object.fromEntries(fields.slice(i, i + 1_000)));
  }
}

/** A legacy record in the original shape, and the run it must become. */
function legacyRun(id: string, now: number, i: number) {
  const queuedAt = now - 60_000 - (i % 5_000) * 7;
  const startedAt = i % 3 === 0 ? queuedAt + 1_000 : null;
  const source = i % 4 === 0 ? null : ['api', 'playground', 'evaluation'][i % 3]!;
  const record: Record<string, unknown> = { uuid: id, queuedAt: iso(queuedAt), app: i };
  if (startedAt !== null) record.startedAt = iso(startedAt);
  if (source !== null) record.source = source;
  if (i % 5 === 0) record.caption = `step ${i}`;
  const run: ActiveRun = {
    id,
    status: startedAt === null ? 'queued' : 'running',
    queuedAt,
    startedAt,
    source,
    caption: i % 5 === 0 ? `step ${i}` : null,
    data: { app: i },
    leaseExpiresAt: queuedAt + WINDOW,
  };
  return { value: JSON.stringify(record), run };
}

/** Every key under a prefix with its type, content and whether it expires. */
async function dump(prefix: string) {
  const out: Record<string, unknown> = {};
  for (const key of await keysUnder(h.client, prefix)) {
    const type = await h.client.type(key);
    const content =
      type === 'hash'
        ? await h.client.hgetall(key)
        : type === 'zset'
          ? await h.client.zrange(key, '0', '-1', 'WITHSCORES')
          : type === 'list'
            ? await h.client.lrange(key, 0, -1)
            : await h.client.get(key);
    out[key] = { type, content, expires: (await h.client.pttl(key)) > 0 };
  }
  return out;
}

/** A small legacy world with every kind of record and key. */
async function seedMixed(keyOf: (s: Scope) => string, keyPrefix: string, now: number) {
  const a = { workspaceId: 'w1', projectId: 'a' };
  const b = { workspaceId: 'w1', projectId: 'b' };
  const json = { workspaceId: 'w2', projectId: 'json' };
  const expected = new Map<string, ActiveRun[]>();
  const runsA = Array.from({ length: 300 }, (_, i) => legacyRun(`a-${i}`, now, i));
  await seed(keyOf(a), [
    ...runsA.map((r): [string, string] => [r.run.id, r.value]),
    ['stale', JSON.stringify({ uuid: 'stale', queuedAt: iso(now - 4 * HOUR) })],
    ['junk', '{oops'],
    ['bad:id', JSON.stringify({ queuedAt: iso(now) })],
    ['nodate', JSON.stringify({ uuid: 'nodate' })],
  ]);
  expected.set(
    'w1:a',
    runsA.map((r) => r.run),
  );
  const runsB = Array.from({ length: 40 }, (_, i) => legacyRun(`b-${i}`, now, i));
  await seed(
    keyOf(b),
    runsB.map((r) => [r.run.id, r.value]),
  );
  expected.set(
    'w1:b',
    runsB.map((r) => r.run),
  );
  const runsJ = Array.from({ length: 5 }, (_, i) => legacyRun(`j-${i}`, now, i));
  await h.client.set(keyOf(json), JSON.stringify(runsJ.map((r) => JSON.parse(r.value))));
  expected.set(
    'w2:json',
    runsJ.map((r) => r.run),
  );
  await h.client.rpush(`${keyPrefix}runs:active:w3:list`, 'not runs');
  await h.client.set(`${keyPrefix}runs:active:w4:text`, 'not json');
  await h.client.hset(`${keyPrefix}runs:active:no-scope`, 'x', '{}');
  return { scopes: { a, b, json }, expected };
}

describe('migrateLegacy', () => {
  it('copies every scope, counts what it skips, switches scopes, and a second run changes nothing', async () => {
    const { store, prefix, keyPrefix, keyOf } = setup();
    const now = await serverNow();
    const { scopes, expected } = await seedMixed(keyOf, keyPrefix, now);
    // the new layout already holds a newer state of one run: it is kept
    const newer = await store.enqueue(scopes.b, { id: 'b-1', caption: 'newer' });
    expected.set('w1:b', [...expected.get('w1:b')!.filter((r) => r.id !== 'b-1'), newer]);

    const progress: LegacyMigrationProgress[] = [];
    const report = await migrateLegacy(store, {
      batchSize: 100,
      onProgress: (p) => progress.push(p),
    });
    expect(report).toMatchObject({
      dryRun: false,
      aborted: false,
      keys: 6,
      scopesMigrated: 3,
      scopesAlreadyMigrated: 0,
      scanned: 304 + 40 + 5,
      copied: 300 + 39 + 5,
      skipped: { stale: 1, 'bad-json': 1, 'bad-id': 1, 'bad-time': 1, exists: 1 },
      skippedKeys: { 'wrong-type': 1, 'bad-json': 1, 'bad-key': 1 },
      failed: 0,
      failures: [],
      deletedKeys: 0,
    });
    const last = progress[progress.length - 1]!;
    expect(last).toMatchObject({ phase: 'copying', keysTotal: 5, keysDone: 5, copied: 344 });
    expect(last.recordsDone).toBeGreaterThanOrEqual(last.recordsTotal);
    for (const [tag, runs] of expected) {
      const [workspaceId, projectId] = tag.split(':') as [string, string];
      const scope = { workspaceId, projectId };
      expect(await listAll(store, scope), tag).toEqual(listOrder(runs));
      await expectConsistent(h.client, store, scope, runs);
      expect(
        await h.client.hget(migrationKeys(prefix, parseScope(scope)).state, 'migrated'),
      ).not.toBeNull();
    }
    // reads now come from the new layout only: a record added to the legacy hash is not seen
    await h.client.hset(
      keyOf(scopes.a),
      'late',
      JSON.stringify({ uuid: 'late', queuedAt: iso(now) }),
    );
    expect(await store.get(scopes.a, 'late')).toBeNull();
    await h.client.hdel(keyOf(scopes.a), 'late');

    const before = await dump(prefix);
    const again = await migrateLegacy(store, { batchSize: 100 });
    expect(again).toMatchObject({
      scopesMigrated: 0,
      scopesAlreadyMigrated: 3,
      copied: 0,
      scanned: 0,
    });
    expect(await dump(prefix)).toEqual(before);
  });

  it('a dry run counts the same and writes nothing (key dumps before and after)', async () => {
    const { store, prefix, keyPrefix, keyOf } = setup();
    const now = await serverNow();
    await seedMixed(keyOf, keyPrefix, now);
    const before = await dump(prefix);
    const report = await migrateLegacy(store, { dryRun: true, deleteSource: true, batchSize: 64 });
    expect(report).toMatchObject({
      dryRun: true,
      scopesMigrated: 3,
      scanned: 349,
      copied: 345,
      skipped: { stale: 1, 'bad-json': 1, 'bad-id': 1, 'bad-time': 1 },
      skippedKeys: { 'wrong-type': 1, 'bad-json': 1, 'bad-key': 1 },
      deletedKeys: 3,
    });
    expect(await dump(prefix)).toEqual(before);
  });

  it('stops on abort and resumes from its checkpoint: no duplicates, nothing missed', async () => {
    const { store, prefix, keyOf } = setup();
    const now = await serverNow();
    const scope = { workspaceId: 'big', projectId: 'p' };
    const runs = Array.from({ length: 20_000 }, (_, i) => legacyRun(`r-${i}`, now, i));
    await seed(
      keyOf(scope),
      runs.map((r) => [r.run.id, r.value]),
    );

    const abort = new AbortController();
    const first = await migrateLegacy(store, {
      batchSize: 500,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.recordsDone >= 6_000) abort.abort();
      },
    });
    expect(first.aborted).toBe(true);
    expect(first.copied).toBeGreaterThan(0);
    expect(first.copied).toBeLessThan(20_000);
    const state = migrationKeys(prefix, parseScope(scope)).state;
    expect(await h.client.hget(state, 'cursor')).toMatch(/^copy:\d+$/);
    expect(await h.client.hget(state, 'migrated')).toBeNull();
    // meanwhile, pages of the scope still come from the legacy hash, whole
    expect((await store.counts(scope)).total).toBe(20_000);

    const second = await migrateLegacy(store, { batchSize: 500 });
    expect(second).toMatchObject({ aborted: false, scopesMigrated: 1, failed: 0 });
    // the resumed run read only what the first had not (HSCAN may return a record twice)
    expect(first.copied + second.copied).toBe(20_000);
    expect(second.scanned).toBeLessThan(20_000);
    expect(await listAll(store, scope)).toEqual(listOrder(runs.map((r) => r.run)));
    await expectConsistent(
      h.client,
      store,
      scope,
      runs.map((r) => r.run),
    );
    expect(await h.client.hget(state, 'cursor')).toBeNull();
  });

  it('deletes the legacy keys only once their scopes are copied and verified', async () => {
    const { store, keyPrefix, keyOf } = setup();
    const now = await serverNow();
    const { scopes, expected } = await seedMixed(keyOf, keyPrefix, now);
    const report = await migrateLegacy(store, { deleteSource: true });
    expect(report).toMatchObject({ scopesMigrated: 3, deletedKeys: 3, failed: 0 });
    for (const scope of Object.values(scopes)) expect(await h.client.exists(keyOf(scope))).toBe(0);
    // keys that are not runs are never deleted
    expect(await h.client.exists(`${keyPrefix}runs:active:w3:list`)).toBe(1);
    expect(await h.client.exists(`${keyPrefix}runs:active:w4:text`)).toBe(1);
    expect(await listAll(store, scopes.a)).toEqual(listOrder(expected.get('w1:a')!));
  });

  it('leaves a scope unmigrated, its legacy key in place, while something writes around the rollout store', async () => {
    const { store, prefix, keyOf } = setup();
    const now = await serverNow();
    const scope = { workspaceId: 'leaky', projectId: 'p' };
    await seed(keyOf(scope), [['r0', legacyRun('r0', now, 0).value]]);
    let n = 0;
    const report = await migrateLegacy(store, {
      scopes: [scope],
      deleteSource: true,
      // an old instance still writing straight to the legacy hash
      onProgress: () => {
        const id = `old-${n++}`;
        void h.client.hset(keyOf(scope), id, legacyRun(id, now, 1).value);
      },
    });
    expect(report).toMatchObject({ scopesMigrated: 0, failed: 1, deletedKeys: 0 });
    expect(report.failures[0]).toMatchObject({ key: keyOf(scope) });
    expect(report.failures[0]!.reason).toContain('deploy the legacy option everywhere');
    expect(await h.client.exists(keyOf(scope))).toBe(1);
    expect(
      await h.client.hget(migrationKeys(prefix, parseScope(scope)).state, 'migrated'),
    ).toBeNull();
  });

  it('leaves a scope whose outbox is too large to check unmigrated, and resumes it once it drains', async () => {
    const { store, prefix, keyOf } = setup();
    const now = await serverNow();
    const scope = { workspaceId: 'busy', projectId: 'p' };
    const keys = scopeKeys(prefix, parseScope(scope));
    const runs = Array.from({ length: 20 }, (_, i) => legacyRun(`r${i}`, now, i));
    await seed(
      keyOf(scope),
      runs.map((r) => [r.run.id, r.value]),
    );
    // 1,001 expired-run reports its hook has not acknowledged (one of them of a legacy run)
    const reports: string[] = [`r3:${now}`, `\n0\n${now}\nx`];
    for (let i = 0; i < IMPORT_OUTBOX_CHECK_MAX; i++)
      reports.push(`gone${i}:${now}`, `\n0\n${now}\nx`);
    await h.client.hset(keys.expired, ...reports);
    const report = await migrateLegacy(store, { scopes: [scope], batchSize: 1000 });
    expect(report).toMatchObject({ scopesMigrated: 0, failed: 1, copied: 0 });
    expect(report.failures[0]!.reason).toContain('expired-run reports');
    expect(
      await h.client.hget(migrationKeys(prefix, parseScope(scope)).state, 'migrated'),
    ).toBeNull();
    expect((await store.list(scope)).total).toBe(20); // still read from the legacy hash
    // the sweeper delivered them: only the legacy run's report is left
    await h.client.hdel(keys.expired, ...reports.filter((_, i) => i % 2 === 0).slice(1));
    const again = await migrateLegacy(store, { scopes: [scope], batchSize: 1000 });
    expect(again).toMatchObject({
      scopesMigrated: 1,
      failed: 0,
      copied: 19,
      skipped: { ended: 1 },
    });
    const expected = runs.filter((r) => r.run.id !== 'r3').map((r) => r.run);
    expect(await listAll(store, scope)).toEqual(listOrder(expected));
  });

  it('migrates an explicit scope list with a custom key layout and decoder', async () => {
    const prefix = uniquePrefix('custom');
    const store = h.store({
      prefix,
      legacy: {
        keyOf: (s) => `${prefix}:legacy/${s.workspaceId}/${s.projectId}`,
        decode: (record) => {
          const r = record as { id: string; created: number; state: string };
          return r.state === 'done' ? null : { id: r.id, queuedAt: r.created };
        },
      },
    });
    const now = await serverNow();
    const scope = { workspaceId: 1, projectId: 2 };
    await h.client.hset(`${prefix}:legacy/1/2`, {
      x: JSON.stringify({ id: 'x', created: now - 5, state: 'queued' }),
      y: JSON.stringify({ id: 'y', created: now - 5, state: 'done' }),
    });
    await expectFailure(() => migrateLegacy(store), 'INVALID_ARGUMENT', 'scopeOf');
    const report = await migrateLegacy(store, {
      scopes: [scope, { workspaceId: 1, projectId: 3 }],
    });
    expect(report).toMatchObject({
      keys: 2,
      scopesMigrated: 2,
      copied: 1,
      skipped: { 'not-a-run': 1 },
    });
    expect((await store.list(scope)).items.map((r) => r.id)).toEqual(['x']);
  });

  it('refuses bad options and stores without the legacy option', async () => {
    const { store } = setup();
    await expectFailure(() => migrateLegacy(h.store()), 'INVALID_ARGUMENT', 'legacy option');
    await expectFailure(
      () => migrateLegacy(store, { batchSize: 0 }),
      'INVALID_ARGUMENT',
      'batchSize',
    );
    await expectFailure(
      () => migrateLegacy(store, { batchSize: 1001 }),
      'INVALID_ARGUMENT',
      'batchSize',
    );
    await expectFailure(
      () => migrateLegacy(store, { match: 'x*', scopes: [] }),
      'INVALID_ARGUMENT',
      'not both',
    );
    await expectFailure(
      () => migrateLegacy(store, { scopes: [{ workspaceId: 'a{b', projectId: 1 }] }),
      'INVALID_ARGUMENT',
      'workspaceId',
    );
  });

  it('is REDIS_UNAVAILABLE when Redis is down', async () => {
    const store = createActiveRunStore({
      redis: 'redis://127.0.0.1:1',
      commandTimeoutMs: 500,
      legacy: {},
    });
    try {
      await expectFailure(() => migrateLegacy(store), 'REDIS_UNAVAILABLE');
    } finally {
      await store.close();
    }
  });
});
