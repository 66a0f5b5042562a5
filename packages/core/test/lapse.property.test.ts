import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRun } from '../src/codec.js';
import type {
  ActiveRun,
  ActiveRunStore,
  ListPage,
  ParsedScope,
  Scope,
  ScopeKeys,
  ScopeStats,
} from '../src/index.js';
import { scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { sleep, useStoreHarness } from './harness.js';
import { modelCounts, modelList } from './list-model.js';
import type { Outcome } from './outcomes.js';
import { expectOk, redisClock } from './outcomes.js';

/**
 * Model-based test where leases DO lapse and the sweeper runs (model.property.test.ts keeps
 * leases long so nothing lapses). Random sequences of enqueue / start / progress / heartbeat /
 * end / get / list / counts / stats / sweep / wait on a few ids in two scopes, against an
 * in-memory model that keeps every run still in Redis (lapsed-but-unswept ones included).
 *
 * Lapsing is decided from the Redis server clock, never Date.now(): every command is bracketed by
 * two `TIME` reads. A run is certainly lapsed when leaseExpiresAt <= the time before, certainly
 * live when leaseExpiresAt > the time after. A write in the ambiguous window may go either way
 * (the model follows what the store answered); a read in it is simply done again once every
 * ambiguous deadline has passed, so reads are always compared exactly.
 *
 * After every command: get / counts / stats / lists (filters, cursor and offset walks) equal the
 * model's live runs; stats().lapsed counts the lapsed-but-unswept ones; onExpired was not called
 * outside sweep(); and the Redis invariants hold (HLEN runs == ZCARD idx == ZCARD lease, ZCARD src
 * == runs with a source, each stored value equals the model's run, lease / index / by-source
 * scores match it, the registry score and meta lb are a lower bound of the scope's deadlines).
 * After every sweep(): each run lapsed before it was reported exactly once with its last state
 * (never a live one, never twice), is gone from Redis, and an emptied scope left the registry.
 * An enqueue of a lapsed id replaces the run at once; the lapsed run waits in the outbox and the
 * next sweep reports it (once).
 */

const h = useStoreHarness();

const T = 2 ** 44; // width of the time field in sorted-set scores (docs/ARCHITECTURE.md)
const STORE_LEASE_MS = 600_000; // the store's default lease: a long one
const SHORT_LEASES = [150, 220, 300] as const;
const LEASES = [...SHORT_LEASES, 60_000, undefined] as const; // undefined: store default
const WAIT_MS = 380; // longer than any short lease
const IDS = ['a', 'b', 'run-7', '~z'] as const;
const SOURCES = ['api', 'web'] as const;
const CAPTIONS = ['c1', 'c2'] as const;
const DATA = [{ n: 1 }, [], 'text'] as const;

type Status = 'queued' | 'running';
type Filter = { status?: Status; source?: string };
const CHECK_FILTERS: Filter[] = [
  {},
  { status: 'queued' },
  { status: 'running' },
  { source: 'api' },
  { source: 'web', status: 'running' },
];

interface Report {
  run: ActiveRun;
  scope: ParsedScope;
}
interface Model {
  /** Per scope, every run still in Redis (live or lapsed-but-unswept), as the store stores it. */
  runs: [Map<string, ActiveRun>, Map<string, ActiveRun>];
  /** Ids (per scope) that expired and were swept: a later enqueue of one is a re-use. */
  swept: [Set<string>, Set<string>];
  /** Per scope, lapsed runs an enqueue replaced: the next sweep reports them. */
  replaced: [ActiveRun[], ActiveRun[]];
  /** Per scope, the caption and data each run in Redis was enqueued with (what a re-send carries). */
  enqueued: [Map<string, Payload>, Map<string, Payload>];
}
type Payload = Pick<ActiveRun, 'caption' | 'data'>;
interface Real {
  store: ActiveRunStore;
  scopes: [Scope, Scope];
  keys: [ScopeKeys, ScopeKeys];
  /** What onExpired received and no sweep command has checked yet. */
  reports: Report[];
}

/** stats() ages that disagreed with the model's live runs (asserted empty after the property). */
const ageMismatches: string[] = [];

/** How often the interesting paths ran over the whole test (asserted > 0 at the end). */
const seen = {
  lapsedWriteNotFound: 0,
  lapsedEnqueueReplaced: 0,
  lapsedResendReplaced: 0,
  ambiguousWrite: 0,
  expiredReports: 0,
  reuseAfterSweep: 0,
  lapsedInStats: 0,
  scopeLeftRegistry: 0,
  readRetries: 0,
};

const { serverNow, timed } = redisClock(h.client);

type Lapse = 'live' | 'lapsed' | 'ambiguous';
function lapse(run: ActiveRun, before: number, after: number): Lapse {
  if (run.leaseExpiresAt <= before) return 'lapsed';
  if (run.leaseExpiresAt > after) return 'live';
  return 'ambiguous';
}

function allRuns(m: Model): ActiveRun[] {
  return [...m.runs[0].values(), ...m.runs[1].values()];
}

/**
 * Runs a read between two TIME reads; if some run's deadline falls inside that window (so the
 * read could legitimately see it either way), waits until every such deadline has passed and
 * reads again. Returns a result for which every run is certainly live or certainly lapsed.
 */
async function observe<T>(
  m: Model,
  read: () => Promise<T>,
): Promise<{ result: T; before: number; after: number }> {
  for (let attempt = 0; ; attempt++) {
    const before = await serverNow();
    const result = await read();
    const after = await serverNow();
    const ambiguous = allRuns(m).filter((run) => lapse(run, before, after) === 'ambiguous');
    if (ambiguous.length === 0) return { result, before, after };
    expect(attempt, 'reads keep straddling lease deadlines').toBeLessThan(20);
    seen.readRetries++;
    const last = Math.max(...ambiguous.map((run) => run.leaseExpiresAt));
    await sleep(Math.max(1, last - after + 2));
  }
}

function liveRuns(runs: Map<string, ActiveRun>, now: number): Map<string, ActiveRun> {
  return new Map([...runs].filter(([, run]) => run.leaseExpiresAt > now));
}

/** `stats` against the model: counts of live runs, lapsed ones apart, ages of live runs only. */
function expectStats(
  stats: ScopeStats,
  runs: Map<string, ActiveRun>,
  pendingReports: number,
  before: number,
  after: number,
  label: string,
): void {
  const live = liveRuns(runs, after);
  const lapsed = runs.size - live.size;
  if (lapsed > 0) seen.lapsedInStats++;
  const { oldestQueuedAgeMs, longestRunningMs, memoryBytes: _, ...rest } = stats;
  expect(rest, label).toEqual({
    ...modelCounts(live),
    lapsed,
    pendingExpiredReports: pendingReports,
  });
  // "A run whose lease lapsed is gone for every call at once" (README): the oldest queued run and
  // the longest-running run are live ones; null when there is none. Checked here, asserted after
  // the property (see ageMismatches) so the rest of the model keeps being exercised and shrunk.
  const checkAge = (age: number | null, status: Status, what: string) => {
    const since = [...live.values()]
      .filter((run) => run.status === status)
      .map((run) => (status === 'queued' ? run.queuedAt : run.startedAt!));
    const lo = since.length === 0 ? null : Math.max(0, before - Math.min(...since));
    const hi = since.length === 0 ? null : Math.max(0, after - Math.min(...since));
    const ok = lo === null || hi === null ? age === null : age !== null && age >= lo && age <= hi;
    if (ok) return;
    const runsNow = [...runs.values()].map(
      (run) =>
        `${run.id} ${run.status} ${run.leaseExpiresAt <= before ? 'lapsed' : 'live'} since ${
          (status === 'queued' ? run.queuedAt : run.startedAt) ?? '-'
        }`,
    );
    ageMismatches.push(
      `${label}: ${what} = ${age}, expected ${lo === null ? 'null' : `${lo}..${hi}`} at ${before}..${after} (runs: ${runsNow.join(', ')})`,
    );
  };
  checkAge(oldestQueuedAgeMs, 'queued', 'oldestQueuedAgeMs');
  checkAge(longestRunningMs, 'running', 'longestRunningMs');
}

/** Raw Redis state of one scope, read with single-key commands only (Cluster-safe). */
async function rawScope(r: Real, i: 0 | 1) {
  const keys = r.keys[i];
  const c = h.client;
  const [hlen, idx, lease, src, outbox, registry, lb, ranks, values, leaseScores, idxScores] =
    await Promise.all([
      c.hlen(keys.runs),
      c.zcard(keys.index),
      c.zcard(keys.lease),
      c.zcard(keys.bySource),
      c.hlen(keys.expired),
      c.zscore(keys.registry, keys.tag),
      c.hget(keys.meta, 'lb'),
      Promise.all(SOURCES.map((s) => c.hget(keys.meta, `r:${s}`))),
      Promise.all(IDS.map((id) => c.hget(keys.runs, id))),
      Promise.all(IDS.map((id) => c.zscore(keys.lease, id))),
      Promise.all(IDS.map((id) => c.zscore(keys.index, id))),
    ]);
  const srcScores = await Promise.all(IDS.map((id) => c.zscore(keys.bySource, id)));
  return {
    hlen,
    idx,
    lease,
    src,
    outbox,
    registry,
    lb,
    ranks,
    values,
    leaseScores,
    idxScores,
    srcScores,
  };
}

/** The Redis invariants of one scope against the model (every run still in Redis). */
function expectRaw(
  raw: Awaited<ReturnType<typeof rawScope>>,
  runs: Map<string, ActiveRun>,
  pendingReports: number,
  i: number,
) {
  const label = `Redis state of scope ${i}`;
  expect(
    { hlen: raw.hlen, idx: raw.idx, lease: raw.lease, src: raw.src, outbox: raw.outbox },
    label,
  ).toEqual({
    hlen: runs.size,
    idx: runs.size,
    lease: runs.size,
    src: [...runs.values()].filter((run) => run.source !== null).length,
    // hooks never throw here: every report is acknowledged within its sweep; only the runs an
    // enqueue replaced wait for the next one
    outbox: pendingReports,
  });
  IDS.forEach((id, k) => {
    const run = runs.get(id);
    const value = raw.values[k];
    if (!run) {
      expect(value, `${label}: ${id} is not in Redis`).toBeNull();
      expect(raw.leaseScores[k], `${label}: ${id} has no lease entry`).toBeNull();
      expect(raw.idxScores[k], `${label}: ${id} has no index entry`).toBeNull();
      expect(raw.srcScores[k], `${label}: ${id} has no by-source entry`).toBeNull();
      return;
    }
    expect(value, `${label}: ${id} is stored`).not.toBeNull();
    expect(decodeRun(id, value!), `${label}: stored value of ${id}`).toEqual(run);
    const phase = run.status === 'running' ? 1 : 0;
    const time = run.status === 'running' ? run.startedAt! : run.queuedAt;
    const sourceRank = run.source ? raw.ranks[SOURCES.indexOf(run.source as 'api')] : '0';
    expect(sourceRank, `${label}: rank of source ${run.source}`).not.toBeNull();
    const rank = Number(sourceRank);
    const leaseScore = Number(raw.leaseScores[k]);
    expect(raw.leaseScores[k], `${label}: ${id} has a lease entry`).not.toBeNull();
    expect(leaseScore % T, `${label}: lease score of ${id} mod 2^44`).toBe(run.leaseExpiresAt);
    expect(Math.floor(leaseScore / T), `${label}: lease band of ${id}`).toBe(rank * 2 + phase);
    expect(Number(raw.idxScores[k]), `${label}: index score of ${id}`).toBe(phase * T + time);
    if (run.source) {
      expect(Number(raw.srcScores[k]), `${label}: by-source score of ${id}`).toBe(
        rank * 2 * T + phase * T + time,
      );
    } else {
      expect(raw.srcScores[k], `${label}: ${id} has no by-source entry`).toBeNull();
    }
  });
  if (runs.size > 0 || pendingReports > 0) {
    // the sweeper finds a scope through its registry score and reads skip the lapse check while
    // meta lb is in the future: both must stay a lower bound of every lease deadline
    const earliest = Math.min(...[...runs.values()].map((run) => run.leaseExpiresAt), Infinity);
    expect(raw.registry, `${label}: registry entry of a scope with runs`).not.toBeNull();
    expect(
      Number(raw.registry),
      `${label}: registry score <= earliest deadline`,
    ).toBeLessThanOrEqual(earliest);
    expect(raw.lb, `${label}: meta lb mirrors the registry score`).toBe(raw.registry);
  }
}

/** Every page of a listing: by cursor until nextCursor is null, or offset pages 1..(one past the end). */
async function walkList(
  store: ActiveRunStore,
  scope: Scope,
  filter: Filter,
  limit: number,
  offset: boolean,
): Promise<ListPage[]> {
  const out: ListPage[] = [];
  if (offset) {
    for (let page = 1; page <= Math.ceil(IDS.length / limit) + 1; page++) {
      out.push(await store.list(scope, { ...filter, page, pageSize: limit }));
    }
    return out;
  }
  let cursor: string | null = null;
  do {
    const got: ListPage = await store.list(scope, { ...filter, limit, cursor });
    out.push(got);
    cursor = got.nextCursor;
  } while (cursor && out.length <= IDS.length + 2);
  return out;
}

function expectWalk(
  pages: ListPage[],
  expected: ActiveRun[],
  limit: number,
  offset: boolean,
  label: string,
): void {
  for (const page of pages)
    expect(page.total, `${label}: total of every page`).toBe(expected.length);
  if (offset) {
    pages.forEach((page, k) => {
      expect(page.items, `${label}: offset page ${k + 1}`).toEqual(
        expected.slice(k * limit, (k + 1) * limit),
      );
    });
    return;
  }
  expect(pages.at(-1)!.nextCursor, `${label}: the cursor walk ends`).toBeNull();
  expect(
    pages.flatMap((p) => p.items),
    `${label}: cursor walk`,
  ).toEqual(expected);
  // every page but the last is full (only a trailing page may come back short or empty)
  for (const page of pages.slice(0, -1)) expect(page.items, label).toHaveLength(limit);
}

/** Everything observable, for both scopes, must equal the model; so must the Redis invariants. */
async function checkAll(m: Model, r: Real): Promise<void> {
  expect(r.reports, 'onExpired is only called by sweep()').toEqual([]);
  const { result, before, after } = await observe(m, () =>
    Promise.all(
      ([0, 1] as const).map(async (i) => {
        const scope = r.scopes[i];
        const [gets, counts, stats, pages, byCursor, byOffset, raw] = await Promise.all([
          Promise.all(IDS.map((id) => r.store.get(scope, id))),
          r.store.counts(scope),
          r.store.stats(scope),
          Promise.all(CHECK_FILTERS.map((f) => r.store.list(scope, { ...f, limit: 500 }))),
          walkList(r.store, scope, {}, 1, false),
          walkList(r.store, scope, {}, 1, true),
          rawScope(r, i),
        ]);
        return { gets, counts, stats, pages, byCursor, byOffset, raw };
      }),
    ),
  );
  ([0, 1] as const).forEach((i) => {
    const runs = m.runs[i];
    const live = liveRuns(runs, after);
    const { gets, counts, stats, pages, byCursor, byOffset, raw } = result[i]!;
    IDS.forEach((id, k) => {
      expect(gets[k], `get ${id} in scope ${i}`).toEqual(live.get(id) ?? null);
    });
    expect(counts, `counts of scope ${i}`).toEqual(modelCounts(live));
    expectStats(stats, runs, m.replaced[i].length, before, after, `stats of scope ${i}`);
    CHECK_FILTERS.forEach((filter, k) => {
      const expected = modelList(live, filter);
      expect(pages[k], `list ${JSON.stringify(filter)} of scope ${i}`).toEqual({
        items: expected,
        total: expected.length,
        nextCursor: null,
      });
    });
    expectWalk(byCursor, modelList(live, {}), 1, false, `list of scope ${i}, limit 1`);
    expectWalk(byOffset, modelList(live, {}), 1, true, `list of scope ${i}, pageSize 1`);
    expectRaw(raw, runs, m.replaced[i].length, i);
  });
}

type Note = (text: string) => void;
class Cmd implements fc.AsyncCommand<Model, Real> {
  /** What the last execution resolved (the id a `#n` pick stood for), for the counterexample. */
  private resolved = '';
  constructor(
    private readonly label: string,
    private readonly exec: (m: Model, r: Real, note: Note) => Promise<void>,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    this.resolved = '';
    await this.exec(m, r, (text) => {
      this.resolved = text;
    });
    await checkAll(m, r);
  }
  toString(): string {
    return this.resolved ? `${this.label} /* ${this.resolved} */` : this.label;
  }
}

/**
 * An id: a fixed one, or `#n`, the n-th id the scope knows about (its runs still in Redis, lapsed
 * ones included, and the ids it had swept), so writes often hit lapsed and swept runs.
 */
type IdPick = (typeof IDS)[number] | number;
function pickId(m: Model, s: 0 | 1, pick: IdPick, note: Note): string {
  if (typeof pick === 'string') return pick;
  const known = [...new Set([...m.runs[s].keys(), ...m.swept[s]])].sort();
  const pool = known.length > 0 ? known : IDS;
  const id = pool[pick % pool.length]!;
  note(`#${pick} = ${id}`);
  return id;
}
const pickLabel = (pick: IdPick) => (typeof pick === 'string' ? pick : `#${pick}`);

const scopeArb = fc.constantFrom(0 as const, 1 as const);
const idArb = fc.oneof(fc.constantFrom<IdPick>(...IDS), fc.nat({ max: 11 }));
const leaseArb = fc.constantFrom(...LEASES);
const captionArb = fc.option(fc.constantFrom<string | null>(...CAPTIONS, null), {
  nil: undefined,
});
const dataArb = fc.option(fc.constantFrom<unknown>(...DATA, null), { nil: undefined });
const filterArb = fc.constantFrom<Filter>(
  {},
  { status: 'queued' },
  { status: 'running' },
  { source: 'api' },
  { source: 'web', status: 'queued' },
);

/**
 * A write to an id that may have lapsed. Returns true when the model should apply the write as on
 * a live run; false when the outcome (checked here) leaves the model unchanged.
 */
function lapsedWrite(
  existing: ActiveRun | undefined,
  outcome: Outcome<unknown>,
  before: number,
  after: number,
): boolean {
  if (!existing) {
    expect(outcome, 'a write to a run that is not in Redis').toEqual({
      ok: false,
      code: 'NOT_FOUND',
    });
    return false;
  }
  const state = lapse(existing, before, after);
  if (state === 'lapsed') {
    seen.lapsedWriteNotFound++;
    expect(outcome, 'a write to a lapsed run (never revives it)').toEqual({
      ok: false,
      code: 'NOT_FOUND',
    });
    return false;
  }
  if (state === 'ambiguous') {
    seen.ambiguousWrite++;
    // the script's TIME fell on either side of the deadline: NOT_FOUND, or applied as live
    if (!outcome.ok) {
      expect(outcome, 'a write at the lease deadline').toEqual({ ok: false, code: 'NOT_FOUND' });
      return false;
    }
  }
  return true;
}

/** Whether an enqueue answered a new run (it replaced a lapsed one) rather than `existing`. */
function isNewRun(outcome: Outcome<ActiveRun>, existing: ActiveRun): boolean {
  return outcome.ok && outcome.value.leaseExpiresAt !== existing.leaseExpiresAt;
}

interface EnqueueArgs {
  s: 0 | 1;
  id: IdPick;
  source?: string | undefined;
  caption?: string | null | undefined;
  data?: unknown;
  leaseMs?: number | undefined;
  /** Send the payload the run Redis holds for the id was enqueued with (a re-sent enqueue). */
  resend?: boolean;
}
function enqueueCmd({ s, id: pick, leaseMs, resend = false, ...generated }: EnqueueArgs): Cmd {
  const label = resend
    ? `enqueue(${s}, ${pickLabel(pick)}, same payload as the run in Redis, leaseMs ${leaseMs})`
    : `enqueue(${s}, ${pickLabel(pick)}, ${JSON.stringify({ ...generated, leaseMs })})`;
  return new Cmd(label, async (m, r, note) => {
    const id = pickId(m, s, pick, note);
    const runs = m.runs[s];
    const existing = runs.get(id);
    const original = m.enqueued[s].get(id);
    const payload =
      resend && existing && original
        ? { source: existing.source, caption: original.caption, data: original.data }
        : generated;
    const input = { id, ...payload, ...(leaseMs === undefined ? {} : { leaseMs }) };
    const { outcome, before, after } = await timed(() => r.store.enqueue(r.scopes[s], input));
    if (existing) {
      const same =
        existing.source === (payload.source ?? null) &&
        original!.caption === (payload.caption ?? null) &&
        JSON.stringify(original!.data) === JSON.stringify(payload.data ?? null);
      const state = lapse(existing, before, after);
      if (state === 'ambiguous') seen.ambiguousWrite++;
      // live (or at the deadline, seen live): the same payload is the same run, another CONFLICT
      const seenLive = state === 'live' || (state === 'ambiguous' && !isNewRun(outcome, existing));
      if (seenLive) {
        if (same) expect(expectOk(outcome), 'enqueue again, same payload').toEqual(existing);
        else expect(outcome, `enqueue of a ${state} id`).toEqual({ ok: false, code: 'CONFLICT' });
        return;
      }
      // lapsed: the new run takes its place; the lapsed one is reported by the next sweep
      seen.lapsedEnqueueReplaced++;
      if (same) seen.lapsedResendReplaced++;
      m.replaced[s].push(existing);
    }
    const run = expectOk(outcome);
    expect(run).toEqual({
      id,
      status: 'queued',
      queuedAt: run.queuedAt,
      startedAt: null,
      source: payload.source ?? null,
      caption: payload.caption ?? null,
      data: payload.data ?? null,
      leaseExpiresAt: run.queuedAt + (leaseMs ?? STORE_LEASE_MS),
    });
    expect(run.queuedAt).toBeGreaterThanOrEqual(before);
    expect(run.queuedAt).toBeLessThanOrEqual(after);
    if (m.swept[s].has(id)) seen.reuseAfterSweep++;
    runs.set(id, run);
    m.enqueued[s].set(id, { caption: run.caption, data: run.data });
  });
}

interface RunArgs {
  s: 0 | 1;
  id: IdPick;
  leaseMs?: number | undefined;
}
function startCmd({ s, id: pick, leaseMs }: RunArgs): Cmd {
  return new Cmd(`start(${s}, ${pickLabel(pick)}, ${leaseMs})`, async (m, r, note) => {
    const id = pickId(m, s, pick, note);
    const runs = m.runs[s];
    const existing = runs.get(id);
    const { outcome, before, after } = await timed(() =>
      r.store.start(r.scopes[s], id, leaseMs === undefined ? undefined : { leaseMs }),
    );
    if (!lapsedWrite(existing, outcome, before, after)) return;
    const run = expectOk(outcome);
    if (existing!.status === 'running') {
      expect(run, 'start of a running run changes nothing').toEqual(existing);
      return;
    }
    expect(run).toEqual({
      ...existing,
      status: 'running',
      startedAt: run.startedAt,
      leaseExpiresAt: run.startedAt! + (leaseMs ?? STORE_LEASE_MS),
    });
    expect(run.startedAt).toBeGreaterThanOrEqual(before);
    expect(run.startedAt).toBeLessThanOrEqual(after);
    runs.set(id, run);
  });
}

function expectRenewed(run: ActiveRun, leaseMs: number | undefined, before: number, after: number) {
  expect(run.leaseExpiresAt).toBeGreaterThanOrEqual(before + (leaseMs ?? STORE_LEASE_MS));
  expect(run.leaseExpiresAt).toBeLessThanOrEqual(after + (leaseMs ?? STORE_LEASE_MS));
}

interface ProgressArgs extends RunArgs {
  caption?: string | null | undefined;
  data?: unknown;
}
function progressCmd({ s, id: pick, caption, data, leaseMs }: ProgressArgs): Cmd {
  const label = `progress(${s}, ${pickLabel(pick)}, ${JSON.stringify({ caption, data, leaseMs })})`;
  return new Cmd(label, async (m, r, note) => {
    const id = pickId(m, s, pick, note);
    const runs = m.runs[s];
    const existing = runs.get(id);
    const input = Object.fromEntries(
      Object.entries({ caption, data, leaseMs }).filter(([, v]) => v !== undefined),
    );
    const { outcome, before, after } = await timed(() => r.store.progress(r.scopes[s], id, input));
    if (!lapsedWrite(existing, outcome, before, after)) return;
    const run = expectOk(outcome);
    expect(run).toEqual({
      ...existing,
      caption: caption === undefined ? existing!.caption : caption,
      data: data === undefined ? existing!.data : data,
      leaseExpiresAt: run.leaseExpiresAt,
    });
    expectRenewed(run, leaseMs, before, after);
    runs.set(id, run);
  });
}

function heartbeatCmd({ s, id: pick, leaseMs }: RunArgs): Cmd {
  return new Cmd(`heartbeat(${s}, ${pickLabel(pick)}, ${leaseMs})`, async (m, r, note) => {
    const id = pickId(m, s, pick, note);
    const runs = m.runs[s];
    const existing = runs.get(id);
    const { outcome, before, after } = await timed(() =>
      r.store.heartbeat(r.scopes[s], id, leaseMs === undefined ? undefined : { leaseMs }),
    );
    if (!lapsedWrite(existing, outcome, before, after)) return;
    const run = expectOk(outcome);
    expect(run).toEqual({ ...existing, leaseExpiresAt: run.leaseExpiresAt });
    expectRenewed(run, leaseMs, before, after);
    runs.set(id, run);
  });
}

function endCmd({ s, id: pick }: RunArgs): Cmd {
  return new Cmd(`end(${s}, ${pickLabel(pick)})`, async (m, r, note) => {
    const id = pickId(m, s, pick, note);
    const runs = m.runs[s];
    const existing = runs.get(id);
    const { outcome, before, after } = await timed(() => r.store.end(r.scopes[s], id));
    if (!lapsedWrite(existing, outcome, before, after)) return;
    expect(expectOk(outcome), 'end returns the last state').toEqual(existing);
    runs.delete(id);
  });
}

function getCmd({ s, id: pick }: RunArgs): Cmd {
  return new Cmd(`get(${s}, ${pickLabel(pick)})`, async (m, r, note) => {
    const id = pickId(m, s, pick, note);
    const { result, after } = await observe(m, () => r.store.get(r.scopes[s], id));
    expect(result).toEqual(liveRuns(m.runs[s], after).get(id) ?? null);
  });
}

function countsCmd({ s }: { s: 0 | 1 }): Cmd {
  return new Cmd(`counts(${s})`, async (m, r) => {
    const { result, after } = await observe(m, () => r.store.counts(r.scopes[s]));
    expect(result).toEqual(modelCounts(liveRuns(m.runs[s], after)));
  });
}

function statsCmd({ s }: { s: 0 | 1 }): Cmd {
  return new Cmd(`stats(${s})`, async (m, r) => {
    const { result, before, after } = await observe(m, () =>
      r.store.stats(r.scopes[s], { memory: true }),
    );
    expect(result.memoryBytes).toBeGreaterThanOrEqual(0);
    expectStats(result, m.runs[s], m.replaced[s].length, before, after, `stats(${s})`);
  });
}

interface ListArgs {
  s: 0 | 1;
  filter: Filter;
  limit: number;
  offset: boolean;
}
function listCmd({ s, filter, limit, offset }: ListArgs): Cmd {
  const label = `list(${s}, ${JSON.stringify(filter)}, ${offset ? 'pageSize' : 'limit'} ${limit})`;
  return new Cmd(label, async (m, r) => {
    const { result: pages, after } = await observe(m, () =>
      walkList(r.store, r.scopes[s], filter, limit, offset),
    );
    const expected = modelList(liveRuns(m.runs[s], after), filter);
    expectWalk(pages, expected, limit, offset, label);
  });
}

/** One sweep pass, checked against the model (a command, and the last step of every sequence). */
async function sweepAndCheck(m: Model, r: Real): Promise<void> {
  expect(r.reports, 'no report before the sweep').toEqual([]);
  const before = await serverNow();
  const result = await r.store.sweep();
  const after = await serverNow();
  const reports = r.reports.splice(0);
  expect(result).toMatchObject({
    ran: true,
    expired: reports.length,
    redelivered: 0,
    failedReports: 0,
  });
  const reportedFrom = [0, 0];
  for (const { run, scope } of reports) {
    const s = r.keys.findIndex((k) => k.tag === `${scope.workspaceId}:${scope.projectId}`);
    expect(s, `report from an unknown scope ${JSON.stringify(scope)}`).toBeGreaterThanOrEqual(0);
    const pending = m.replaced[s as 0 | 1];
    const replacedAt = pending.findIndex((old) => old.id === run.id);
    if (replacedAt >= 0 && run.leaseExpiresAt === pending[replacedAt]!.leaseExpiresAt) {
      expect(run, `report of replaced ${run.id} in scope ${s}: its last state`).toEqual(
        pending[replacedAt],
      );
      pending.splice(replacedAt, 1);
      reportedFrom[s]!++;
      seen.expiredReports++;
      continue;
    }
    const modelRun = m.runs[s as 0 | 1].get(run.id);
    // a run the model no longer holds: reported twice, or ended before
    expect(modelRun, `report of ${run.id} in scope ${s}: a run still in Redis`).toBeDefined();
    expect(run, `report of ${run.id} in scope ${s}: its last state`).toEqual(modelRun);
    expect(lapse(modelRun!, before, after), `report of ${run.id}: its lease lapsed`).not.toBe(
      'live',
    );
    m.runs[s as 0 | 1].delete(run.id);
    m.swept[s as 0 | 1].add(run.id);
    reportedFrom[s]!++;
    seen.expiredReports++;
  }
  ([0, 1] as const).forEach((s) => {
    expect(m.replaced[s], `replaced runs of scope ${s} not reported by the sweep`).toEqual([]);
    for (const run of m.runs[s].values()) {
      expect(
        lapse(run, before, after),
        `${run.id} in scope ${s} lapsed but was not reported`,
      ).not.toBe('lapsed');
    }
  });
  // a scope left with no runs leaves the registry once the sweeper has visited it: at once when
  // this pass expired its runs, or as soon as its registry score came due
  const registry = await Promise.all(r.keys.map((k) => h.client.zscore(k.registry, k.tag)));
  ([0, 1] as const).forEach((s) => {
    if (m.runs[s].size > 0) return;
    if (reportedFrom[s]! > 0) {
      seen.scopeLeftRegistry++;
      expect(registry[s], `registry entry of scope ${s}, emptied by the sweep`).toBeNull();
    } else if (registry[s] !== null) {
      expect(Number(registry[s]), `registry entry of empty scope ${s} was not due`).toBeGreaterThan(
        before,
      );
    }
  });
}

const sweepCmd = () => new Cmd('sweep()', sweepAndCheck);

/** Sleeps until every short lease now in the model has lapsed (at most WAIT_MS). */
const waitCmd = () =>
  new Cmd('wait()', async (m, _r, note) => {
    const now = await serverNow();
    const pending = allRuns(m)
      .map((run) => run.leaseExpiresAt - now)
      .filter((left) => left >= 0 && left < WAIT_MS);
    const ms = pending.length > 0 ? Math.max(...pending) + 5 : 20;
    note(`${ms} ms`);
    await sleep(ms);
  });

const runArb = fc.record({ s: scopeArb, id: idArb, leaseMs: leaseArb });
const enqueueArb = fc
  .record({
    s: scopeArb,
    id: idArb,
    source: fc.constantFrom(undefined, ...SOURCES),
    caption: captionArb,
    data: dataArb,
    leaseMs: leaseArb,
    resend: fc.boolean(),
  })
  .map(enqueueCmd);
const COMMANDS = [
  enqueueArb,
  enqueueArb,
  enqueueArb,
  runArb.map(startCmd),
  runArb.map(startCmd),
  fc
    .record({ s: scopeArb, id: idArb, caption: captionArb, data: dataArb, leaseMs: leaseArb })
    .map(progressCmd),
  runArb.map(heartbeatCmd),
  runArb.map(endCmd),
  runArb.map(endCmd),
  runArb.map(getCmd),
  fc.record({ s: scopeArb }).map(countsCmd),
  fc.record({ s: scopeArb }).map(statsCmd),
  fc
    .record({
      s: scopeArb,
      filter: filterArb,
      limit: fc.integer({ min: 1, max: 3 }),
      offset: fc.boolean(),
    })
    .map(listCmd),
  fc.constant(null).map(sweepCmd),
  fc.constant(null).map(sweepCmd),
  fc.constant(null).map(waitCmd),
  fc.constant(null).map(waitCmd),
];

/**
 * Runs first, before the random sequences: the story this test is about, step by step, so every
 * path below is exercised on every run whatever the random generation does.
 */
const STORY = (): Cmd[] => [
  enqueueCmd({ s: 0, id: 'a', source: 'api', caption: 'c1', data: { n: 1 }, leaseMs: 150 }),
  enqueueCmd({ s: 0, id: 'b', leaseMs: 150 }),
  startCmd({ s: 0, id: 'b', leaseMs: 150 }),
  enqueueCmd({ s: 0, id: '~z', source: 'web' }), // long lease: stays live throughout
  enqueueCmd({ s: 1, id: 'run-7', source: 'web', leaseMs: 220 }),
  waitCmd(), // a, b and run-7 lapse; nothing swept yet
  getCmd({ s: 0, id: 'a' }),
  listCmd({ s: 0, filter: {}, limit: 1, offset: false }),
  listCmd({ s: 0, filter: {}, limit: 1, offset: true }),
  countsCmd({ s: 0 }),
  statsCmd({ s: 0 }),
  heartbeatCmd({ s: 0, id: 'a', leaseMs: 60_000 }), // NOT_FOUND, not revived
  progressCmd({ s: 0, id: 'b', caption: 'late' }),
  startCmd({ s: 0, id: 'a' }),
  endCmd({ s: 0, id: 'b' }),
  enqueueCmd({ s: 0, id: 'a', resend: true }), // lapsed: a new run replaces it
  enqueueCmd({ s: 0, id: 'a', caption: 'c2' }), // the new run, another payload: CONFLICT
  sweepCmd(), // reports the old a, b (scope 0) and run-7 (scope 1, which leaves the registry)
  sweepCmd(), // nothing more to report
  heartbeatCmd({ s: 0, id: 'b' }), // still NOT_FOUND after the sweep
  enqueueCmd({ s: 0, id: 'b', leaseMs: 150 }), // the id again: a new run
  startCmd({ s: 0, id: 'b', leaseMs: 300 }),
  enqueueCmd({ s: 1, id: 'run-7', source: 'api', leaseMs: 150 }),
  endCmd({ s: 1, id: 'run-7' }), // scope 1 is empty; its registry entry comes due in 150 ms
  waitCmd(),
  sweepCmd(), // reports the new b (running); scope 1 leaves the registry
];

const NUM_RUNS = 30;

describe('store against a model where leases lapse and the sweeper runs', () => {
  it('lapsed runs are invisible, never revived, and each is reported exactly once', async () => {
    const scopes = (await h.scopesOnDifferentShards(2, 'lapse')) as [Scope, Scope];
    await fc.assert(
      fc.asyncProperty(fc.commands(COMMANDS, { maxCommands: 40, size: 'max' }), async (cmds) => {
        // a fresh store (and key prefix) for every run and every shrink attempt
        const reports: Report[] = [];
        const store = h.store({
          leaseMs: STORE_LEASE_MS,
          onExpired: (run, scope) => void reports.push({ run, scope }),
        });
        const real: Real = {
          store,
          scopes,
          keys: [
            scopeKeys(store.prefix, parseScope(scopes[0])),
            scopeKeys(store.prefix, parseScope(scopes[1])),
          ],
          reports,
        };
        const model: Model = {
          runs: [new Map(), new Map()],
          swept: [new Set(), new Set()],
          replaced: [[], []],
          enqueued: [new Map(), new Map()],
        };
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          // finally: let every short lease lapse and every near registry score come due (scopes
          // emptied by `end` keep theirs until then); one sweep then reports every lapsed run,
          // nothing else, and takes every empty scope out of the registry
          const now = await serverNow();
          const registry = await Promise.all(
            real.keys.map((k) => h.client.zscore(k.registry, k.tag)),
          );
          const soon = [
            ...allRuns(model).map((run) => run.leaseExpiresAt),
            ...registry.filter((score) => score !== null).map(Number),
          ].filter((at) => at < now + 10_000);
          if (soon.length > 0) await sleep(Math.max(...soon) - now + 5);
          await sweepAndCheck(model, real);
          await checkAll(model, real);
          for (const run of allRuns(model)) {
            expect(run.leaseExpiresAt, `${run.id} still in Redis`).toBeGreaterThan(now + 10_000);
          }
        } finally {
          await store.close();
        }
      }),
      { numRuns: NUM_RUNS, examples: [[STORY()]] },
    );
    console.log(`[lapse.property] ${JSON.stringify(seen)}`);
    // the runs exercised what this test is about (fails if the generators stop reaching it)
    for (const key of [
      'lapsedWriteNotFound',
      'lapsedEnqueueReplaced',
      'lapsedResendReplaced',
      'expiredReports',
      'reuseAfterSweep',
      'lapsedInStats',
      'scopeLeftRegistry',
    ] as const) {
      expect(seen[key], `coverage: ${key}`).toBeGreaterThan(0);
    }
    expect(
      ageMismatches.slice(0, 3),
      `stats() ages counted lapsed runs (${ageMismatches.length} times)`,
    ).toEqual([]);
  });
});
