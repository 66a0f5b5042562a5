import { uniquePrefix } from '@active-runs/test-utils';
import type { Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';
import type { ActiveRunStore, Scope } from '../../src/index.js';
import { createActiveRunStore, isActiveRunsError, scopeKeys } from '../../src/index.js';
import { parseScope } from '../../src/keys.js';

/*
 * A write load that knows, for every run, what Redis must hold afterwards. Each caller walks its
 * own runs through enqueue -> start -> progress -> end (every third run is kept), and stops using a
 * run after its first failure:
 * - after REDIS_UNAVAILABLE ("never applied") the run must be exactly as before that call: if it
 *   is not, the failed call was applied anyway (a ghost write);
 * - after TIMEOUT (outcome unknown) the run is left out of the checks;
 * - after an acknowledged write the run must be as that write left it: if not, it was lost;
 * - an `end` answered NOT_FOUND counts as acknowledged: ioredis re-sends a call that was in flight
 *   when its connection dropped, and an `end` applied before the drop answers NOT_FOUND the second
 *   time (documented; `enqueue`, `start` and `progress` are safe to apply twice).
 */

/** What a run must look like at the end: gone, or its status and caption. */
type Expected = 'absent' | { status: 'queued' | 'running'; caption: string };
const QUEUED: Expected = { status: 'queued', caption: 'q' };
const STARTED: Expected = { status: 'running', caption: 'q' };
const PROGRESSED: Expected = { status: 'running', caption: 'p' };

interface Run {
  scope: Scope;
  id: string;
  expected: Expected;
  /** The last call failed REDIS_UNAVAILABLE: a difference would be that call applied. */
  refusedLast: boolean;
  /** A call failed TIMEOUT: its outcome is unknown, the run is not checked. */
  unknown: boolean;
}

/** What the load saw. */
export interface LoadStats {
  calls: number;
  acknowledged: number;
  byCode: Record<string, number>;
  /** The client's commandTimeout: every call's deadline. */
  commandTimeoutMs: number;
  /** Longest time a call took to settle (ms), and how many took over `commandTimeout` + 100 ms. */
  maxCallMs: number;
  overDeadline: number;
  /** From the last call made to every call settled (ms). */
  settledAfterLastMs: number;
}

/** What Redis held afterwards, compared with what the load was told. */
export interface Verdict {
  checked: number;
  /** Runs whose last acknowledged write is not what Redis holds. */
  lost: string[];
  /** Runs changed by a call that failed REDIS_UNAVAILABLE. */
  ghosts: string[];
  /** Scopes whose index, data and counts disagree. */
  inconsistent: string[];
}

export interface LoadOptions {
  store: ActiveRunStore;
  scopes: Scope[];
  callers: number;
  /** Stop making calls after this many (the loop is bounded). */
  maxCalls: number;
  /** ...or after this long (ms). */
  maxMs: number;
  /** The client's commandTimeout, for the latency figures. */
  commandTimeoutMs: number;
  /** Pause between a caller's runs (ms), to leave the server some air. @default 0 */
  pauseMs?: number;
  /**
   * Keep going past `maxCalls` (never past `maxMs`) until this holds: a chaos test that must see a
   * kind of failure to prove anything waits for it instead of failing when timing hid it.
   */
  until?: (stats: LoadStats) => boolean;
}

let loads = 0;

/** Runs the load; resolves once every call settled. */
export function startLoad(options: LoadOptions) {
  const runs: Run[] = [];
  const stats: LoadStats = {
    calls: 0,
    acknowledged: 0,
    byCode: {},
    commandTimeoutMs: options.commandTimeoutMs,
    maxCallMs: 0,
    overDeadline: 0,
    settledAfterLastMs: 0,
  };
  const started = performance.now();
  // ids unique to this load: several loads may share a store and its scopes
  const loadId = `l${++loads}`;
  let stopped = false;
  let lastCallAt = 0;
  const more = () =>
    !stopped &&
    (stats.calls < options.maxCalls || (options.until !== undefined && !options.until(stats))) &&
    performance.now() - started < options.maxMs;

  /** One call: 'ok', or the error code. */
  const call = async (name: string, fn: () => Promise<unknown>): Promise<string> => {
    stats.calls++;
    const t0 = performance.now();
    lastCallAt = t0;
    let code = 'ok';
    try {
      await fn();
      stats.acknowledged++;
    } catch (error) {
      code = isActiveRunsError(error) ? error.code : `untyped ${String(error).slice(0, 60)}`;
    }
    const ms = performance.now() - t0;
    stats.maxCallMs = Math.max(stats.maxCallMs, ms);
    if (ms > options.commandTimeoutMs + 100) stats.overDeadline++;
    const key = ['ok', 'REDIS_UNAVAILABLE', 'TIMEOUT'].includes(code) ? code : `${name} ${code}`;
    stats.byCode[key] = (stats.byCode[key] ?? 0) + 1;
    return code;
  };

  const caller = async (c: number) => {
    const { store } = options;
    for (let n = 0; more(); n++) {
      const scope = options.scopes[(c + n) % options.scopes.length] as Scope;
      const run: Run = {
        scope,
        id: `${loadId}-c${c}-${n}`,
        expected: 'absent',
        refusedLast: false,
        unknown: false,
      };
      runs.push(run);
      const steps: [string, () => Promise<unknown>, Expected][] = [
        ['enqueue', () => store.enqueue(scope, { id: run.id, caption: 'q' }), QUEUED],
        ['start', () => store.start(scope, run.id), STARTED],
        ['progress', () => store.progress(scope, run.id, { caption: 'p' }), PROGRESSED],
      ];
      if (n % 3 !== 0) steps.push(['end', () => store.end(scope, run.id), 'absent']);
      for (const [name, fn, after] of steps) {
        if (!more()) break;
        const code = await call(name, fn);
        if (code === 'ok' || (name === 'end' && code === 'NOT_FOUND')) {
          run.expected = after;
          continue;
        }
        if (code === 'REDIS_UNAVAILABLE') run.refusedLast = true;
        else run.unknown = true; // TIMEOUT, or anything unexpected (counted in byCode)
        break;
      }
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };

  const done = Promise.all(Array.from({ length: options.callers }, (_, c) => caller(c))).then(
    () => {
      stats.settledAfterLastMs = performance.now() - lastCallAt;
    },
  );
  return {
    runs,
    stats,
    /** Stops making calls; resolves once every call settled. */
    async stop(): Promise<LoadStats> {
      stopped = true;
      await done;
      return stats;
    },
    /** Resolves when the load ends by itself (maxCalls or maxMs). */
    finished: done.then(() => stats),
  };
}

/** Every run of a scope as Redis holds it (cursor pages), with the scope's consistency. */
async function readScope(store: ActiveRunStore, scope: Scope, reader: Redis | Cluster) {
  const seen = new Map<string, { status: string; caption: string | null }>();
  const byStatus = { queued: 0, running: 0 };
  let cursor: string | null = null;
  do {
    const page = await store.list(scope, { limit: 500, cursor });
    for (const run of page.items) {
      seen.set(run.id, { status: run.status, caption: run.caption });
      byStatus[run.status]++;
    }
    cursor = page.nextCursor;
  } while (cursor);
  const keys = scopeKeys(store.prefix, parseScope(scope));
  const [hlen, idx, lease] = await Promise.all([
    reader.hlen(keys.runs),
    reader.zcard(keys.index),
    reader.zcard(keys.lease),
  ]);
  const counts = await store.counts(scope);
  const consistent =
    hlen === seen.size &&
    idx === seen.size &&
    lease === seen.size &&
    counts.total === seen.size &&
    counts.byStatus.queued === byStatus.queued &&
    counts.byStatus.running === byStatus.running;
  const summary = `runs=${hlen} idx=${idx} lease=${lease} listed=${seen.size} counts=${JSON.stringify(counts.byStatus)} recount=${JSON.stringify(byStatus)}`;
  return { seen, consistent, summary };
}

/** What a layout holds: by scope (JSON), each run's status and caption. */
type Held = Map<string, Map<string, { status: string; caption: string | null }>>;

/** Compares what Redis holds with what the load was told. */
export async function verify(
  store: ActiveRunStore,
  scopes: Scope[],
  runs: Run[],
  reader: Redis | Cluster,
): Promise<Verdict> {
  const verdict: Verdict = { checked: 0, lost: [], ghosts: [], inconsistent: [] };
  const held: Held = new Map();
  for (const scope of scopes) {
    const { seen, consistent, summary } = await readScope(store, scope, reader);
    held.set(JSON.stringify(scope), seen);
    if (!consistent) verdict.inconsistent.push(`${JSON.stringify(scope)}: ${summary}`);
  }
  judge(verdict, runs, held);
  return verdict;
}

/**
 * Rollout mode: the legacy layout (a hash per scope, the key `keyOf` gives) compared with what the
 * load was told, as `verify` compares the new one. `diverged`: runs of unknown fate (TIMEOUT)
 * whose legacy record is not what the new layout holds (the new layout took the write, its legacy
 * mirror did not; a retry of the call brings them in step).
 */
export async function verifyLegacy(
  store: ActiveRunStore,
  scopes: Scope[],
  runs: Run[],
  reader: Redis | Cluster,
  keyOf: (scope: Scope) => string,
): Promise<Verdict & { diverged: number }> {
  const verdict: Verdict & { diverged: number } = {
    checked: 0,
    lost: [],
    ghosts: [],
    inconsistent: [],
    diverged: 0,
  };
  const legacy: Held = new Map();
  const current: Held = new Map();
  for (const scope of scopes) {
    const records = new Map<string, { status: string; caption: string | null }>();
    for (const [id, json] of Object.entries(await reader.hgetall(keyOf(scope)))) {
      const record = JSON.parse(json) as { startedAt?: string; caption?: string };
      records.set(id, {
        status: record.startedAt ? 'running' : 'queued',
        caption: record.caption ?? null,
      });
    }
    legacy.set(JSON.stringify(scope), records);
    current.set(JSON.stringify(scope), (await readScope(store, scope, reader)).seen);
  }
  judge(verdict, runs, legacy);
  for (const run of runs) {
    if (!run.unknown) continue;
    const [a, b] = [legacy, current].map((held) =>
      JSON.stringify(held.get(JSON.stringify(run.scope))?.get(run.id) ?? null),
    );
    if (a !== b) verdict.diverged++;
  }
  return verdict;
}

/** Each run whose fate is known must be as its last acknowledged write left it. */
function judge(verdict: Verdict, runs: Run[], held: Held): void {
  for (const run of runs) {
    if (run.unknown) continue;
    verdict.checked++;
    const actual = held.get(JSON.stringify(run.scope))?.get(run.id);
    const expected = run.expected;
    const same =
      expected === 'absent'
        ? actual === undefined
        : actual !== undefined &&
          actual.status === expected.status &&
          actual.caption === expected.caption;
    if (same) continue;
    const what = `${run.id}: expected ${JSON.stringify(expected)}, Redis has ${JSON.stringify(actual ?? 'absent')}`;
    (run.refusedLast ? verdict.ghosts : verdict.lost).push(what);
  }
}

/** The guarantees every chaos test checks. */
export function expectGuarantees(stats: LoadStats, verdict: Verdict): void {
  expect(verdict.ghosts, 'writes applied although reported REDIS_UNAVAILABLE').toEqual([]);
  expect(verdict.lost, 'acknowledged writes lost').toEqual([]);
  expect(verdict.inconsistent, 'scopes whose index, data and counts disagree').toEqual([]);
  const unexpected = Object.keys(stats.byCode).filter(
    (code) => !['ok', 'REDIS_UNAVAILABLE', 'TIMEOUT', 'end NOT_FOUND'].includes(code),
  );
  expect(unexpected, `outcomes: ${JSON.stringify(stats.byCode)}`).toEqual([]);
  expect(stats.settledAfterLastMs, 'every call settled 2 s after the last one').toBeLessThan(2_000);
  // a deadline per call, retries included (a hang or a second timeout would show here; the count
  // over commandTimeout + 100 ms is printed, not asserted: the machine is shared)
  expect(stats.maxCallMs, 'the slowest call').toBeLessThan(stats.commandTimeoutMs + 1_000);
}

/** One line of numbers for the log. */
export function describeLoad(name: string, stats: LoadStats, verdict: Verdict, extra = ''): string {
  return `[chaos] ${name}: calls=${stats.calls}, acknowledged=${stats.acknowledged}, outcomes=${JSON.stringify(stats.byCode)}, checked runs=${verdict.checked}, lost=${verdict.lost.length}, ghost writes=${verdict.ghosts.length}, inconsistent scopes=${verdict.inconsistent.length}, slowest call=${stats.maxCallMs.toFixed(0)} ms (over commandTimeout + 100 ms: ${stats.overDeadline}), all settled ${stats.settledAfterLastMs.toFixed(0)} ms after the last call${extra}`;
}

/** A steady load of 8 callers, until stopped (the stall and restart tests). */
export function steadyLoad(store: ActiveRunStore, scopes: Scope[], commandTimeoutMs: number) {
  return startLoad({
    store,
    scopes,
    callers: 8,
    maxCalls: 100_000,
    maxMs: 60_000,
    commandTimeoutMs,
    pauseMs: 2,
  });
}

/** Calls `get` until one succeeds; the time it took (ms). */
export async function servingAgainAfter(store: ActiveRunStore, scope: Scope): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) {
    try {
      await store.get(scope, 'probe');
      return performance.now() - t0;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error('the store never served again');
}

/**
 * After a fault that Redis has recovered from: how soon the store serves again (under 2 s), then
 * the load stops and the guarantees are checked.
 */
export async function checkAfterFault(
  name: string,
  load: ReturnType<typeof startLoad>,
  store: ActiveRunStore,
  scopes: Scope[],
  reader: Redis | Cluster,
): Promise<LoadStats> {
  const back = await servingAgainAfter(store, scopes[0] as Scope);
  await new Promise((r) => setTimeout(r, 300));
  const stats = await load.stop();
  const verdict = await verify(store, scopes, load.runs, reader);
  const extra = `, serving again ${back.toFixed(0)} ms after Redis was back`;
  console.log(describeLoad(name, stats, verdict, extra));
  expect(back).toBeLessThan(2_000);
  expectGuarantees(stats, verdict);
  return stats;
}

/**
 * A plain and a durable store (`prefix`-es of their own) loaded for 5.5 s while `flush` runs
 * every second; then checks that every call succeeded (no NOSCRIPT reaches the app) and the
 * guarantees hold.
 */
export async function flushUnderLoad(options: {
  label: string;
  client: Redis | Cluster;
  scopes: Scope[];
  commandTimeoutMs: number;
  flush: () => void;
}): Promise<void> {
  const { client, scopes } = options;
  const stores = [
    createActiveRunStore({ redis: client, prefix: uniquePrefix('chaos-flush') }),
    createActiveRunStore({
      redis: client,
      prefix: uniquePrefix('chaos-flush-durable'),
      durableWrites: { replicas: 1, timeoutMs: 500 },
    }),
  ];
  try {
    const loads = stores.map((store) =>
      startLoad({
        store,
        scopes,
        callers: 6,
        maxCalls: 100_000,
        maxMs: 5_500,
        commandTimeoutMs: options.commandTimeoutMs,
      }),
    );
    let flushes = 0;
    const flusher = setInterval(() => {
      flushes++;
      options.flush();
    }, 1_000);
    const all = await Promise.all(loads.map((load) => load.finished));
    clearInterval(flusher);
    for (const [i, store] of stores.entries()) {
      const stats = all[i] as LoadStats;
      const runs = (loads[i] as ReturnType<typeof startLoad>).runs;
      const verdict = await verify(store, scopes, runs, client);
      const what = `${options.label} (${i ? 'durableWrites' : 'plain'})`;
      console.log(describeLoad(what, stats, verdict, `, flushes=${flushes}`));
      // no fault but the flushes: every call succeeds
      expect(stats.byCode).toEqual({ ok: stats.calls });
      expectGuarantees(stats, verdict);
    }
    expect(flushes).toBeGreaterThanOrEqual(5);
  } finally {
    for (const store of stores) await store.close();
  }
}

/**
 * 20,000 writes from 20 callers while `kill` runs every 100 ms (it kills the clients'
 * connections); once Redis serves again and ioredis had time to send anything it still held,
 * checks the guarantees (REDIS_UNAVAILABLE ones must not have been applied by then).
 */
export async function connectionChaos(options: {
  label: string;
  store: ActiveRunStore;
  scopes: Scope[];
  reader: Redis | Cluster;
  commandTimeoutMs: number;
  kill: () => void;
}): Promise<LoadStats> {
  const { store, scopes } = options;
  const load = startLoad({
    store,
    scopes,
    callers: 20,
    maxCalls: 20_000,
    maxMs: 45_000,
    commandTimeoutMs: options.commandTimeoutMs,
    // the guarantee under test is about calls refused while reconnecting: a run in which timing
    // let every call wait out the reconnection proves nothing, so it goes on until it has some
    until: (stats) => (stats.byCode.REDIS_UNAVAILABLE ?? 0) >= 5,
  });
  let kills = 0;
  const killer = setInterval(() => {
    kills++;
    options.kill();
  }, 100);
  const stats = await load.finished;
  clearInterval(killer);
  for (const scope of scopes) await servingAgainAfter(store, scope);
  await new Promise((r) => setTimeout(r, 500));
  const verdict = await verify(store, scopes, load.runs, options.reader);
  console.log(describeLoad(options.label, stats, verdict, `, kill rounds=${kills}`));
  expect(stats.calls).toBeGreaterThanOrEqual(20_000);
  expect(stats.byCode.REDIS_UNAVAILABLE ?? 0, 'calls refused while reconnecting').toBeGreaterThan(
    0,
  );
  expectGuarantees(stats, verdict);
  return stats;
}
