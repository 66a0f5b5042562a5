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
} from '../store.js';
import type { ExpiredHook, ExpiredReport, SweepResult } from '../sweeper.js';
import type { MigrationKeys } from './checkpoint.js';
import { MIGRATED_FIELD, MigratedScopes, migrationKeys } from './checkpoint.js';
import type { LegacyContext, LegacyContextInput } from './context.js';
import { legacyContext, legacyError, legacyScript, mapEntry } from './context.js';
import { importRecords, uncheckedError } from './importer.js';
import { scopeNow } from './legacy-key.js';
import { LegacyWriter } from './legacy-writer.js';
import type { LegacyReadSummary } from './page-reader.js';
import { readLegacyCounts, readLegacyPage } from './page-reader.js';

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

type Client = {
  hexists(key: string, field: string): Promise<number>;
  zrem(key: string, member: string): Promise<number>;
  zscore(key: string, member: string): Promise<string | null>;
  memory(sub: 'USAGE', key: string): Promise<number | null>;
};

// Tombstone of a run ended during the rollout, trimmed to the window; nothing once migrated.
// KEYS: 1 migration state, 2 tombstones; ARGV: 1 id, 2 now (ms), 3 windowMs. Returns 1 if migrated.
const TOMBSTONE = `
if redis.call('HEXISTS', KEYS[1], '${MIGRATED_FIELD}') == 1 then return 1 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.0f', tonumber(ARGV[2]) - tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 0`;

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
 * Once the scope's flag is set, everything goes to the new layout only; the flag is read until
 * seen set, then cached (it only goes one way), so a migrated scope costs no extra round trip.
 */
class RolloutStore<TData> implements ActiveRunStore<TData> {
  private readonly migrated = new MigratedScopes();
  private readonly writer: LegacyWriter<TData>;
  private readonly client: Client;
  private readonly warned = new Set<string>();
  private readonly tombstoneScript: (...args: (string | number)[]) => Promise<unknown>;

  constructor(
    private readonly inner: ActiveRunStore<TData>,
    private readonly ctx: LegacyContext<TData>,
    private readonly cursorSecret: string,
  ) {
    this.writer = new LegacyWriter(ctx);
    this.client = ctx.redis as unknown as Client;
    this.tombstoneScript = legacyScript(ctx.redis, 'tombstone', 2, TOMBSTONE);
  }

  get prefix(): string {
    return this.inner.prefix;
  }

  get redis() {
    return this.inner.redis;
  }

  async enqueue(scope: Scope, input: EnqueueInput<TData>): Promise<ActiveRun<TData>> {
    const s = this.resolve(scope);
    if (this.migrated.has(s.tag)) return this.inner.enqueue(scope, input);
    // a tombstone of an earlier run with this id must not hide the new one (sent first, so Redis
    // applies it before the enqueue: same slot, same connection)
    let id: string;
    try {
      id = parseRunId(input?.id);
    } catch {
      return this.inner.enqueue(scope, input); // it refuses the input, before any Redis call
    }
    const cleared = this.client.zrem(s.keys.tombstones, id);
    const [run, migrated] = await Promise.all([
      this.inner.enqueue(scope, input),
      this.isMigrated(s),
      cleared,
    ]);
    if (migrated) return run;
    await this.writer.insert(s.legacyKey, run);
    // an end that raced this enqueue may have deleted the legacy record before the insert: its
    // tombstone (written before that delete) says so
    if ((await this.client.zscore(s.keys.tombstones, run.id)) !== null) {
      await this.writer.remove(s.legacyKey, run.id);
    }
    return run;
  }

  start(scope: Scope, id: string, options?: StartOptions): Promise<ActiveRun<TData>> {
    return this.touch(scope, id, () => this.inner.start(scope, id, options), true);
  }

  progress(scope: Scope, id: string, input: ProgressInput<TData>): Promise<ActiveRun<TData>> {
    return this.touch(scope, id, () => this.inner.progress(scope, id, input), true);
  }

  heartbeat(scope: Scope, id: string, options?: HeartbeatOptions): Promise<ActiveRun<TData>> {
    // the legacy record has no lease: nothing to mirror
    return this.touch(scope, id, () => this.inner.heartbeat(scope, id, options), false);
  }

  async end(scope: Scope, id: string): Promise<ActiveRun<TData>> {
    const s = this.resolve(scope, id);
    if (this.migrated.has(s.tag) || (await this.tombstone(s, id))) {
      return this.inner.end(scope, id);
    }
    const [outcome, removed] = await Promise.all([
      settle(this.inner.end(scope, id)),
      this.writer.remove(s.legacyKey, id),
    ]);
    if (!notFound(outcome) || !removed) return unwrap(outcome);
    // a run only the legacy key had: its last state, unless the new layout holds it lapsed, or
    // a report of its expiry waits in the outbox (the sweeper reports those: NOT_FOUND here)
    const mapped = mapEntry(this.ctx, s.legacyKey, removed, Date.now());
    if (!mapped.ok) return unwrap(outcome);
    const [status] = await importRecords(this.ctx, s.parsed, [mapped.record], { mode: 'check' });
    return status === 'exists' || status === 'expired' ? unwrap(outcome) : mapped.record.run;
  }

  async get(scope: Scope, id: string): Promise<ActiveRun<TData> | null> {
    const s = this.resolve(scope, id);
    if (this.migrated.has(s.tag)) return this.inner.get(scope, id);
    const [run, migrated, entry, now] = await Promise.all([
      this.inner.get(scope, id),
      this.isMigrated(s),
      this.writer.read(s.legacyKey, id),
      this.now(s, 'get'),
    ]);
    if (run || migrated || !entry) return run;
    const mapped = mapEntry(this.ctx, s.legacyKey, entry, now);
    return mapped.ok ? mapped.record.run : null;
  }

  async list(scope: Scope, options?: ListOptions): Promise<ListPage<TData>> {
    const s = this.resolve(scope);
    if (this.migrated.has(s.tag)) return this.inner.list(scope, options);
    const parsed = parseInput(listOptionsSchema, options, 'options');
    if (await this.isMigrated(s)) return this.inner.list(scope, options);
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
    const page = await this.readLegacy('list', s, () =>
      readLegacyPage(this.ctx, s.parsed, s.legacyKey, {
        status: parsed.status ?? null,
        source: parsed.source ?? null,
        limit,
        offset,
        after,
      }),
    );
    return {
      items: page.items,
      total: page.total,
      nextCursor: page.next ? encodeCursor(page.next, binding, this.cursorSecret) : null,
    };
  }

  async counts(scope: Scope): Promise<RunCounts> {
    const s = this.resolve(scope);
    if (this.migrated.has(s.tag) || (await this.isMigrated(s))) return this.inner.counts(scope);
    const { total, byStatus, bySource } = await this.legacyStats(s, false);
    return { total, byStatus, bySource };
  }

  async stats(scope: Scope, options?: { memory?: boolean }): Promise<ScopeStats> {
    const s = this.resolve(scope);
    if (this.migrated.has(s.tag) || (await this.isMigrated(s))) {
      return this.inner.stats(scope, options);
    }
    // the new layout's own figures (validates options), then the legacy counts in its place
    const own = await this.inner.stats(scope, options);
    const legacy = await this.legacyStats(s, own.memoryBytes !== undefined);
    return {
      ...legacy,
      pendingExpiredReports: own.pendingExpiredReports,
      ...(own.memoryBytes !== undefined && {
        memoryBytes: own.memoryBytes + (legacy.memoryBytes ?? 0),
      }),
    };
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
    return this.inner.close();
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
    const s = this.resolve(scope);
    if (
      !this.migrated.has(s.tag) &&
      (await this.writer.holds(s.legacyKey, run)) &&
      !(await this.tombstone(s, run.id))
    ) {
      await this.writer.removeRun(s.legacyKey, run);
    }
    await hook?.(run, scope, report);
  }

  /** The scope (and the run id, when given) validated before any Redis call, as the store does. */
  private resolve(scope: Scope, id?: string): ResolvedScope {
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

  /** Whether the scope is migrated: from the cache, else its flag (cached once seen set). */
  private async isMigrated(s: ResolvedScope): Promise<boolean> {
    if (this.migrated.has(s.tag)) return true;
    let set: number;
    try {
      set = await this.client.hexists(s.keys.state, MIGRATED_FIELD);
    } catch (error) {
      throw legacyError(this.ctx, error, 'migration flag', false);
    }
    if (set === 1) this.migrated.add(s.tag);
    return set === 1;
  }

  /**
   * Records that a run ended during the rollout, unless the scope is migrated (one script on the
   * scope's slot: no tombstone is left behind a switch).
   * @returns whether the scope is migrated (then no legacy write follows)
   */
  private async tombstone(s: ResolvedScope, id: string): Promise<boolean> {
    let migrated: boolean;
    try {
      migrated =
        (await this.tombstoneScript(
          s.keys.state,
          s.keys.tombstones,
          id,
          Date.now(),
          this.ctx.windowMs,
        )) === 1;
    } catch (error) {
      throw legacyError(this.ctx, error, 'tombstone', true);
    }
    if (migrated) this.migrated.add(s.tag);
    return migrated;
  }

  /** A write to the new layout, with copy on write of a legacy-only run and the legacy mirror. */
  private async touch(
    scope: Scope,
    id: string,
    call: () => Promise<ActiveRun<TData>>,
    mirror: boolean,
  ): Promise<ActiveRun<TData>> {
    const s = this.resolve(scope, id);
    if (this.migrated.has(s.tag)) return call();
    let [outcome, migrated] = await Promise.all([settle(call()), this.isMigrated(s)]);
    if (migrated) return unwrap(outcome);
    if (notFound(outcome) && (await this.adopt(s, id))) outcome = await settle(call());
    if (outcome.ok && mirror) await this.writer.update(s.legacyKey, outcome.value);
    return unwrap(outcome);
  }

  /** Copies a run only the legacy key has into the new layout; false if there is none to copy. */
  private async adopt(s: ResolvedScope, id: string): Promise<boolean> {
    const entry = await this.writer.read(s.legacyKey, id);
    if (!entry) return false;
    const mapped = mapEntry(this.ctx, s.legacyKey, entry, Date.now());
    if (!mapped.ok) return false;
    const [status] = await importRecords(this.ctx, s.parsed, [mapped.record], { mode: 'write' });
    if (status === 'unchecked') throw uncheckedError(s.parsed, id);
    return status === 'inserted' || status === 'exists';
  }

  private async legacyStats(s: ResolvedScope, memory: boolean): Promise<ScopeStats> {
    const counts = await this.readLegacy('stats', s, () =>
      readLegacyCounts(this.ctx, s.parsed, s.legacyKey),
    );
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
    if (memory) stats.memoryBytes = Number((await this.client.memory('USAGE', s.legacyKey)) ?? 0);
    return stats;
  }

  /** A legacy read, with Redis errors mapped and unreadable records reported once per key. */
  private async readLegacy<T extends LegacyReadSummary>(
    operation: string,
    s: ResolvedScope,
    read: () => Promise<T>,
  ): Promise<T> {
    let result: T;
    try {
      result = await read();
    } catch (error) {
      throw legacyError(this.ctx, error, operation, false);
    }
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

  private async now(s: ResolvedScope, operation: string): Promise<number> {
    try {
      return await scopeNow(this.ctx.redis, s.meta);
    } catch (error) {
      throw legacyError(this.ctx, error, operation, false);
    }
  }
}

/**
 * Creates the store in rollout mode: `create` builds the store proper (with an `onExpired` that
 * also removes the run from the legacy key), this wraps it.
 */
export function createRolloutStore<TData>(
  options: ActiveRunStoreOptions<TData>,
  create: (options: ActiveRunStoreOptions<TData>) => ActiveRunStore<TData>,
): ActiveRunStore<TData> {
  const parsed = parseInput(storeOptionsSchema, options, 'options');
  const hook = parsed.onExpired as ExpiredHook<TData> | undefined;
  let rollout: RolloutStore<TData> | undefined;
  const inner = create({
    ...options,
    onExpired: (run, scope, report) => rollout!.expired(run, scope, report, hook),
  });
  const ctx = legacyContext<TData>({
    redis: inner.redis,
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
  );
  contexts.set(rollout, ctx as LegacyContext<never>);
  return rollout;
}
