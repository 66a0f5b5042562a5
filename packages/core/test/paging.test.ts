import { describe, expect, it } from 'vitest';
import { decodeRun } from '../src/codec.js';
import type { ActiveRun, ActiveRunStore, ListOptions, RunCounts, Scope } from '../src/index.js';
import { ActiveRunsError, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { useStoreHarness } from './harness.js';
import type { Filter } from './list-model.js';
import { listOrder, matches } from './list-model.js';
import { monitorCommands } from './monitor.js';

const h = useStoreHarness();
const scope: Scope = { workspaceId: 'w1', projectId: 'p1' };

/** Small seeded PRNG (mulberry32), so a failure can be replayed with the logged seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

/** Position of a run in list order: higher comes first. */
interface Key {
  phase: number;
  time: number;
  id: string;
}
const keyOf = (run: Pick<ActiveRun, 'id' | 'status' | 'queuedAt' | 'startedAt'>): Key => ({
  phase: run.status === 'running' ? 1 : 0,
  time: run.status === 'running' ? run.startedAt! : run.queuedAt,
  id: run.id,
});
/** > 0 when a comes before b in list order (running by startedAt desc, queued by queuedAt desc, id bytes desc). */
function compareKeys(a: Key, b: Key): number {
  if (a.phase !== b.phase) return a.phase - b.phase;
  if (a.time !== b.time) return a.time - b.time;
  return Buffer.compare(Buffer.from(a.id), Buffer.from(b.id));
}
const ids = (runs: { id: string }[]) => runs.map((r) => r.id);

async function walk(store: ActiveRunStore, s: Scope, options: ListOptions): Promise<ActiveRun[]> {
  const out: ActiveRun[] = [];
  let cursor: string | null = options.cursor ?? null;
  for (let pages = 0; ; pages++) {
    if (pages > 10_000) throw new Error('cursor walk does not end');
    const page = await store.list(s, { ...options, cursor });
    out.push(...page.items);
    cursor = page.nextCursor;
    if (!cursor) return out;
  }
}

async function expectNotFoundOrConflict(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (
      !(error instanceof ActiveRunsError) ||
      (error.code !== 'NOT_FOUND' && error.code !== 'CONFLICT')
    ) {
      throw error;
    }
  }
}

// 'api' is the first source the scope sees (lowest source rank), 'web' the second.
const CONCURRENT_FILTERS: Filter[] = [
  {},
  { status: 'queued' },
  { status: 'running' },
  { source: 'api' },
  { source: 'web' },
  { status: 'running', source: 'web' },
];

describe('cursor paging while runs come and go', () => {
  it.each(CONCURRENT_FILTERS)(
    'filter %o: no duplicates, no skips of runs active throughout, in order',
    async (filter) => {
      const seed = 0x5eed + CONCURRENT_FILTERS.indexOf(filter);
      const r = rng(seed);
      const store = h.store();
      const sources = [null, 'api', 'web'] as const;

      // Runs that exist before the walk: ties in queuedAt and startedAt, mixed sources.
      const initial: ActiveRun[] = [];
      await store.enqueue(scope, { id: 'init-api', source: 'api', queuedAt: 1_000 });
      await store.enqueue(scope, { id: 'init-web', source: 'web', queuedAt: 1_000 });
      for (let i = 0; i < 100; i++) {
        await store.enqueue(scope, {
          id: `init-${i}`,
          queuedAt: r.int(1_000, 1_030),
          source: r.pick(sources),
        });
        if (r.next() < 0.5)
          await store.start(scope, `init-${i}`, { startedAt: r.int(5_000, 5_015) });
      }
      for (const run of await walk(store, scope, { limit: 500 })) initial.push(run);
      expect(initial).toHaveLength(102);

      // Bookkeeping, all in terms of list requests: request n is issued after every write that
      // had resolved before it, so it must reflect them.
      let requestsIssued = 0;
      const cursorKeyOfRequest: (Key | null)[] = [];
      const endedBeforeRequest = new Map<string, number>(); // id -> first request issued after its end
      const added = new Map<string, { run: ActiveRun; firstRequest: number }>();
      const alive = new Set(ids(initial)); // runs the writer may still end
      let newCount = 0;
      let writes = 0;
      let endsDone = 0;

      async function writeOnce(): Promise<void> {
        if (r.next() < 0.45 && alive.size > 0) {
          const id = r.pick([...alive]);
          alive.delete(id);
          await store.end(scope, id);
          endedBeforeRequest.set(id, requestsIssued);
          endsDone++;
        } else {
          const id = `new-${newCount++}`;
          let run = await store.enqueue(scope, {
            id,
            queuedAt: r.int(990, 1_040),
            source: r.pick(sources),
          });
          if (r.next() < 0.35)
            run = await store.start(scope, id, { startedAt: r.int(4_990, 5_020) });
          added.set(id, { run, firstRequest: requestsIssued });
          alive.add(id);
        }
        writes++;
      }

      // A writer running concurrently with the walk...
      let walking = true;
      const background = (async () => {
        while (walking && writes < 400) await writeOnce();
      })();

      // ...and the walk, which also lets at least two writes land between any two pages.
      const seen: { run: ActiveRun; request: number }[] = [];
      let cursor: string | null = null;
      let lastKey: Key | null = null;
      let pages = 0;
      try {
        do {
          const request = requestsIssued++;
          cursorKeyOfRequest[request] = lastKey;
          const page = await store.list(scope, { ...filter, limit: 2, cursor });
          pages++;
          for (const run of page.items) seen.push({ run, request });
          if (page.items.length > 0) lastKey = keyOf(page.items[page.items.length - 1]!);
          cursor = page.nextCursor;
          if (pages === 1) {
            // one run certain to match the filter and to sort below any cursor (the lowest
            // times), so the "added below the cursor appears" check never runs empty
            const id = 'below-every-cursor';
            let run = await store.enqueue(scope, {
              id,
              queuedAt: 900,
              source: filter.source ?? 'api',
            });
            if (filter.status === 'running')
              run = await store.start(scope, id, { startedAt: 4_900 });
            added.set(id, { run, firstRequest: requestsIssued });
            // and one end for certain, whatever the writer's timing
            const victim = [...alive].find((aliveId) => aliveId.startsWith('init-'));
            if (victim) {
              alive.delete(victim);
              await store.end(scope, victim);
              endedBeforeRequest.set(victim, requestsIssued);
              endsDone++;
            }
          }
          await writeOnce();
          await writeOnce();
          if (pages > 500) throw new Error('walk does not end');
        } while (cursor);
      } finally {
        walking = false;
        await background;
      }

      // the writer really interfered
      expect(pages).toBeGreaterThan(3);
      expect(writes).toBeGreaterThanOrEqual(2 * pages);
      expect(endsDone).toBeGreaterThan(0);
      expect(added.size).toBeGreaterThan(0);

      const seenIds = seen.map((s) => s.run.id);
      // no run twice
      expect(new Set(seenIds).size, `seed ${seed}`).toBe(seenIds.length);
      // every item matches the filter and the walk is in list order
      for (const { run } of seen) expect(matches(run, filter), run.id).toBe(true);
      for (let i = 1; i < seen.length; i++) {
        expect(
          compareKeys(keyOf(seen[i - 1]!.run), keyOf(seen[i]!.run)),
          `${seen[i - 1]!.run.id} before ${seen[i]!.run.id}`,
        ).toBeGreaterThan(0);
      }
      // no run shows up on a page requested after its end had resolved
      for (const { run, request } of seen) {
        const endedBy = endedBeforeRequest.get(run.id);
        if (endedBy !== undefined)
          expect(request, `${run.id} listed after its end`).toBeLessThan(endedBy);
      }
      // every run active throughout the walk appears exactly once, in order
      const stable = listOrder(
        initial.filter((run) => !endedBeforeRequest.has(run.id) && matches(run, filter)),
      );
      expect(stable.length).toBeGreaterThan(3);
      const stableIds = new Set(ids(stable));
      expect(
        seenIds.filter((id) => stableIds.has(id)),
        `seed ${seed}`,
      ).toEqual(ids(stable));
      // a run added below the cursor of a later request (and never ended) is not skipped
      let mustAppear = 0;
      for (const [id, { run, firstRequest }] of added) {
        if (endedBeforeRequest.has(id) || !matches(run, filter)) continue;
        if (firstRequest >= requestsIssued) continue; // added after the last page was requested
        const cursorKey = cursorKeyOfRequest[firstRequest];
        if (cursorKey === undefined) continue;
        if (cursorKey === null || compareKeys(cursorKey, keyOf(run)) > 0) {
          mustAppear++;
          expect(seenIds, `${id} added below the cursor was skipped (seed ${seed})`).toContain(id);
        }
      }
      expect(mustAppear).toBeGreaterThan(0);
    },
  );
});

describe('cursor paging: ties and ended cursor runs', () => {
  it('many runs with the same timestamp page correctly across page boundaries', async () => {
    const store = h.store();
    const tieIds = [
      'a',
      'b',
      'B',
      'Z',
      'aa',
      'a~',
      'a-1',
      'a-10',
      'a-9',
      '~',
      '!',
      '0',
      '00',
      '9',
      'zz',
      'z',
      'Aa',
      'aA',
      'x.y',
      'x_y',
      'x-y',
      'run-100',
      'run-99',
    ];
    const runs: ActiveRun[] = [];
    for (const [i, id] of tieIds.entries()) {
      runs.push(
        await store.enqueue(scope, { id, queuedAt: 7_000, source: i % 3 === 0 ? 'api' : null }),
      );
    }
    // a few running ones, all started at the same moment
    for (const id of ['b', 'Z', '!', 'a-9', 'x.y', 'run-99', 'aA']) {
      const run = await store.start(scope, id, { startedAt: 9_000 });
      runs[runs.findIndex((x) => x.id === id)] = run;
    }
    // and neighbours above and below the tie
    runs.push(await store.enqueue(scope, { id: 'newer', queuedAt: 7_001 }));
    runs.push(await store.enqueue(scope, { id: 'older', queuedAt: 6_999, source: 'api' }));

    for (const filter of [
      {},
      { status: 'queued' },
      { status: 'running' },
      { source: 'api' },
    ] as Filter[]) {
      const expected = ids(listOrder(runs.filter((run) => matches(run, filter))));
      for (const limit of [1, 2, 3, 4, 5, 7, 22, 23, 24]) {
        const walked = await walk(store, scope, { ...filter, limit });
        expect(ids(walked), `${JSON.stringify(filter)} limit ${limit}`).toEqual(expected);
      }
    }
    // sanity of the expected order itself: the tie is broken by bytes, descending
    expect(ids(listOrder(runs.filter((run) => run.status === 'running')))).toEqual([
      'x.y',
      'run-99',
      'b',
      'aA',
      'a-9',
      'Z',
      '!',
    ]);
  });

  it('continues at the right place when the cursor run was ended before the next page', async () => {
    const store = h.store();
    const times = [5, 5, 5, 5, 4, 4, 4, 3, 3, 3, 2, 1];
    const runs: ActiveRun[] = [];
    for (const [i, t] of times.entries()) {
      runs.push(await store.enqueue(scope, { id: `r${String(i).padStart(2, '0')}`, queuedAt: t }));
    }
    const order = ids(listOrder(runs));

    const page1 = await store.list(scope, { limit: 3 });
    expect(ids(page1.items)).toEqual(order.slice(0, 3));
    // the cursor's own run ends (a tie of the next run), then the next page is asked for
    await store.end(scope, order[2]!);
    const page2 = await store.list(scope, { limit: 3, cursor: page1.nextCursor });
    expect(ids(page2.items)).toEqual(order.slice(3, 6));
    expect(page2.total).toBe(times.length - 1);

    // the cursor run and the run right after it both end
    await store.end(scope, order[5]!);
    await store.end(scope, order[6]!);
    const page3 = await store.list(scope, { limit: 3, cursor: page2.nextCursor });
    expect(ids(page3.items)).toEqual(order.slice(7, 10));

    // the cursor run ends and comes back with the same id and time: it was already shown
    await store.end(scope, order[9]!);
    const { queuedAt } = runs.find((run) => run.id === order[9])!;
    await store.enqueue(scope, { id: order[9]!, queuedAt });
    const page4 = await store.list(scope, { limit: 3, cursor: page3.nextCursor });
    expect(ids(page4.items)).toEqual(order.slice(10));
    expect(page4.nextCursor).toBeNull();

    // every run after the cursor ended: an empty last page
    const fresh = await store.list(scope, { limit: 2 });
    for (const id of order.slice(2)) await expectNotFoundOrConflict(store.end(scope, id));
    expect(await store.list(scope, { limit: 2, cursor: fresh.nextCursor })).toEqual({
      items: [],
      total: 2,
      nextCursor: null,
    });
    // and when everything ended, the old cursor still answers an empty page
    for (const id of order.slice(0, 2)) await store.end(scope, id);
    expect(await store.list(scope, { limit: 2, cursor: fresh.nextCursor })).toEqual({
      items: [],
      total: 0,
      nextCursor: null,
    });
  });

  it.each<Filter>([{ status: 'running' }, { source: 'api' }, { status: 'queued', source: 'api' }])(
    'filter %o: an ended cursor run does not derail the next page',
    async (filter) => {
      const store = h.store();
      const runs: ActiveRun[] = [];
      for (let i = 0; i < 24; i++) {
        const id = `r${String(i).padStart(2, '0')}`;
        let run = await store.enqueue(scope, {
          id,
          queuedAt: 100 + (i % 3),
          source: i % 4 === 3 ? null : 'api',
        });
        if (i % 2 === 0) run = await store.start(scope, id, { startedAt: 200 + (i % 4) });
        runs.push(run);
      }
      const order = ids(listOrder(runs.filter((run) => matches(run, filter))));
      expect(order.length).toBeGreaterThanOrEqual(5);
      const page1 = await store.list(scope, { ...filter, limit: 2 });
      expect(ids(page1.items)).toEqual(order.slice(0, 2));
      await store.end(scope, order[1]!);
      const page2 = await store.list(scope, { ...filter, limit: 2, cursor: page1.nextCursor });
      expect(ids(page2.items)).toEqual(order.slice(2, 4));
      await store.end(scope, order[3]!);
      await store.end(scope, order[4]!);
      const rest = await walk(store, scope, { ...filter, limit: 2, cursor: page2.nextCursor });
      expect(ids(rest)).toEqual(order.slice(5));
    },
  );
});

describe('counts agree with a recount', () => {
  it('after a few hundred random operations on several scopes', async () => {
    const seed = 20_240_601;
    const store = h.store();
    const scopes: Scope[] = [
      { workspaceId: 1, projectId: 1 },
      { workspaceId: 1, projectId: 2 },
      { workspaceId: 'ws-2', projectId: 'p' },
      { workspaceId: 3, projectId: '9' },
    ];
    const sources = [null, null, 'api', 'web', 'eval', 'batch.v2'];
    // one random operation stream per scope, all running at once
    await Promise.all(
      scopes.map(async (s, n) => {
        const r = rng(seed + n);
        const idPool = Array.from({ length: 25 }, (_, i) => `run-${i}`);
        for (let op = 0; op < 90; op++) {
          const id = r.pick(idPool);
          const roll = r.next();
          if (roll < 0.4) {
            await expectNotFoundOrConflict(
              store.enqueue(s, {
                id,
                source: r.pick(sources),
                queuedAt: r.next() < 0.5 ? r.int(1, 50) : undefined,
              }),
            );
          } else if (roll < 0.6) {
            await expectNotFoundOrConflict(
              store.start(s, id, r.next() < 0.5 ? { startedAt: r.int(60, 90) } : undefined),
            );
          } else if (roll < 0.7) {
            await expectNotFoundOrConflict(store.progress(s, id, { caption: `op ${op}` }));
          } else if (roll < 0.78) {
            await expectNotFoundOrConflict(store.heartbeat(s, id));
          } else {
            await expectNotFoundOrConflict(store.end(s, id));
          }
        }
      }),
    );

    const recount = (runs: Pick<ActiveRun, 'status' | 'source'>[]): RunCounts => {
      const counts: RunCounts = { total: 0, byStatus: { queued: 0, running: 0 }, bySource: {} };
      for (const run of runs) {
        counts.total++;
        counts.byStatus[run.status]++;
        if (run.source) counts.bySource[run.source] = (counts.bySource[run.source] ?? 0) + 1;
      }
      return counts;
    };

    let nonEmpty = 0;
    for (const s of scopes) {
      const counts = await store.counts(s);
      if (counts.total > 0) nonEmpty++;

      const listed = await walk(store, s, { limit: 7 });
      expect(counts, `seed ${seed} scope ${JSON.stringify(s)}`).toEqual(recount(listed));

      const keys = scopeKeys(store.prefix, parseScope(s));
      const raw = await h.client.hgetall(keys.runs);
      const rawRuns: ActiveRun[] = [];
      for (const [id, value] of Object.entries(raw)) {
        const leaseScore = await h.client.zscore(keys.lease, id);
        expect(leaseScore, `${id} has a lease`).not.toBeNull();
        const run = decodeRun(id, value);
        // the lease score's phase and deadline agree with the stored run
        const score = Number(leaseScore);
        expect(Math.floor(score / 2 ** 44) % 2 === 1, id).toBe(run.status === 'running');
        expect(score % 2 ** 44, id).toBe(run.leaseExpiresAt);
        rawRuns.push(run);
      }
      expect(counts).toEqual(recount(rawRuns));
      expect(ids(listed)).toEqual(ids(listOrder(rawRuns)));

      // and each filtered total agrees with the counts
      expect((await store.list(s, { limit: 1 })).total).toBe(counts.total);
      for (const status of ['queued', 'running'] as const) {
        expect((await store.list(s, { status, limit: 1 })).total).toBe(counts.byStatus[status]);
      }
      for (const source of sources) {
        if (!source) continue;
        expect((await store.list(s, { source, limit: 1 })).total).toBe(
          counts.bySource[source] ?? 0,
        );
      }
    }
    expect(nonEmpty).toBe(scopes.length);
  });
});

describe('offset paging past lapsed runs', () => {
  it('reads the values of the rows on the page only, not of every row it steps over', async () => {
    const store = h.store({ leaseMs: 120_000 });
    const data = { blob: 'x'.repeat(1_000) };
    for (let i = 0; i < 2_000; i += 250) {
      await Promise.all(
        Array.from({ length: 250 }, (_, j) => store.enqueue(scope, { id: `r${i + j}`, data })),
      );
    }
    // one run that lapses, newest of all: it sits at the top, ahead of every offset
    await store.enqueue(scope, { id: 'lapsing', data, leaseMs: 100 });
    await new Promise((r) => setTimeout(r, 200));
    const expected = ids(await walk(store, scope, { limit: 500 })).slice(1_975, 2_000);
    expect(expected).toHaveLength(25);

    const runsKey = scopeKeys(store.prefix, parseScope(scope)).runs;
    const monitor = await monitorCommands(
      h.client,
      (args) => String(args[0]).toLowerCase() === 'hmget' && args[1] === runsKey,
    );
    try {
      const page = await store.list(scope, { page: 80, pageSize: 25 });
      expect(ids(page.items)).toEqual(expected);
      expect(page.total).toBe(2_000);
      await monitor.flush(`${runsKey}:marker`);
    } finally {
      monitor.stop();
    }
    const valuesRead = monitor.seen.map((args) => args.length - 2);
    // the script read 25 values, where it used to read all 2,000 rows it stepped over
    expect(valuesRead.length).toBeGreaterThan(0);
    expect(valuesRead.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(25);
  });
});
