import type { RedisCaller } from '../call/caller.js';
import type { ActiveRun } from '../codec.js';
import { MAX_OFFSET } from '../constants.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { ActiveRunsError } from '../errors.js';
import type {
  RunEvent,
  RunEventHandler,
  RunEventIteratorOptions,
  Unsubscribe,
} from '../events/index.js';
import type { ParsedScope, Scope } from '../keys.js';
import { parseRunId, parseScope, scopeKeys } from '../keys.js';
import type { ActiveRunsLogger } from '../logger.js';
import { listOptionsSchema, parseInput, storeOptionsSchema } from '../schemas.js';
import type {
  ActiveRunStore,
  ActiveRunStoreOptions,
  EnqueueInput,
  HeartbeatOptions,
  ListOptions,
  ListPage,
  ProgressInput,
  RunCounts,
  ScopeStats,
  StartOptions,
  StartSweeperOptions,
} from '../store-types.js';
import type { ExpiredHook, ExpiredReport, SweepResult } from '../sweeper.js';
import { settledWithin } from '../wait.js';
import { settleAll } from './calls.js';
import type { MigrationKeys } from './checkpoint.js';
import { MIGRATED_FIELD, MigratedScopes, migrationKeys } from './checkpoint.js';
import type { LegacyContext, LegacyContextInput } from './context.js';
import { legacyContext, mapEntry } from './context.js';
import { importRecords, uncheckedError } from './importer.js';
import { scopeNow } from './legacy-key.js';
import type { LegacyReadSummary } from './page-reader.js';
import { readLegacyCounts, readLegacyPage } from './page-reader.js';
import { RolloutCall } from './rollout-call.js';
import { CLEAR_TOMBSTONE, registerLegacyScripts, TOMBSTONE } from './scripts.js';

/** A scope as the rollout store works with it. */
interface ResolvedScope {
  parsed: ParsedScope;
  tag: string;
  keys: MigrationKeys;
  /** The scope's meta hash (its clock's high-water mark). */
  meta: string;
  legacyKey: string;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

const settle = <T>(promise: Promise<T>): Promise<Outcome<T>> =>
  promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );

function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}

const notFound = (outcome: Outcome<unknown>) =>
  !outcome.ok && outcome.error instanceof ActiveRunsError && outcome.error.code === 'NOT_FOUND';

/** The rollout stores, so `migrateLegacy` can find the legacy settings of a store it is given. */
const contexts = new WeakMap<object, LegacyContext<never>>();

/** The legacy context of a store created with the `legacy` option, or undefined. */
export function legacyContextOf<TData>(store: object): LegacyContext<TData> | undefined {
  return contexts.get(store) as LegacyContext<TData> | undefined;
}

/**
 * The rollout mode (the `legacy` option of `createActiveRunStore`): a store whose scopes are
 * read from the legacy hash and written to both layouts until the backfill marks them migrated.
 *
 * For a scope not yet migrated:
 * - every write goes to the new layout first (it is authoritative), then is mirrored into the
 *   legacy key (insert, update if still there, delete), so the legacy list shows every change;
 * - `start` / `progress` / `heartbeat` / `end` of a run only the legacy key has (enqueued before
 *   the rollout) copy it into the new layout first (copy on write), then apply;
 * - an `end` or an expiry leaves a tombstone in the scope's slot before the legacy record goes,
 *   so a backfill batch read just before can never copy the run back; an expiry removes the
 *   record only while it is the expired run's (an id is reusable at once: a newer run may own it);
 * - `list`, `counts` and `stats` read the legacy key (bounded memory, see page-reader.ts); `get`
 *   prefers the new layout.
 * Each such call is a {@link RolloutCall}: all its Redis calls go through the store's caller and
 * keep issue 9's promises as one store call does (one deadline, `REDIS_UNAVAILABLE` only when
 * nothing was applied, settled by `close()`).
 * Once the scope's flag is set, everything goes to the new layout only; the flag is read until
 * seen set, then cached (it only goes one way), so a migrated scope costs no extra round trip.
 */
class RolloutStore<TData> implements ActiveRunStore<TData> {
  private readonly migrated = new MigratedScopes();
  private readonly warned = new Set<string>();
  /** Rollout calls in progress, which `close()` lets finish (for half its time). */
  private readonly inProgress = new Set<Promise<unknown>>();
  private closed$: Promise<void> | undefined;

  constructor(
    private readonly inner: ActiveRunStore<TData>,
    private readonly ctx: LegacyContext<TData>,
    private readonly cursorSecret: string,
    /** The part of `closeTimeoutMs` the calls in progress get before the store proper closes. */
    private readonly finishMs: number,
  ) {}

  get prefix(): string {
    return this.inner.prefix;
  }

  get redis() {
    return this.inner.redis;
  }

  async enqueue(scope: Scope, input: EnqueueInput<TData>): Promise<ActiveRun<TData>> {
    const s = this.resolve(scope);
    if (this.migrated.has(s.tag)) return this.inner.enqueue(scope, input);
    let id: string;
    try {
      id = parseRunId(input?.id);
    } catch {
      return this.inner.enqueue(scope, input); // it refuses the input, before any Redis call
    }
    return this.run('enqueue', true, async (op) => {
      // a tombstone of an earlier run with this id must not hide the new one (sent first, so
      // Redis applies it before the enqueue: same slot, same connection)
      const [, run, migrated] = await settleAll([
        op.script(CLEAR_TOMBSTONE, 'tombstone', true, [s.keys.tombstones], [id]),
        op.inner(() => this.inner.enqueue(scope, input), true),
        this.isMigrated(op, s),
      ]);
      if (migrated) return run;
      await op.writer.insert(s.legacyKey, run);
      // an end that raced this enqueue may have deleted the legacy record before the insert: its
      // tombstone (written before that delete) says so
      const tombstone = await op.command('zscore', [s.keys.tombstones, run.id], 'tombstone');
      if (tombstone !== null) await op.writer.remove(s.legacyKey, run.id);
      return run;
    });
  }

  start(scope: Scope, id: string, options?: StartOptions): Promise<ActiveRun<TData>> {
    return this.touch(scope, id, 'start', () => this.inner.start(scope, id, options), true);
  }

  progress(scope: Scope, id: string, input: ProgressInput<TData>): Promise<ActiveRun<TData>> {
    return this.touch(scope, id, 'progress', () => this.inner.progress(scope, id, input), true);
  }

  heartbeat(scope: Scope, id: string, options?: HeartbeatOptions): Promise<ActiveRun<TData>> {
    // the legacy record has no lease: nothing to mirror
    const call = () => this.inner.heartbeat(scope, id, options);
    return this.touch(scope, id, 'heartbeat', call, false);
  }

  async end(scope: Scope, id: string): Promise<ActiveRun<TData>> {
    const s = this.resolve(scope, id);
    if (this.migrated.has(s.tag)) return this.inner.end(scope, id);
    return this.run('end', true, async (op) => {
      const end = () => this.inner.end(scope, id);
      if (await this.tombstone(op, s, id)) return op.inner(end, true);
      const [outcome, removed] = await settleAll([
        settle(op.inner(end, true)),
        op.writer.remove(s.legacyKey, id),
      ]);
      if (!notFound(outcome) || !removed) return unwrap(outcome);
      // a run only the legacy key had: its last state, unless the new layout holds it lapsed, or
      // a report of its expiry waits in the outbox (the sweeper reports those: NOT_FOUND here)
      const mapped = mapEntry(this.ctx, s.legacyKey, removed, Date.now());
      if (!mapped.ok) return unwrap(outcome);
      const [status] = await importRecords(op.ctx, s.parsed, [mapped.record], { mode: 'check' });
      return status === 'exists' || status === 'expired' ? unwrap(outcome) : mapped.record.run;
    });
  }

  async get(scope: Scope, id: string): Promise<ActiveRun<TData> | null> {
    const s = this.resolve(scope, id);
    if (this.migrated.has(s.tag)) return this.inner.get(scope, id);
    return this.run('get', false, async (op) => {
      const [run, migrated, entry, now] = await settleAll([
        op.inner(() => this.inner.get(scope, id), false),
        this.isMigrated(op, s),
        op.writer.read(s.legacyKey, id),
        scopeNow(op, s.meta, 'clock'),
      ]);
      if (run || migrated || !entry) return run;
      const mapped = mapEntry(this.ctx, s.legacyKey, entry, now);
      return mapped.ok ? mapped.record.run : null;
    });
  }

  async list(scope: Scope, options?: ListOptions): Promise<ListPage<TData>> {
    const s = this.resolve(scope);
    if (this.migrated.has(s.tag)) return this.inner.list(scope, options);
    // options checked before any Redis call, as the store does
    const parsed = parseInput(listOptionsSchema, options, 'options');
    const limit = parsed.limit ?? parsed.pageSize ?? 25;
    const invalid = (field: string, message: string) =>
      new ActiveRunsError('INVALID_ARGUMENT', `options${message}`, { details: { field } });
    if (parsed.page !== undefined && parsed.cursor) {
      throw invalid('options.cursor', ': pass either cursor or page, not both.');
    }
    if (parsed.pageSize !== undefined && parsed.limit !== undefined && parsed.pageSize !== limit) {
      throw invalid('options.pageSize', ': limit and pageSize disagree; pass one of them.');
    }
    const offset = parsed.page === undefined ? 0 : (parsed.page - 1) * limit;
    if (offset + limit > MAX_OFFSET) {
      throw invalid(
        'options.page',
        `.page: offset paging reaches ${MAX_OFFSET} rows deep; follow nextCursor for deeper pages.`,
      );
    }
    // the new layout's binding and positions, so a cursor survives the switch
    const binding = `${s.tag}|${parsed.status ?? 'all'}|${parsed.source ?? ''}`;
    const after = parsed.cursor ? decodeCursor(parsed.cursor, binding, this.cursorSecret) : null;
    return this.run('list', false, async (op) => {
      if (await this.isMigrated(op, s)) {
        return op.inner(() => this.inner.list(scope, options), false);
      }
      const query = {
        status: parsed.status ?? null,
        source: parsed.source ?? null,
        limit,
        offset,
        after,
      };
      const page = await readLegacyPage(op.ctx, s.parsed, s.legacyKey, query);
      this.warnUnreadable(s, page);
      return {
        items: page.items,
        total: page.total,
        nextCursor: page.next ? encodeCursor(page.next, binding, this.cursorSecret) : null,
      };
    });
  }

  async counts(scope: Scope): Promise<RunCounts> {
    const s = this.resolve(scope);
    if (this.migrated.has(s.tag)) return this.inner.counts(scope);
    return this.run('counts', false, async (op) => {
      if (await this.isMigrated(op, s)) return op.inner(() => this.inner.counts(scope), false);
      const { total, byStatus, bySource } = await this.legacyStats(op, s, false);
      return { total, byStatus, bySource };
    });
  }

  async stats(scope: Scope, options?: { memory?: boolean }): Promise<ScopeStats> {
    const s = this.resolve(scope);
    if (this.migrated.has(s.tag)) return this.inner.stats(scope, options);
    return this.run('stats', false, async (op) => {
      const own = () => this.inner.stats(scope, options);
      if (await this.isMigrated(op, s)) return op.inner(own, false);
      // the new layout's own figures (validates options), then the legacy counts in its place
      const figures = await op.inner(own, false);
      const legacy = await this.legacyStats(op, s, figures.memoryBytes !== undefined);
      return {
        ...legacy,
        pendingExpiredReports: figures.pendingExpiredReports,
        ...(figures.memoryBytes !== undefined && {
          memoryBytes: figures.memoryBytes + (legacy.memoryBytes ?? 0),
        }),
      };
    });
  }

  sweep(): Promise<SweepResult> {
    return this.inner.sweep();
  }

  startSweeper(options?: StartSweeperOptions): void {
    this.inner.startSweeper(options);
  }

  stopSweeper(): Promise<void> {
    return this.inner.stopSweeper();
  }

  subscribe(scope: Scope, handler: RunEventHandler<TData>): Promise<Unsubscribe> {
    return this.inner.subscribe(scope, handler);
  }

  events(scope: Scope, options?: RunEventIteratorOptions): AsyncIterableIterator<RunEvent<TData>> {
    return this.inner.events(scope, options);
  }

  close(): Promise<void> {
    this.closed$ ??= this.shutdown();
    return this.closed$;
  }

  /**
   * As bounded as the store's own `close()` (`closeTimeoutMs`): no new call starts; the rollout
   * calls in progress get the first half to finish all their steps (one cut between two steps
   * would leave the layouts apart); then they send no further step, and the store proper closes
   * in the second half (created with that much), settling what is still in flight typed.
   */
  private async shutdown(): Promise<void> {
    const gate = this.ctx.gate;
    gate.closing = true;
    await settledWithin(
      Promise.allSettled([...this.inProgress, this.ctx.caller.drained()]),
      this.finishMs,
    );
    gate.stopped = true;
    await this.inner.close();
  }

  /**
   * The sweeper's hook: an expired run leaves the legacy key too (tombstone first), then the
   * app's hook. Only while the record is still the expired run's: its id may already be a newer
   * run's (enqueue replaces a lapsed run at once), whose record stays.
   */
  async expired(
    run: ActiveRun<TData>,
    scope: ParsedScope,
    report: ExpiredReport,
    hook: ExpiredHook<TData> | undefined,
  ) {
    const s = this.resolve(scope, undefined, true);
    if (!this.migrated.has(s.tag)) {
      await this.run('expiry', true, async (op) => {
        if ((await op.writer.holds(s.legacyKey, run)) && !(await this.tombstone(op, s, run.id))) {
          await op.writer.removeRun(s.legacyKey, run);
        }
      });
    }
    await hook?.(run, scope, report);
  }

  /**
   * The scope (and the run id, when given) validated before any Redis call, as the store does;
   * a closed store refuses new calls (the sweeper's hook still runs until the store stops).
   */
  private resolve(scope: Scope, id?: string, hook = false): ResolvedScope {
    if (this.ctx.gate.closing && !hook) {
      throw new ActiveRunsError('REDIS_UNAVAILABLE', 'the store is closed; create a new one.');
    }
    const parsed = parseScope(scope);
    if (id !== undefined) parseRunId(id);
    return {
      parsed,
      tag: `${parsed.workspaceId}:${parsed.projectId}`,
      keys: migrationKeys(this.ctx.prefix, parsed),
      meta: scopeKeys(this.ctx.prefix, parsed).meta,
      legacyKey: this.ctx.keyOf(parsed),
    };
  }

  /** Runs a rollout call (see {@link RolloutCall}), tracked until it settles for `close()`. */
  private run<T>(
    operation: string,
    isWrite: boolean,
    body: (op: RolloutCall<TData>) => Promise<T>,
  ): Promise<T> {
    const op = new RolloutCall(this.ctx, operation, isWrite);
    const done = body(op).catch((error: unknown) => {
      throw op.failure(error);
    });
    this.inProgress.add(done);
    const forget = () => this.inProgress.delete(done);
    done.then(forget, forget);
    return done;
  }

  /** Whether the scope is migrated: from the cache, else its flag (cached once seen set). */
  private async isMigrated(op: RolloutCall<TData>, s: ResolvedScope): Promise<boolean> {
    if (this.migrated.has(s.tag)) return true;
    const set =
      (await op.command('hexists', [s.keys.state, MIGRATED_FIELD], 'migration flag')) === 1;
    if (set) this.migrated.add(s.tag);
    return set;
  }

  /**
   * Records that a run ended during the rollout, unless the scope is migrated (one script on the
   * scope's slot: no tombstone is left behind a switch).
   * @returns whether the scope is migrated (then no legacy write follows)
   */
  private async tombstone(op: RolloutCall<TData>, s: ResolvedScope, id: string): Promise<boolean> {
    const keys = [s.keys.state, s.keys.tombstones];
    const args = [id, Date.now(), this.ctx.windowMs];
    const migrated = (await op.script(TOMBSTONE, 'tombstone', true, keys, args)) === 1;
    if (migrated) this.migrated.add(s.tag);
    return migrated;
  }

  /** A write to the new layout, with copy on write of a legacy-only run and the legacy mirror. */
  private touch(
    scope: Scope,
    id: string,
    operation: string,
    call: () => Promise<ActiveRun<TData>>,
    mirror: boolean,
  ): Promise<ActiveRun<TData>> {
    const s = this.resolve(scope, id);
    if (this.migrated.has(s.tag)) return call();
    return this.run(operation, true, async (op) => {
      let [outcome, migrated] = await settleAll([
        settle(op.inner(call, true)),
        this.isMigrated(op, s),
      ]);
      if (migrated) return unwrap(outcome);
      if (notFound(outcome) && (await this.adopt(op, s, id))) {
        outcome = await settle(op.inner(call, true));
      }
      if (outcome.ok && mirror) await op.writer.update(s.legacyKey, outcome.value);
      return unwrap(outcome);
    });
  }

  /** Copies a run only the legacy key has into the new layout; false if there is none to copy. */
  private async adopt(op: RolloutCall<TData>, s: ResolvedScope, id: string): Promise<boolean> {
    const entry = await op.writer.read(s.legacyKey, id);
    if (!entry) return false;
    const mapped = mapEntry(this.ctx, s.legacyKey, entry, Date.now());
    if (!mapped.ok) return false;
    const [status] = await importRecords(op.ctx, s.parsed, [mapped.record], { mode: 'write' });
    if (status === 'unchecked') throw uncheckedError(s.parsed, id);
    return status === 'inserted' || status === 'exists';
  }

  private async legacyStats(
    op: RolloutCall<TData>,
    s: ResolvedScope,
    memory: boolean,
  ): Promise<ScopeStats> {
    const counts = this.warnUnreadable(s, await readLegacyCounts(op.ctx, s.parsed, s.legacyKey));
    const age = (at: number | null) => (at === null ? null : Math.max(0, counts.now - at));
    const stats: ScopeStats = {
      total: counts.queued + counts.running,
      byStatus: { queued: counts.queued, running: counts.running },
      bySource: counts.bySource,
      lapsed: counts.stale,
      oldestQueuedAgeMs: age(counts.oldestQueuedAt),
      longestRunningMs: age(counts.oldestStartedAt),
      pendingExpiredReports: 0,
    };
    if (memory) {
      const bytes = await op.command('memory', ['USAGE', s.legacyKey], 'legacy memory');
      stats.memoryBytes = Number(bytes ?? 0);
    }
    return stats;
  }

  /** Logs records of a legacy read that did not map to runs, once per key. */
  private warnUnreadable<T extends LegacyReadSummary>(s: ResolvedScope, result: T): T {
    const skipped = Object.entries(result.skipped).filter(([reason]) => reason !== 'stale');
    if ((skipped.length > 0 || result.unreadable) && !this.warned.has(s.legacyKey)) {
      this.warned.add(s.legacyKey);
      this.ctx.logger.warn?.(
        { key: s.legacyKey, skipped: Object.fromEntries(skipped), unreadable: result.unreadable },
        'active-runs: legacy records that do not map to runs were skipped (listed once per key)',
      );
    }
    return result;
  }
}

/**
 * Creates the store in rollout mode: `create` builds the store proper (with an `onExpired` that
 * also removes the run from the legacy key), this wraps it. `callers` is the store's registry of
 * callers (see `storeCaller`): the legacy layer calls Redis through the store proper's caller, and
 * the rollout store is registered with it too, so `storeCaller(rolloutStore)` is that caller.
 */
export function createRolloutStore<TData>(
  options: ActiveRunStoreOptions<TData>,
  create: (options: ActiveRunStoreOptions<TData>) => ActiveRunStore<TData>,
  callers: WeakMap<object, RedisCaller>,
): ActiveRunStore<TData> {
  const parsed = parseInput(storeOptionsSchema, options, 'options');
  const hook = parsed.onExpired as ExpiredHook<TData> | undefined;
  // close() gives the rollout calls in progress half of closeTimeoutMs, the store proper the rest
  const finishMs = Math.ceil(parsed.closeTimeoutMs / 2);
  let rollout: RolloutStore<TData> | undefined;
  const inner = create({
    ...options,
    closeTimeoutMs: parsed.closeTimeoutMs - finishMs,
    onExpired: (run, scope, report) => rollout!.expired(run, scope, report, hook),
  });
  const caller = callers.get(inner);
  if (!caller) throw new ActiveRunsError('INTERNAL', 'the store proper has no caller');
  registerLegacyScripts(inner.redis);
  const ctx = legacyContext<TData>({
    redis: inner.redis,
    caller,
    prefix: inner.prefix,
    leaseMs: parsed.leaseMs,
    publishEvents: parsed.publishEvents,
    maxCaptionLength: parsed.maxCaptionLength,
    maxDataBytes: parsed.maxDataBytes,
    dataSchema: parsed.dataSchema,
    logger: parsed.logger as ActiveRunsLogger | undefined,
    legacy: parsed.legacy as LegacyContextInput['legacy'],
  });
  rollout = new RolloutStore(
    inner,
    ctx,
    parsed.cursorSecret ?? `active-runs cursor:${parsed.prefix}`,
    finishMs,
  );
  contexts.set(rollout, ctx as LegacyContext<never>);
  callers.set(rollout, caller);
  return rollout;
}
