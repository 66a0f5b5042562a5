import { describe, expect, it } from 'vitest';
import type { ActiveRun, ActiveRunStore, ListOptions, Scope } from '../src/index.js';
import { codeOf } from './expect-failure.js';
import { sleep, useStoreHarness } from './harness.js';

const h = useStoreHarness();
const scope: Scope = { workspaceId: 'w1', projectId: 'p1' };
const otherScope: Scope = { workspaceId: 'w1', projectId: 'p2' };

/** Every run matching the options, following nextCursor to the end. */
async function walk(
  store: ActiveRunStore,
  s: Scope,
  options: Omit<ListOptions, 'cursor'> = {},
): Promise<{ pages: ActiveRun[][]; totals: number[] }> {
  const pages: ActiveRun[][] = [];
  const totals: number[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list(s, { ...options, cursor });
    pages.push(page.items);
    totals.push(page.total);
    cursor = page.nextCursor;
    if (pages.length > 1_000) throw new Error('cursor walk does not end');
  } while (cursor);
  return { pages, totals };
}

const ids = (runs: ActiveRun[]) => runs.map((r) => r.id);

/**
 * A fixed scope with ties on both phases. The expected order is written out by hand:
 * running by startedAt desc, then queued by queuedAt desc, equal times by id descending by bytes.
 */
interface Fixture {
  id: string;
  queuedAt: number;
  startedAt?: number;
  source?: string;
}
const FIXTURE: Fixture[] = [
  { id: 'q1', queuedAt: 1_000, source: 'web' },
  { id: 'q2', queuedAt: 3_000, source: 'api' },
  { id: 'r1', queuedAt: 100, startedAt: 5_000, source: 'api' },
  { id: 'r2', queuedAt: 9_000, startedAt: 4_000, source: 'web' },
  { id: 'r3', queuedAt: 200, startedAt: 4_000 },
  { id: 'r4', queuedAt: 300, startedAt: 4_000, source: 'web' },
  { id: 'r0', queuedAt: 10, startedAt: 50, source: 'api' },
  // ties at queuedAt 2000, ids chosen so byte order differs from case-insensitive / numeric order
  { id: 'b', queuedAt: 2_000, source: 'web' },
  { id: 'a', queuedAt: 2_000, source: 'api' },
  { id: 'B', queuedAt: 2_000 },
  { id: 'aa', queuedAt: 2_000, source: 'web' },
  { id: 'a~', queuedAt: 2_000, source: 'api' },
  { id: '~', queuedAt: 2_000 },
  { id: '!', queuedAt: 2_000, source: 'web' },
  { id: '0', queuedAt: 2_000, source: 'api' },
  { id: 'Z', queuedAt: 2_000, source: 'web' },
];
const EXPECTED_ORDER = [
  'r1',
  'r4',
  'r3',
  'r2',
  'r0',
  'q2',
  '~',
  'b',
  'a~',
  'aa',
  'a',
  'Z',
  'B',
  '0',
  '!',
  'q1',
];
const byId = new Map(FIXTURE.map((f) => [f.id, f]));
const expectedFor = (options: { status?: 'queued' | 'running'; source?: string }) =>
  EXPECTED_ORDER.filter((id) => {
    const f = byId.get(id)!;
    if (options.status && (f.startedAt === undefined ? 'queued' : 'running') !== options.status) {
      return false;
    }
    return !options.source || f.source === options.source;
  });

async function seedFixture(store: ActiveRunStore, s: Scope = scope): Promise<void> {
  for (const f of FIXTURE) {
    await store.enqueue(s, { id: f.id, queuedAt: f.queuedAt, source: f.source ?? null });
    if (f.startedAt !== undefined) await store.start(s, f.id, { startedAt: f.startedAt });
  }
}

const FILTERS: { status?: 'queued' | 'running'; source?: string }[] = [
  {},
  { status: 'queued' },
  { status: 'running' },
  { source: 'api' },
  { source: 'web' },
  { status: 'queued', source: 'api' },
  { status: 'running', source: 'api' },
  { status: 'queued', source: 'web' },
  { status: 'running', source: 'web' },
];

describe('list: order, filters and totals', () => {
  it('orders running by startedAt desc, then queued by queuedAt desc, ties by id bytes desc', async () => {
    const store = h.store();
    await seedFixture(store);
    const page = await store.list(scope, { limit: 500 });
    expect(ids(page.items)).toEqual(EXPECTED_ORDER);
    expect(page.total).toBe(FIXTURE.length);
    expect(page.nextCursor).toBeNull();
    // items carry the full state a user sees
    const r2 = page.items.find((r) => r.id === 'r2')!;
    expect(r2).toMatchObject({
      status: 'running',
      queuedAt: 9_000,
      startedAt: 4_000,
      source: 'web',
      caption: null,
      data: null,
    });
    const tilde = page.items.find((r) => r.id === '~')!;
    expect(tilde).toMatchObject({
      status: 'queued',
      queuedAt: 2_000,
      startedAt: null,
      source: null,
    });
    for (const run of page.items) expect(await store.get(scope, run.id)).toEqual(run);
  });

  it.each(FILTERS)(
    'filter %o returns exactly the matching runs, in order, with their total',
    async (filter) => {
      const store = h.store();
      await seedFixture(store);
      const expected = expectedFor(filter);
      expect(expected.length).toBeGreaterThan(0);
      const page = await store.list(scope, { ...filter, limit: 500 });
      expect(ids(page.items)).toEqual(expected);
      expect(page.total).toBe(expected.length);
      expect(page.nextCursor).toBeNull();
      for (const run of page.items) {
        if (filter.status) expect(run.status).toBe(filter.status);
        if (filter.source) expect(run.source).toBe(filter.source);
      }
      // the same through small cursor pages
      for (const limit of [1, 2, 3, 5]) {
        const { pages, totals } = await walk(store, scope, { ...filter, limit });
        expect(ids(pages.flat())).toEqual(expected);
        for (const p of pages.slice(0, -1)) expect(p).toHaveLength(limit);
        for (const total of totals) expect(total).toBe(expected.length);
      }
    },
  );

  it('a source filter only returns that source even when other sources sort above it', async () => {
    // api gets the first source rank, web the second: web's runs must not leak into api's pages
    const store = h.store();
    await store.enqueue(scope, { id: 'api-old', source: 'api', queuedAt: 1_000 });
    await store.enqueue(scope, { id: 'web-new', source: 'web', queuedAt: 2_000 });
    await store.enqueue(scope, { id: 'none', queuedAt: 3_000 });
    expect(await store.list(scope, { source: 'api' })).toMatchObject({
      items: [{ id: 'api-old' }],
      total: 1,
      nextCursor: null,
    });
    expect(ids((await store.list(scope, { source: 'api' })).items)).toEqual(['api-old']);
    expect(ids((await store.list(scope, { source: 'web' })).items)).toEqual(['web-new']);
    expect(ids((await store.list(scope)).items)).toEqual(['none', 'web-new', 'api-old']);
  });

  it('a source no run has (never, or not any more) gives an empty page with total 0', async () => {
    const store = h.store();
    await seedFixture(store);
    expect(await store.list(scope, { source: 'nobody' })).toEqual({
      items: [],
      total: 0,
      nextCursor: null,
    });
    expect(await store.list(scope, { source: 'nobody', status: 'running' })).toEqual({
      items: [],
      total: 0,
      nextCursor: null,
    });
    await store.enqueue(scope, { id: 'gone', source: 'eval' });
    await store.end(scope, 'gone');
    expect(await store.list(scope, { source: 'eval' })).toEqual({
      items: [],
      total: 0,
      nextCursor: null,
    });
    // an empty scope
    expect(await store.list(otherScope)).toEqual({ items: [], total: 0, nextCursor: null });
  });

  it('a status filter with no matching runs gives an empty page with total 0', async () => {
    const store = h.store();
    await store.enqueue(scope, { id: 'only-queued', source: 'api' });
    expect(await store.list(scope, { status: 'running' })).toEqual({
      items: [],
      total: 0,
      nextCursor: null,
    });
    expect(await store.list(scope, { status: 'running', source: 'api' })).toEqual({
      items: [],
      total: 0,
      nextCursor: null,
    });
  });
});

describe('list: offset paging', () => {
  it('page/pageSize pages equal slices of the cursor walk, for every filter', async () => {
    const store = h.store();
    await seedFixture(store);
    for (const filter of FILTERS) {
      const all = ids((await walk(store, scope, { ...filter, limit: 500 })).pages.flat());
      for (const pageSize of [1, 3, 7]) {
        const cursorPages = (await walk(store, scope, { ...filter, limit: pageSize })).pages;
        const lastPage = Math.ceil(all.length / pageSize);
        for (let p = 1; p <= lastPage; p++) {
          const page = await store.list(scope, { ...filter, page: p, pageSize });
          const slice = all.slice((p - 1) * pageSize, p * pageSize);
          expect(ids(page.items), `${JSON.stringify(filter)} page ${p}/${pageSize}`).toEqual(slice);
          expect(ids(page.items)).toEqual(ids(cursorPages[p - 1]!));
          expect(page.total).toBe(all.length);
        }
        // limit works as the page size too, and limit === pageSize is accepted
        const viaLimit = await store.list(scope, { ...filter, page: lastPage, limit: pageSize });
        expect(ids(viaLimit.items)).toEqual(all.slice((lastPage - 1) * pageSize));
        const both = await store.list(scope, { ...filter, page: 1, limit: pageSize, pageSize });
        expect(ids(both.items)).toEqual(all.slice(0, pageSize));
      }
    }
  });

  it('a page beyond the end is empty, with the total and no cursor', async () => {
    const store = h.store();
    await seedFixture(store);
    const n = FIXTURE.length;
    expect(await store.list(scope, { page: 2, pageSize: n })).toEqual({
      items: [],
      total: n,
      nextCursor: null,
    });
    expect(await store.list(scope, { page: 50, pageSize: 3 })).toEqual({
      items: [],
      total: n,
      nextCursor: null,
    });
    const running = expectedFor({ status: 'running' }).length;
    expect(await store.list(scope, { page: 3, pageSize: running, status: 'running' })).toEqual({
      items: [],
      total: running,
      nextCursor: null,
    });
  });

  it('page 1 without pageSize uses the default page size of 25', async () => {
    const store = h.store();
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => store.enqueue(scope, { id: `r${i}`, queuedAt: i })),
    );
    const one = await store.list(scope, { page: 1 });
    expect(ids(one.items)).toEqual(Array.from({ length: 25 }, (_, i) => `r${29 - i}`));
    const two = await store.list(scope, { page: 2 });
    expect(ids(two.items)).toEqual(['r4', 'r3', 'r2', 'r1', 'r0']);
    expect(two.total).toBe(30);
  });
});

describe('list: page size', () => {
  it('defaults to 25 and returns at most 500 per page', async () => {
    const store = h.store();
    const n = 501;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        store.enqueue(scope, { id: `run-${String(i).padStart(3, '0')}`, queuedAt: 10_000 + i }),
      ),
    );
    const expected = Array.from(
      { length: n },
      (_, i) => `run-${String(n - 1 - i).padStart(3, '0')}`,
    );
    const first = await store.list(scope);
    expect(ids(first.items)).toEqual(expected.slice(0, 25));
    expect(first.total).toBe(n);
    expect(first.nextCursor).not.toBeNull();

    const big = await store.list(scope, { limit: 500 });
    expect(ids(big.items)).toEqual(expected.slice(0, 500));
    expect(big.nextCursor).not.toBeNull();
    const rest = await store.list(scope, { limit: 500, cursor: big.nextCursor });
    expect(ids(rest.items)).toEqual(expected.slice(500));
    expect(rest.nextCursor).toBeNull();

    const offset = await store.list(scope, { page: 1, pageSize: 500 });
    expect(ids(offset.items)).toEqual(expected.slice(0, 500));
    expect(ids((await store.list(scope, { page: 2, pageSize: 500 })).items)).toEqual(
      expected.slice(500),
    );
    expect(await codeOf(store.list(scope, { limit: 501 }))).toBe('INVALID_ARGUMENT');
  });

  it('a page exactly as large as the rest has no next cursor (no empty trailing page)', async () => {
    const store = h.store();
    await seedFixture(store);
    const page = await store.list(scope, { limit: FIXTURE.length });
    expect(page.items).toHaveLength(FIXTURE.length);
    expect(page.nextCursor).toBeNull();
    const almost = await store.list(scope, { limit: FIXTURE.length - 1 });
    expect(almost.nextCursor).not.toBeNull();
    const last = await store.list(scope, {
      limit: FIXTURE.length - 1,
      cursor: almost.nextCursor,
    });
    expect(ids(last.items)).toEqual(EXPECTED_ORDER.slice(-1));
    expect(last.nextCursor).toBeNull();
  });
});

describe('list: invalid arguments', () => {
  it.each<[string, unknown]>([
    ['limit 0', { limit: 0 }],
    ['limit -1', { limit: -1 }],
    ['limit NaN', { limit: Number.NaN }],
    ['limit 1.5', { limit: 1.5 }],
    ['limit 501', { limit: 501 }],
    ['limit Infinity', { limit: Number.POSITIVE_INFINITY }],
    ['limit as a string', { limit: '10' }],
    ['pageSize 0', { page: 1, pageSize: 0 }],
    ['pageSize 501', { page: 1, pageSize: 501 }],
    ['pageSize 2.5', { page: 1, pageSize: 2.5 }],
    ['page 0', { page: 0 }],
    ['page -1', { page: -1 }],
    ['page 1.5', { page: 1.5 }],
    ['page NaN', { page: Number.NaN }],
    ['page beyond 10,000 rows (default size)', { page: 401 }],
    ['page beyond 10,000 rows (pageSize 500)', { page: 21, pageSize: 500 }],
    ['page beyond 10,000 rows (pageSize 1)', { page: 10_001, pageSize: 1 }],
    ['page very deep', { page: 1e9, pageSize: 100 }],
    ['limit differs from pageSize', { limit: 10, pageSize: 20 }],
    ['limit differs from pageSize, with page', { page: 1, limit: 10, pageSize: 20 }],
    ['unknown key offset', { offset: 10 }],
    ['unknown key sort', { sort: 'asc' }],
    ['misspelt key pagesize', { page: 1, pagesize: 10 }],
    ['status done', { status: 'done' }],
    ['status QUEUED', { status: 'QUEUED' }],
    ['status all', { status: 'all' }],
    ['status empty', { status: '' }],
    ['source with a space', { source: 'a b' }],
    ['source with a colon', { source: 'a:b' }],
    ['source with a brace', { source: 'a{b' }],
    ['source empty', { source: '' }],
    ['source too long', { source: 'x'.repeat(65) }],
    ['source a number', { source: 7 }],
    ['options not an object', 'all'],
    ['cursor a number', { cursor: 5 }],
  ])('%s is INVALID_ARGUMENT', async (_, options) => {
    const store = h.store();
    await store.enqueue(scope, { id: 'x', source: 'api' });
    expect(await codeOf(store.list(scope, options as ListOptions))).toBe('INVALID_ARGUMENT');
  });

  it('accepts the deepest offset page (page * pageSize = 10,000)', async () => {
    const store = h.store();
    await store.enqueue(scope, { id: 'x' });
    expect(await store.list(scope, { page: 400 })).toEqual({
      items: [],
      total: 1,
      nextCursor: null,
    });
    expect((await store.list(scope, { page: 20, pageSize: 500 })).items).toEqual([]);
    expect((await store.list(scope, { page: 10_000, pageSize: 1 })).items).toEqual([]);
  });

  it('cursor and page together is INVALID_ARGUMENT', async () => {
    const store = h.store();
    await seedFixture(store);
    const { nextCursor } = await store.list(scope, { limit: 2 });
    expect(nextCursor).not.toBeNull();
    expect(await codeOf(store.list(scope, { limit: 2, cursor: nextCursor, page: 1 }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(await codeOf(store.list(scope, { cursor: nextCursor, page: 2, pageSize: 2 }))).toBe(
      'INVALID_ARGUMENT',
    );
  });
});

describe('list: edited or foreign cursors are refused, never a wrong page', () => {
  async function cursorFor(store: ActiveRunStore, s: Scope, options: ListOptions = {}) {
    const page = await store.list(s, { limit: 2, ...options });
    expect(page.nextCursor).not.toBeNull();
    return page.nextCursor!;
  }

  it('every single-character edit of a cursor is refused', async () => {
    const store = h.store();
    await seedFixture(store);
    const cursor = await cursorFor(store, scope);
    // the cursor itself works and continues after the first page
    expect(ids((await store.list(scope, { limit: 2, cursor })).items)).toEqual(
      EXPECTED_ORDER.slice(2, 4),
    );
    const dot = cursor.indexOf('.');
    expect(dot).toBeGreaterThan(0);
    const edited = new Set<string>();
    for (let i = 0; i < cursor.length; i++) {
      for (const replacement of ['A', 'z', '_', '0']) {
        if (cursor[i] === replacement) continue;
        edited.add(cursor.slice(0, i) + replacement + cursor.slice(i + 1));
      }
    }
    // and the base64 of a forged position, signed with the original signature
    const forged = Buffer.from(JSON.stringify([1, 2_000, 'a'])).toString('base64url');
    edited.add(`${forged}${cursor.slice(dot)}`);
    for (const bad of edited) {
      expect(await codeOf(store.list(scope, { limit: 2, cursor: bad })), bad).toBe(
        'INVALID_ARGUMENT',
      );
    }
  });

  it('a truncated or extended cursor is refused', async () => {
    const store = h.store();
    await seedFixture(store);
    const cursor = await cursorFor(store, scope);
    for (let length = 1; length < cursor.length; length++) {
      const bad = cursor.slice(0, length);
      expect(await codeOf(store.list(scope, { limit: 2, cursor: bad })), bad).toBe(
        'INVALID_ARGUMENT',
      );
    }
    for (const bad of [`${cursor}A`, `${cursor}.`, `A${cursor}`, `${cursor} `]) {
      expect(await codeOf(store.list(scope, { limit: 2, cursor: bad })), bad).toBe(
        'INVALID_ARGUMENT',
      );
    }
  });

  it('garbage strings are refused', async () => {
    const store = h.store();
    await seedFixture(store);
    for (const bad of [
      'abc',
      '.',
      '..',
      'a.b',
      '.abc',
      'null',
      '0',
      '{}',
      'x'.repeat(10_000),
      'žluťoučký.kůň',
      '🐎',
      '\n',
      'eyJ.eyJ',
    ]) {
      expect(await codeOf(store.list(scope, { cursor: bad })), bad).toBe('INVALID_ARGUMENT');
    }
  });

  it('a cursor from another scope, store prefix or secret is refused', async () => {
    const store = h.store();
    await seedFixture(store, scope);
    await seedFixture(store, otherScope);
    const foreign = await cursorFor(store, otherScope);
    expect(await codeOf(store.list(scope, { limit: 2, cursor: foreign }))).toBe('INVALID_ARGUMENT');
    // integer and string forms of a scope are the same scope, so its cursors are interchangeable
    const numeric = { workspaceId: 5, projectId: 6 };
    await seedFixture(store, numeric);
    const numericCursor = await cursorFor(store, numeric);
    expect(
      ids(
        (
          await store.list(
            { workspaceId: '5', projectId: '6' },
            { limit: 2, cursor: numericCursor },
          )
        ).items,
      ),
    ).toEqual(EXPECTED_ORDER.slice(2, 4));

    const otherPrefix = h.store();
    await seedFixture(otherPrefix, scope);
    const fromOtherPrefix = await cursorFor(otherPrefix, scope);
    expect(await codeOf(store.list(scope, { limit: 2, cursor: fromOtherPrefix }))).toBe(
      'INVALID_ARGUMENT',
    );

    const secretA = h.store({ cursorSecret: 'a-secret-of-sixteen-chars' });
    const secretB = h.store({ prefix: secretA.prefix, cursorSecret: 'another-secret-16-chars' });
    await seedFixture(secretA, scope);
    const signedA = await cursorFor(secretA, scope);
    expect(ids((await secretA.list(scope, { limit: 2, cursor: signedA })).items)).toEqual(
      EXPECTED_ORDER.slice(2, 4),
    );
    expect(await codeOf(secretB.list(scope, { limit: 2, cursor: signedA }))).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('a cursor made for another status or source filter is refused', async () => {
    const store = h.store();
    await seedFixture(store);
    const cursors = new Map<string, string>();
    for (const filter of FILTERS) {
      cursors.set(JSON.stringify(filter), await cursorFor(store, scope, { ...filter, limit: 1 }));
    }
    for (const [madeFor, cursor] of cursors) {
      for (const filter of FILTERS) {
        const usedWith = JSON.stringify(filter);
        const call = store.list(scope, { ...filter, limit: 1, cursor });
        if (usedWith === madeFor) {
          const page = await call;
          expect(ids(page.items)).toEqual(expectedFor(filter).slice(1, 2));
        } else {
          expect(await codeOf(call), `made for ${madeFor}, used with ${usedWith}`).toBe(
            'INVALID_ARGUMENT',
          );
        }
      }
    }
  });
});

describe('list: lapsed runs are never listed', () => {
  const LIVE_LEASE = 60_000;

  it('lapsed runs are excluded from items and totals, for every filter', async () => {
    const store = h.store({ leaseMs: 200 });
    // the fixture lapses; a few live runs with a long lease sit between them
    await seedFixture(store);
    const live: Fixture[] = [
      { id: 'live-q-api', queuedAt: 2_500, source: 'api' },
      { id: 'live-q', queuedAt: 500 },
      { id: 'live-r-web', queuedAt: 1, startedAt: 4_500, source: 'web' },
      { id: 'live-r', queuedAt: 1, startedAt: 20 },
    ];
    for (const f of live) {
      await store.enqueue(scope, {
        id: f.id,
        queuedAt: f.queuedAt,
        source: f.source ?? null,
        leaseMs: LIVE_LEASE,
      });
      if (f.startedAt !== undefined) {
        await store.start(scope, f.id, { startedAt: f.startedAt, leaseMs: LIVE_LEASE });
      }
    }
    await sleep(400);
    const expected: Record<string, string[]> = {
      '{}': ['live-r-web', 'live-r', 'live-q-api', 'live-q'],
      '{"status":"queued"}': ['live-q-api', 'live-q'],
      '{"status":"running"}': ['live-r-web', 'live-r'],
      '{"source":"api"}': ['live-q-api'],
      '{"source":"web"}': ['live-r-web'],
      '{"status":"queued","source":"api"}': ['live-q-api'],
      '{"status":"running","source":"api"}': [],
      '{"status":"queued","source":"web"}': [],
      '{"status":"running","source":"web"}': ['live-r-web'],
    };
    for (const filter of FILTERS) {
      const want = expected[JSON.stringify(filter)]!;
      const page = await store.list(scope, { ...filter, limit: 500 });
      expect(ids(page.items), JSON.stringify(filter)).toEqual(want);
      expect(page.total).toBe(want.length);
      for (const limit of [1, 2]) {
        const { pages, totals } = await walk(store, scope, { ...filter, limit });
        expect(ids(pages.flat()), `${JSON.stringify(filter)} limit ${limit}`).toEqual(want);
        for (const total of totals) expect(total).toBe(want.length);
      }
    }
  });

  it('more lapsed runs than a page at the top: following nextCursor yields exactly the live runs', async () => {
    const store = h.store({ leaseMs: 200 });
    // 40 lapsed runs, newest of all (queued and running, with and without source)
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        store.enqueue(scope, {
          id: `lapsed-${i}`,
          queuedAt: 100_000 + i,
          source: i % 2 === 0 ? 'api' : null,
        }),
      ),
    );
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.start(scope, `lapsed-${i}`, { startedAt: 200_000 + i }),
      ),
    );
    const liveIds: string[] = [];
    for (let i = 0; i < 7; i++) {
      const id = `live-${i}`;
      liveIds.unshift(id); // newest first
      await store.enqueue(scope, {
        id,
        queuedAt: 1_000 + i,
        source: i % 2 === 0 ? 'api' : null,
        leaseMs: LIVE_LEASE,
      });
    }
    await sleep(400);
    for (const filter of [{}, { status: 'queued' as const }, { source: 'api' }]) {
      const want = liveIds.filter((id) => !filter.source || Number(id.slice(5)) % 2 === 0);
      for (const limit of [1, 3, 5]) {
        const { pages, totals } = await walk(store, scope, { ...filter, limit });
        expect(ids(pages.flat()), `${JSON.stringify(filter)} limit ${limit}`).toEqual(want);
        for (const p of pages) expect(p.length).toBeLessThanOrEqual(limit);
        for (const total of totals) expect(total).toBe(want.length);
      }
    }
    expect(await store.list(scope, { status: 'running' })).toEqual({
      items: [],
      total: 0,
      nextCursor: null,
    });
  });

  it('more lapsed runs than one call may step over: pages come back short but the walk finds every live run', async () => {
    const store = h.store({ leaseMs: 200 });
    const lapsedCount = 1_100; // more than LIST_LAPSED_SCAN_BUDGET
    for (let from = 0; from < lapsedCount; from += 250) {
      await Promise.all(
        Array.from({ length: Math.min(250, lapsedCount - from) }, (_, k) =>
          store.enqueue(scope, { id: `lapsed-${from + k}`, queuedAt: 100_000 + from + k }),
        ),
      );
    }
    const liveIds = ['live-4', 'live-3', 'live-2', 'live-1', 'live-0'];
    for (let i = 0; i < 5; i++) {
      await store.enqueue(scope, { id: `live-${i}`, queuedAt: 1_000 + i, leaseMs: LIVE_LEASE });
    }
    await sleep(400);
    const { pages, totals } = await walk(store, scope, { limit: 2 });
    expect(ids(pages.flat())).toEqual(liveIds);
    for (const total of totals) expect(total).toBe(5);
    // bounded: a handful of calls, not one per lapsed run
    expect(pages.length).toBeLessThan(10);
  });

  it('offset paging with lapsed runs at the top still returns the live runs', async () => {
    const store = h.store({ leaseMs: 200 });
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.enqueue(scope, { id: `lapsed-${i}`, queuedAt: 100_000 + i, source: 'api' }),
      ),
    );
    const liveIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const id = `live-${String(i).padStart(2, '0')}`;
      liveIds.unshift(id);
      await store.enqueue(scope, {
        id,
        queuedAt: 1_000 + i,
        source: 'api',
        leaseMs: LIVE_LEASE,
      });
    }
    // and a lapsed run between live ones
    await store.enqueue(scope, { id: 'lapsed-mid', queuedAt: 1_005, source: 'api' });
    await sleep(400);
    for (const filter of [{}, { source: 'api' }, { status: 'queued' as const }]) {
      for (const pageSize of [1, 5, 12]) {
        const pages = Math.ceil(liveIds.length / pageSize);
        for (let p = 1; p <= pages + 1; p++) {
          const page = await store.list(scope, { ...filter, page: p, pageSize });
          expect(ids(page.items), `${JSON.stringify(filter)} page ${p}/${pageSize}`).toEqual(
            liveIds.slice((p - 1) * pageSize, p * pageSize),
          );
          expect(page.total).toBe(liveIds.length);
        }
      }
    }
  });
});
