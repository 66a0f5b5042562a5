import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ActiveRun, ActiveRunStore, RunEvent } from '../src/index.js';
import { ActiveRunsError, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { migrationKeys } from '../src/legacy/checkpoint.js';
import { importRecords, importScriptKeys, uncheckedError } from '../src/legacy/importer.js';
import { IMPORT_OUTBOX_CHECK_MAX } from '../src/scripts/import.js';
import { SCRIPTS } from '../src/scripts/index.js';
import { sleep, useStoreHarness } from './harness.js';
import { contextFor, expectConsistent, listAll, record } from './legacy-fixtures.js';
import { listOrder } from './list-model.js';
import { monitorCommands } from './monitor.js';
import { redisClock } from './outcomes.js';

/**
 * The import script (the backfill's one call per batch): it must leave a scope exactly as
 * enqueue + start would, never overwrite or bring back a run, and write nothing when it fails.
 */

const h = useStoreHarness();
const scope = { workspaceId: 'imp', projectId: 'p' };
const { serverNow } = redisClock(h.client);
const HOUR = 3_600_000;

async function allKeys(store: ActiveRunStore) {
  return importScriptKeys(store.prefix, parseScope(scope));
}

/** Type and content of every key the import may touch (expiry aside). */
async function snapshot(store: ActiveRunStore) {
  const out: Record<string, unknown> = {};
  for (const key of await allKeys(store)) {
    const type = await h.client.type(key);
    if (type === 'hash') out[key] = await h.client.hgetall(key);
    else if (type === 'zset') out[key] = await h.client.zrange(key, '0', '-1', 'WITHSCORES');
    else if (type === 'string') out[key] = await h.client.get(key);
    else out[key] = type;
  }
  return out;
}

describe('import', () => {
  it('inserts runs as enqueue and start would: pages, counts, indexes, registry, expiry', async () => {
    const store = h.store();
    const ctx = contextFor(store);
    const now = await serverNow();
    // no source yet: the by-source index is created by the import, and must get an expiry too
    await store.enqueue(scope, { id: 'native' });
    const records = [
      record('q1', { queuedAt: now - 5_000, leaseExpiresAt: now + HOUR, source: 'api' }),
      record('q2', { queuedAt: now - 4_000, leaseExpiresAt: now + 2 * HOUR, caption: 'wait' }),
      record('r1', {
        queuedAt: now - 9_000,
        startedAt: now - 3_000,
        leaseExpiresAt: now + HOUR / 2,
        source: 'eval',
        data: { model: 'gpt', tokens: [1, 2], big: 2 ** 60, text: 'é' },
      }),
      record('r2', { queuedAt: now - 9_000, startedAt: now - 3_000, leaseExpiresAt: now + HOUR }),
    ];
    const statuses = await importRecords(ctx, parseScope(scope), records, { mode: 'write' });
    expect(statuses).toEqual(['inserted', 'inserted', 'inserted', 'inserted']);

    const native = (await store.get(scope, 'native'))!;
    const expected = listOrder([native, ...records.map((r) => r.run)]);
    expect(await listAll(store, scope)).toEqual(expected);
    expect(await store.list(scope, { source: 'eval' })).toMatchObject({
      total: 1,
      items: [records[2]!.run],
    });
    expect(await store.list(scope, { status: 'running' })).toMatchObject({ total: 2 });
    await expectConsistent(h.client, store, scope, expected);

    // imported runs behave like native ones
    await store.start(scope, 'q1');
    await store.progress(scope, 'r1', { caption: 'half way' });
    expect((await store.end(scope, 'r2')).id).toBe('r2');
    const after = await listAll(store, scope);
    expect(after.map((r) => r.id).sort()).toEqual(['native', 'q1', 'q2', 'r1']);
    await expectConsistent(h.client, store, scope, after);
  });

  it('never overwrites a run the scope has, nor a duplicate of the same batch', async () => {
    const store = h.store();
    const ctx = contextFor(store);
    const now = await serverNow();
    const newer = await store.enqueue(scope, { id: 'x', source: 'api', caption: 'newer' });
    const statuses = await importRecords(
      ctx,
      parseScope(scope),
      [
        record('x', { queuedAt: now - 1, leaseExpiresAt: now + HOUR, caption: 'older' }),
        record('y', { queuedAt: now - 2, leaseExpiresAt: now + HOUR, caption: 'first' }),
        record('y', { queuedAt: now - 3, leaseExpiresAt: now + HOUR, caption: 'second' }),
      ],
      { mode: 'write' },
    );
    expect(statuses).toEqual(['exists', 'inserted', 'exists']);
    expect(await store.get(scope, 'x')).toEqual(newer);
    expect((await store.get(scope, 'y'))?.caption).toBe('first');
    await expectConsistent(h.client, store, scope, await listAll(store, scope));
    // importing the same batch again changes nothing
    const before = await snapshot(store);
    const again = await importRecords(
      ctx,
      parseScope(scope),
      [record('y', { queuedAt: now - 2, leaseExpiresAt: now + HOUR, caption: 'first' })],
      { mode: 'write' },
    );
    expect(again).toEqual(['exists']);
    expect(await snapshot(store)).toEqual(before);
  });

  it('never brings back a run that ended (tombstone) or expired (a report waits in the outbox), nor a lapsed one', async () => {
    // a hook that fails keeps the expired run's report in the outbox (keyed id:deadline)
    const store = h.store({ onExpired: () => Promise.reject(new Error('hook down')) });
    const ctx = contextFor(store);
    const keys = scopeKeys(store.prefix, parseScope(scope));
    const migration = migrationKeys(store.prefix, parseScope(scope));
    const swept = await store.enqueue(scope, { id: 'expired', leaseMs: 100 });
    await sleep(150);
    expect((await store.sweep()).expired).toBe(1);
    expect(await h.client.hkeys(keys.expired)).toEqual([`expired:${swept.leaseExpiresAt}`]);
    const now = await serverNow();
    await h.client.zadd(migration.tombstones, now, 'ended');
    const statuses = await importRecords(
      ctx,
      parseScope(scope),
      [
        record('ended', { queuedAt: now, leaseExpiresAt: now + HOUR }),
        record('expired', { queuedAt: now, leaseExpiresAt: now + HOUR }),
        record('lapsed', { queuedAt: now - 2 * HOUR, leaseExpiresAt: now - 1 }),
        record('live', { queuedAt: now, leaseExpiresAt: now + HOUR }),
        record('expiredX', { queuedAt: now, leaseExpiresAt: now + HOUR }),
      ],
      { mode: 'write' },
    );
    // an id that only starts like a pending report's is not that report's
    expect(statuses).toEqual(['ended', 'expired', 'lapsed', 'inserted', 'inserted']);
    expect((await listAll(store, scope)).map((r) => r.id)).toEqual(['live', 'expiredX']);
  });

  it('leaves a run that lapsed and waits for the sweeper to it; the id of a replaced run is the new one', async () => {
    const reports: string[] = [];
    const store = h.store({ onExpired: (run) => void reports.push(run.id) });
    const ctx = contextFor(store);
    await store.enqueue(scope, { id: 'unswept', leaseMs: 100 });
    await store.enqueue(scope, { id: 'reused', leaseMs: 100, caption: 'first' });
    await sleep(150);
    // enqueue replaces the lapsed run at once: its report waits in the outbox, due now
    const second = await store.enqueue(scope, { id: 'reused', caption: 'second' });
    const now = await serverNow();
    const statuses = await importRecords(
      ctx,
      parseScope(scope),
      [
        record('unswept', { queuedAt: now - 1, leaseExpiresAt: now + HOUR, caption: 'legacy' }),
        record('reused', { queuedAt: now - 1, leaseExpiresAt: now + HOUR, caption: 'legacy' }),
      ],
      { mode: 'write' },
    );
    expect(statuses).toEqual(['exists', 'exists']);
    expect(await store.get(scope, 'unswept')).toBeNull();
    expect(await store.get(scope, 'reused')).toEqual(second);
    // the sweeper reports both lapsed runs, and nothing the import wrote
    await store.sweep();
    expect(reports.sort()).toEqual(['reused', 'unswept']);
    expect(await listAll(store, scope)).toEqual([second]);
    await expectConsistent(h.client, store, scope, [second]);
  });

  it("judges lapse by the scope's clock (its high-water mark when TIME is behind) and keeps it", async () => {
    const store = h.store();
    const ctx = contextFor(store);
    const keys = scopeKeys(store.prefix, parseScope(scope));
    await store.enqueue(scope, { id: 'native' });
    // as after a failover to a node whose clock is 10 minutes behind the scope's last write
    const now = await serverNow();
    const hw = now + 10 * 60_000;
    await h.client.hset(keys.meta, 'hw', hw);
    const statuses = await importRecords(
      ctx,
      parseScope(scope),
      [
        record('passed', { queuedAt: now - 1, leaseExpiresAt: now + 5 * 60_000 }),
        record('ahead', { queuedAt: now - 1, leaseExpiresAt: now + HOUR }),
      ],
      { mode: 'write' },
    );
    expect(statuses).toEqual(['lapsed', 'inserted']);
    expect(Number(await h.client.hget(keys.meta, 'hw'))).toBeGreaterThanOrEqual(hw);
    expect((await listAll(store, scope)).map((r) => r.id).sort()).toEqual(['ahead', 'native']);
  });

  it('stops at a run only an outbox too large to read could decide; the checkpoint stays', async () => {
    const store = h.store();
    const ctx = contextFor(store);
    const keys = scopeKeys(store.prefix, parseScope(scope));
    const migration = migrationKeys(store.prefix, parseScope(scope));
    await store.enqueue(scope, { id: 'native' });
    const now = await serverNow();
    await h.client.zadd(migration.tombstones, now, 'ended');
    const fill = async (n: number) => {
      const fields: string[] = [];
      for (let i = 0; i < n; i++) fields.push(`old${i}:${now}`, `\n0\n${now}\nx`);
      await h.client.hset(keys.expired, ...fields);
    };
    // the most it reads: 1,000 reports (a hash table, not a listpack, past 128), all of them seen
    await fill(IMPORT_OUTBOX_CHECK_MAX - 1);
    await h.client.hset(keys.expired, `pending:${now}`, `\n0\n${now}\nx`);
    const records = [
      record('pending', { queuedAt: now, leaseExpiresAt: now + HOUR }),
      record('native', { queuedAt: now, leaseExpiresAt: now + HOUR }),
      record('ended', { queuedAt: now, leaseExpiresAt: now + HOUR }),
      record('lapsed', { queuedAt: now - 2 * HOUR, leaseExpiresAt: now - 1 }),
      record('fresh', { queuedAt: now, leaseExpiresAt: now + HOUR }),
      record('after', { queuedAt: now, leaseExpiresAt: now + HOUR }),
    ];
    const checked = await importRecords(ctx, parseScope(scope), records.slice(0, 1), {
      mode: 'check',
    });
    expect(checked).toEqual(['expired']);
    // one more: the runs the outbox alone can decide are not decided, and the call stops there
    await h.client.hset(keys.expired, `another:${now}`, `\n0\n${now}\nx`);
    const statuses = await importRecords(ctx, parseScope(scope), records.slice(1), {
      mode: 'write',
      checkpoint: 'copy:9',
    });
    expect(statuses).toEqual(['exists', 'ended', 'lapsed', 'unchecked']);
    expect(await h.client.hget(migration.state, 'cursor')).toBeNull();
    expect((await listAll(store, scope)).map((r) => r.id)).toEqual(['native']);
    expect(uncheckedError(parseScope(scope), 'fresh')).toMatchObject({ code: 'CONFLICT' });
  });

  it('allocates source ranks like enqueue, and counts runs past the 127th source', async () => {
    const store = h.store();
    const ctx = contextFor(store);
    const now = await serverNow();
    await store.enqueue(scope, { id: 'pre', source: 's0' });
    const records = Array.from({ length: 130 }, (_, i) =>
      record(`r${i}`, { queuedAt: now - i, leaseExpiresAt: now + HOUR, source: `s${i}` }),
    );
    const statuses = await importRecords(ctx, parseScope(scope), records, { mode: 'write' });
    expect(statuses.filter((s) => s === 'inserted')).toHaveLength(127);
    expect(statuses.slice(127)).toEqual([
      'too-many-sources',
      'too-many-sources',
      'too-many-sources',
    ]);
    const runs = await listAll(store, scope);
    await expectConsistent(h.client, store, scope, runs);
    for (const source of ['s0', 's5', 's126']) {
      const page = await store.list(scope, { source, limit: 10 });
      expect(
        page.items.every((r) => r.source === source),
        source,
      ).toBe(true);
      expect(page.total).toBe(source === 's0' ? 2 : 1);
    }
    // ending every run of a source frees its rank for an import
    await store.end(scope, 'r5');
    const retry = await importRecords(ctx, parseScope(scope), [records[128]!], { mode: 'write' });
    expect(retry).toEqual(['inserted']);
    expect((await store.list(scope, { source: 's128' })).items.map((r) => r.id)).toEqual(['r128']);
    await expectConsistent(h.client, store, scope, await listAll(store, scope));
  });

  it("publishes one event per inserted run, numbered after the scope's own", async () => {
    const store = h.store();
    const ctx = contextFor(store);
    const events: RunEvent[] = [];
    const unsubscribe = await store.subscribe(scope, (event) => void events.push(event));
    await store.enqueue(scope, { id: 'first' });
    const now = await serverNow();
    await importRecords(
      ctx,
      parseScope(scope),
      [
        record('a', { queuedAt: now, leaseExpiresAt: now + HOUR }),
        record('first', { queuedAt: now, leaseExpiresAt: now + HOUR }),
        record('b', { queuedAt: now - 1, startedAt: now, leaseExpiresAt: now + HOUR }),
      ],
      { mode: 'write' },
    );
    for (let i = 0; i < 50 && events.length < 4; i++) await sleep(20);
    unsubscribe();
    const changes = events.filter((e) => e.type !== 'gap') as Extract<
      RunEvent,
      { run: ActiveRun }
    >[];
    expect(changes.map((e) => [e.type, e.run.id, e.seq])).toEqual([
      ['queued', 'first', 1],
      ['queued', 'a', 2],
      ['started', 'b', 3],
    ]);
    expect(events.some((e) => e.type === 'gap' && e.reason !== 'subscribed')).toBe(false);
  });

  it('publishes nothing while nobody listens on the node; the sequence advances anyway', async () => {
    const store = h.store();
    const ctx = contextFor(store);
    const keys = scopeKeys(store.prefix, parseScope(scope));
    const monitor = await monitorCommands(
      h.client,
      (args) => /^s?publish$/i.test(String(args[0])) && args[1] === keys.events,
    );
    try {
      const now = await serverNow();
      const statuses = await importRecords(
        ctx,
        parseScope(scope),
        [
          record('a', { queuedAt: now, leaseExpiresAt: now + HOUR }),
          record('b', { queuedAt: now - 1, startedAt: now, leaseExpiresAt: now + HOUR }),
        ],
        { mode: 'write' },
      );
      expect(statuses).toEqual(['inserted', 'inserted']);
      await monitor.flush(`${keys.events}:marker`);
      expect(monitor.seen).toEqual([]);
      expect(await h.client.hget(keys.meta, 'seq')).toBe('2');
    } finally {
      monitor.stop();
    }
  });

  it('check mode decides without writing anything', async () => {
    const store = h.store();
    const ctx = contextFor(store);
    const now = await serverNow();
    await store.enqueue(scope, { id: 'x' });
    const before = await snapshot(store);
    const statuses = await importRecords(
      ctx,
      parseScope(scope),
      [
        record('x', { queuedAt: now, leaseExpiresAt: now + HOUR }),
        record('y', { queuedAt: now, leaseExpiresAt: now + HOUR, source: 'new' }),
        record('z', { queuedAt: now - HOUR, leaseExpiresAt: now - 1 }),
      ],
      { mode: 'check', checkpoint: 'copy:42' },
    );
    expect(statuses).toEqual(['exists', 'inserted', 'lapsed']);
    expect(await snapshot(store)).toEqual(before);
  });

  it('stores the checkpoint with the batch, atomically', async () => {
    const store = h.store();
    const ctx = contextFor(store);
    const now = await serverNow();
    await importRecords(
      ctx,
      parseScope(scope),
      [record('a', { queuedAt: now, leaseExpiresAt: now + HOUR })],
      { mode: 'write', checkpoint: 'copy:17' },
    );
    const migration = migrationKeys(store.prefix, parseScope(scope));
    expect(await h.client.hget(migration.state, 'cursor')).toBe('copy:17');
    expect(await h.client.pttl(migration.state)).toBe(-1);
  });

  it('stops at its time budget and says how far it got; the caller sends the rest', async () => {
    const store = h.store();
    const now = await serverNow();
    const keys = await allKeys(store);
    const call = (budget: number, ids: string[]) =>
      (h.client as unknown as Record<string, (...a: unknown[]) => Promise<number[]>>)[
        SCRIPTS.import.command
      ]!(
        ...keys,
        keys[0]!.replace(/^.*\{(.*)\}.*$/, '$1'),
        HOUR,
        'ch',
        '0',
        127,
        'write',
        budget,
        '',
        ...ids.flatMap((id) => [
          id,
          now,
          '',
          now + HOUR,
          '',
          '',
          JSON.stringify({ pad: 'x'.repeat(2000) }),
        ]),
      );
    const ids = Array.from({ length: 1000 }, (_, i) => `id${i}`);
    const partial = await call(1, ids);
    const done = partial[0]!;
    expect(done).toBeGreaterThanOrEqual(1);
    expect(partial).toHaveLength(done + 1);
    const rest = await call(0, ids.slice(done));
    expect(rest[0]).toBe(1000 - done);
    expect(await h.client.hlen(keys[0]!)).toBe(1000);
    await expectConsistent(h.client, store, scope, await listAll(store, scope));
  });

  for (const [i, name] of [
    'runs',
    'index',
    'bySource',
    'lease',
    'meta',
    'registry',
    'outbox',
    'tombstones',
    'state',
  ].entries()) {
    it(`with the ${name} key of the wrong type, it fails and writes nothing`, async () => {
      const store = h.store();
      const ctx = contextFor(store);
      const now = await serverNow();
      await store.enqueue(scope, { id: 'x', source: 'api' });
      const key = (await allKeys(store))[i]!;
      const saved = await h.client.dumpBuffer(key);
      await h.client.del(key);
      await h.client.set(key, 'intruder');
      const before = await snapshot(store);
      const error = await importRecords(
        ctx,
        parseScope(scope),
        [
          record('a', { queuedAt: now, leaseExpiresAt: now + HOUR, source: 'api' }),
          record('b', { queuedAt: now, startedAt: now, leaseExpiresAt: now + HOUR, source: 'web' }),
        ],
        { mode: 'write', checkpoint: 'copy:1' },
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ActiveRunsError);
      expect(await snapshot(store)).toEqual(before);
      await h.client.del(key);
      if (saved) await h.client.restore(key, 0, saved);
    });
  }
});

describe('import interleaved with store writes keeps every invariant (model)', () => {
  it('random imports, enqueues, starts, ends', async () => {
    const IDS = ['a', 'b', 'c', 'd', 'e'];
    const SOURCES = [null, 'api', 'web'];
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('import' as const),
        runs: fc.array(
          fc.record({
            id: fc.constantFrom(...IDS),
            running: fc.boolean(),
            source: fc.constantFrom(...SOURCES),
            ago: fc.integer({ min: 0, max: 5 }),
          }),
          { minLength: 1, maxLength: 4 },
        ),
      }),
      fc.record({
        kind: fc.constantFrom('enqueue' as const, 'start' as const, 'end' as const),
        id: fc.constantFrom(...IDS),
        source: fc.constantFrom(...SOURCES),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        const store = h.store();
        const ctx = contextFor(store);
        const model = new Map<string, ActiveRun>();
        for (const o of ops) {
          if (o.kind === 'import') {
            const now = await serverNow();
            const records = o.runs.map((r) =>
              record(r.id, {
                queuedAt: now - 10 - r.ago,
                startedAt: r.running ? now - r.ago : null,
                source: r.source,
                leaseExpiresAt: now + HOUR,
              }),
            );
            const statuses = await importRecords(ctx, parseScope(scope), records, {
              mode: 'write',
            });
            records.forEach((rec, k) => {
              expect(statuses[k]).toBe(model.has(rec.run.id) ? 'exists' : 'inserted');
              if (!model.has(rec.run.id)) model.set(rec.run.id, rec.run);
            });
          } else if (o.kind === 'enqueue') {
            if (model.has(o.id)) continue;
            model.set(o.id, await store.enqueue(scope, { id: o.id, source: o.source }));
          } else if (o.kind === 'start') {
            if (!model.has(o.id)) continue;
            model.set(o.id, await store.start(scope, o.id));
          } else {
            if (!model.has(o.id)) continue;
            await store.end(scope, o.id);
            model.delete(o.id);
          }
          const runs = await listAll(store, scope);
          expect(runs).toEqual(listOrder(model.values()));
          await expectConsistent(h.client, store, scope, runs);
        }
        await store.close();
      }),
      { numRuns: 25 },
    );
  });
});
