/**
 * The store's public types: its options, the inputs of each operation, a page, the counts and
 * the store interface itself. The implementation is in store.ts.
 */
import type { ActiveRun, RunStatus } from './codec.js';
import type {
  RunEvent,
  RunEventHandler,
  RunEventIteratorOptions,
  Unsubscribe,
} from './events/index.js';
import type { Scope } from './keys.js';
import type { LegacyOptions } from './legacy/options.js';
import type { ActiveRunsLogger } from './logger.js';
import type { DataSchema, RedisLike } from './schemas.js';
import type { ExpiredHook, SweeperOptions, SweepResult } from './sweeper.js';
import type { TelemetryOptions } from './telemetry/options.js';

/** Options of {@link createActiveRunStore}. */
export interface ActiveRunStoreOptions<TData = unknown> {
  /**
   * An ioredis `Redis` or `Cluster` client, or a `redis://` URL for which the store creates (and
   * later closes) its own client. A client must have `commandTimeout` set (for a Cluster, in
   * `redisOptions`) so no call hangs forever, and no `keyPrefix` (Lua scripts never see it).
   */
  redis: RedisLike | string;
  /**
   * Prefix of every key, so several apps or environments can share one Redis.
   * @default 'active-runs'
   */
  prefix?: string;
  /**
   * How long a run stays active without `start`, `progress` or `heartbeat` before it counts as
   * stuck (lapsed). Apps that heartbeat use seconds.
   * @default 10_800_000 (3 hours, the TTL of the original layout)
   */
  leaseMs?: number;
  /** Zod schema of the app's own `data`; validated on every write, typed on every read. */
  dataSchema?: DataSchema<TData>;
  /**
   * Longest caption, in characters; longer ones fail `PAYLOAD_TOO_LARGE`.
   * @default 500
   */
  maxCaptionLength?: number;
  /**
   * Largest `data`, in bytes of JSON; larger payloads fail `PAYLOAD_TOO_LARGE`.
   * @default 16384
   */
  maxDataBytes?: number;
  /**
   * `commandTimeout` of a client the store creates from a URL.
   * @default 5000
   */
  commandTimeoutMs?: number;
  /**
   * Whether `close()` quits the client. Defaults to true only for a client the store created.
   * @default undefined (store-created: true; passed in: false)
   */
  closeClient?: boolean;
  /**
   * Longest time `close()` takes, whatever Redis and the hooks do: calls still in flight then
   * fail typed (`TIMEOUT` if sent, `REDIS_UNAVAILABLE` if not, and then never sent), a sweep pass
   * stops (its hook's report stays in the outbox), and the connections the store opened close.
   * @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * Secret that signs cursors, so an edited cursor is refused. Cursors only ever address runs of
   * the caller's own scope, so the default (derived from the prefix) is safe; set one to make
   * cursors unforgeable.
   */
  cursorSecret?: string;
  /**
   * Publish a change event from every write script (see `subscribe`).
   * @default true
   */
  publishEvents?: boolean;
  /**
   * Durable writes: after every write, `WAIT` (in the same pipeline, on the same node) until this
   * many replicas acknowledged it. Redis replication is asynchronous: without it, a write
   * acknowledged just before a primary dies can be lost in the failover. A write that is not
   * confirmed in time fails `TIMEOUT` (it was applied on the primary; retrying is safe).
   * @default undefined (off)
   */
  durableWrites?: { replicas: number; timeoutMs?: number };
  /**
   * Called once per run the sweeper expires (its lease lapsed), so the app can mark it failed,
   * with the delivery's attempt number, a redelivery flag and a claim token to deduplicate by.
   * A hook that throws is retried after `sweeper.reclaimMs`, up to `sweeper.maxAttempts` times.
   */
  onExpired?: ExpiredHook<TData>;
  /** Sweeper settings (lock, batch size, re-delivery); see `sweep` and `startSweeper`. */
  sweeper?: SweeperOptions;
  /** A pino-compatible logger (`warn`, `info`, `debug`, `error` taking `(object, message)`). */
  logger?: ActiveRunsLogger;
  /**
   * Log a warning when an enqueue makes a scope hold more than this many runs: once per
   * crossing, not once per call (the original guide's alert).
   * @default 1000
   */
  warnScopeSize?: number;
  /**
   * Rollout mode, for apps moving off a hash per project: scopes not yet migrated by
   * `migrateLegacy` are read from their legacy key and written to both layouts; migrated ones use
   * only the new layout. See "Migrating from a hash per project" in the README.
   * @default undefined (off)
   */
  legacy?: LegacyOptions<TData>;
  /**
   * OpenTelemetry metrics and spans (needs `@opentelemetry/api`; see "Telemetry" in the README);
   * `false` reports nothing.
   * @default the API's global providers, resolved when the store is created
   */
  telemetry?: TelemetryOptions | false;
}

/** Input of `enqueue`. */
export interface EnqueueInput<TData = unknown> {
  /** The run's id, unique within its scope: 1-128 printable ASCII characters without spaces, `{`, `}` or `:`. */
  id: string;
  /** When it was enqueued (ms since epoch). @default the Redis server's clock */
  queuedAt?: number;
  /** Low-cardinality label (`api`, `playground`, ...), filterable and counted. */
  source?: string | null;
  /** Short progress text. */
  caption?: string | null;
  /** The app's own payload (validated by `dataSchema`). */
  data?: TData | null;
  /** Lease of this run. @default the store's leaseMs */
  leaseMs?: number;
  /**
   * Start the run in the same call: it is `running` from its first write (one round trip instead
   * of `enqueue` then `start`). `{ startedAt }` sets when it started. A re-sent identical request
   * returns the run unchanged; a start for a run that is already queued (enqueued without start)
   * fails `CONFLICT`. Subscribers get `queued` then `started`, as after the two calls.
   * @default false
   */
  start?: boolean | { startedAt?: number };
}

/** Options of `start`. */
export interface StartOptions {
  /** When it started (ms since epoch). @default the Redis server's clock */
  startedAt?: number;
  /** New lease. @default the store's leaseMs */
  leaseMs?: number;
}

/** Input of `progress`: `undefined` keeps a field, `null` clears it. */
export interface ProgressInput<TData = unknown> {
  caption?: string | null;
  data?: TData | null;
  /** New lease. @default the store's leaseMs */
  leaseMs?: number;
}

/** Options of `heartbeat`. */
export interface HeartbeatOptions {
  /** New lease. @default the store's leaseMs */
  leaseMs?: number;
}

/**
 * Options of `list`. Cursor paging (default) is stable while runs come and go; offset paging
 * (`page`, `pageSize`) exists for clients of the old API and reaches 10,000 rows deep.
 */
export interface ListOptions {
  /** Page size for cursor paging. @default 25, at most 500 */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
  /** 1-based page number: switches to offset paging. */
  page?: number;
  /** Page size for offset paging. @default 25, at most 500 */
  pageSize?: number;
  /** Only runs with this status. */
  status?: RunStatus | null;
  /** Only runs with this source. */
  source?: string | null;
}

/** One page of runs. */
export interface ListPage<TData = unknown> {
  items: ActiveRun<TData>[];
  /** Active runs matching the filters (lapsed runs excluded). */
  total: number;
  /** Pass to the next `list` call; null on the last page. */
  nextCursor: string | null;
}

/** Counts of a scope's active runs, O(1) in the number of runs. */
export interface RunCounts {
  total: number;
  byStatus: Record<RunStatus, number>;
  bySource: Record<string, number>;
}

/** Monitoring figures of one scope. */
export interface ScopeStats extends RunCounts {
  /** Runs whose lease lapsed and that the sweeper has not removed yet (not in `total`). */
  lapsed: number;
  /** How long the longest-waiting queued run has waited (ms), or null. */
  oldestQueuedAgeMs: number | null;
  /** How long the longest-running run has run (ms), or null. */
  longestRunningMs: number | null;
  /** Expired runs claimed by a sweeper whose hook has not confirmed them yet. */
  pendingExpiredReports: number;
  /** Approximate Redis memory of the scope's keys (bytes), when asked for with `{ memory: true }`. */
  memoryBytes?: number;
}

/** Options of `startSweeper`. */
export interface StartSweeperOptions {
  /**
   * Time between the end of one pass and the start of the next.
   * @default 10_000
   */
  intervalMs?: number;
}

/** The store: every operation is one Lua script, atomic on standalone Redis and Redis Cluster. */
export interface ActiveRunStore<TData = unknown> {
  /** Key prefix in use. */
  readonly prefix: string;
  /** The ioredis client in use. */
  readonly redis: RedisLike;
  /** Adds a queued run (idempotent for the same payload, `CONFLICT` for a different one). */
  enqueue(scope: Scope, input: EnqueueInput<TData>): Promise<ActiveRun<TData>>;
  /** Marks a queued run running and renews its lease. */
  start(scope: Scope, id: string, options?: StartOptions): Promise<ActiveRun<TData>>;
  /** Updates caption and/or data and renews the lease. */
  progress(scope: Scope, id: string, input: ProgressInput<TData>): Promise<ActiveRun<TData>>;
  /** Renews the lease. */
  heartbeat(scope: Scope, id: string, options?: HeartbeatOptions): Promise<ActiveRun<TData>>;
  /** Removes the run and returns its last state. */
  end(scope: Scope, id: string): Promise<ActiveRun<TData>>;
  /** One active run, or null. */
  get(scope: Scope, id: string): Promise<ActiveRun<TData> | null>;
  /** One page of active runs: running newest-first, then queued newest-first. */
  list(scope: Scope, options?: ListOptions): Promise<ListPage<TData>>;
  /** Active runs by status and source. */
  counts(scope: Scope): Promise<RunCounts>;
  /** Counts plus lapsed-but-unswept runs, oldest ages and, optionally, memory. */
  stats(scope: Scope, options?: { memory?: boolean }): Promise<ScopeStats>;
  /**
   * One sweep pass: removes lapsed runs of every scope in bounded batches and reports each one
   * exactly once (`onExpired` hook and `expired` event). At most one pass runs at a time across
   * all instances; a pass that finds the lock taken returns `{ ran: false }`.
   */
  sweep(): Promise<SweepResult>;
  /** Runs `sweep` every `intervalMs` until `stopSweeper` or `close`. */
  startSweeper(options?: StartSweeperOptions): void;
  /** Stops the timer started by `startSweeper` and waits for a pass in progress. */
  stopSweeper(): Promise<void>;
  /**
   * Calls `handler` for every change of the scope (`queued`, `started`, `progress`, `ended`,
   * `expired`, each with a per-scope `seq`) and with a `gap` notice whenever something may have
   * been missed (first on subscribing, then after a reconnect or a skipped sequence number): on a
   * gap, refetch the page. All subscriptions of a store share one Redis connection.
   * @returns a function that unsubscribes
   */
  subscribe(scope: Scope, handler: RunEventHandler<TData>): Promise<Unsubscribe>;
  /** The same events as an async iterator; it ends on `signal` abort or `close()`. */
  events(scope: Scope, options?: RunEventIteratorOptions): AsyncIterableIterator<RunEvent<TData>>;
  /** Stops the store; quits the client only if the store created it (or `closeClient: true`). */
  close(): Promise<void>;
}
