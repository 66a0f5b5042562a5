import { Redis } from 'ioredis';
import type { ActiveRun, RunStatus } from './codec.js';
import { decodeRun } from './codec.js';
import { LIST_LAPSED_SCAN_BUDGET, MAX_OFFSET, MAX_SOURCES_PER_SCOPE } from './constants.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { ActiveRunsError, fromRedisError } from './errors.js';
import type { RunEvent, RunEventHandler, RunEventIteratorOptions, Unsubscribe } from './events/index.js';
import { RunEventHub } from './events/index.js';
import type { Scope, ScopeKeys } from './keys.js';
import { outboxKeys, parseRunId, parseScope, scopeKeys, writeKeys } from './keys.js';
import type { ActiveRunsLogger } from './logger.js';
import { silentLogger } from './logger.js';
import type { DataSchema, RedisLike } from './schemas.js';
import {
  enqueueInputSchema,
  heartbeatOptionsSchema,
  listOptionsSchema,
  parseInput,
  progressInputSchema,
  startOptionsSchema,
  startSweeperOptionsSchema,
  statsOptionsSchema,
  storeOptionsSchema,
} from './schemas.js';
import type { ScriptDefinition } from './scripts/index.js';
import { SCRIPTS } from './scripts/index.js';
import type { ExpiredHook, SweeperOptions, SweepResult } from './sweeper.js';
import { outboxTtlMs, sweepOnce } from './sweeper.js';

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

type Reply = (string | number)[];

/** How long `close()` waits for Redis to answer QUIT before it drops the connection. */
const CLOSE_QUIT_TIMEOUT_MS = 1_000;
type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

class RedisActiveRunStore<TData> implements ActiveRunStore<TData> {
  readonly prefix: string;
  readonly redis: RedisLike;
  private readonly leaseMs: number;
  private readonly graceMs: number;
  private readonly dataSchema: DataSchema<TData> | undefined;
  private readonly maxCaptionLength: number;
  private readonly maxDataBytes: number;
  private readonly ownsClient: boolean;
  private readonly cursorSecret: string;
  private readonly publishMode: string;
  private readonly durable: { replicas: number; timeoutMs: number } | undefined;
  private readonly logger: ActiveRunsLogger;
  private readonly warnScopeSize: number;
  private readonly onExpired: ExpiredHook<TData> | undefined;
  private readonly sweeperOptions: Required<SweeperOptions>;
  private readonly outboxTtlMs: number;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepInFlight: Promise<unknown> | undefined;
  private sweeperRunning = false;
  private hub: RunEventHub | undefined;
  private closed = false;

  constructor(options: ActiveRunStoreOptions<TData>) {
    const parsed = parseInput(storeOptionsSchema, options, 'options');
    this.prefix = parsed.prefix;
    this.leaseMs = parsed.leaseMs;
    // Keys outlive the latest lease by one more lease (at least a minute), so most writes need no
    // PEXPIRE and the sweeper has time to report lapsed runs before the keys vanish.
    this.graceMs = Math.max(parsed.leaseMs, 60_000);
    this.dataSchema = parsed.dataSchema as DataSchema<TData> | undefined;
    this.maxCaptionLength = parsed.maxCaptionLength;
    this.maxDataBytes = parsed.maxDataBytes;
    this.cursorSecret = parsed.cursorSecret ?? `active-runs cursor:${parsed.prefix}`;
    if (typeof parsed.redis === 'string') {
      const client = new Redis(parsed.redis, { commandTimeout: parsed.commandTimeoutMs });
      // without a listener ioredis prints every failed reconnect as an unhandled error
      client.on('error', (error: Error) => {
        (parsed.logger as ActiveRunsLogger | undefined)?.warn?.(
          { err: error },
          'active-runs: Redis connection error',
        );
      });
      this.redis = client as unknown as RedisLike;
      this.ownsClient = parsed.closeClient ?? true;
    } else {
      checkClient(parsed.redis);
      this.redis = parsed.redis;
      this.ownsClient = parsed.closeClient ?? false;
    }
    this.durable = parsed.durableWrites
      ? {
          replicas: parsed.durableWrites.replicas,
          timeoutMs: parsed.durableWrites.timeoutMs ?? 1_000,
        }
      : undefined;
    this.logger = (parsed.logger as ActiveRunsLogger | undefined) ?? silentLogger;
    this.warnScopeSize = parsed.warnScopeSize;
    this.onExpired = parsed.onExpired as ExpiredHook<TData> | undefined;
    this.sweeperOptions = {
      lockMs: parsed.sweeper?.lockMs ?? 30_000,
      batchSize: parsed.sweeper?.batchSize ?? 200,
      reclaimMs: parsed.sweeper?.reclaimMs ?? 60_000,
      maxAttempts: parsed.sweeper?.maxAttempts ?? 10,
    };
    this.outboxTtlMs = outboxTtlMs(this.sweeperOptions);
    this.publishMode = parsed.publishEvents ? (this.redis.isCluster ? '2' : '1') : '0';
    for (const def of Object.values(SCRIPTS)) {
      if (typeof (this.redis as unknown as Record<string, unknown>)[def.command] !== 'function') {
        this.redis.defineCommand(def.command, {
          numberOfKeys: def.numberOfKeys,
          lua: def.lua,
          readOnly: def.readOnly,
        });
      }
    }
  }

  async enqueue(scope: Scope, input: EnqueueInput<TData>): Promise<ActiveRun<TData>> {
    const keys = this.keys(scope);
    const parsed = parseInput(enqueueInputSchema, input, 'input');
    const id = parseRunId(parsed.id);
    const reply = (await this.call(SCRIPTS.enqueue, 'enqueue', true, outboxKeys(keys), [
      ...this.leaseArgs(keys, id, parsed.leaseMs),
      parsed.queuedAt ?? '',
      parsed.source ?? '',
      this.captionJson(parsed.caption),
      this.dataJson(parsed.data),
      MAX_SOURCES_PER_SCOPE,
      this.outboxTtlMs,
    ])) as Reply;
    if (Number(reply[2]) === 1 && Number(reply[3]) === this.warnScopeSize + 1) {
      this.logger.warn?.(
        { scope: parseScope(scope), runs: Number(reply[3]), threshold: this.warnScopeSize },
        `active-runs: scope now holds more than ${this.warnScopeSize} active runs; check for runs that never end (is the sweeper running?)`,
      );
    }
    return decodeRun<TData>(id, String(reply[0]));
  }

  async start(scope: Scope, id: string, options?: StartOptions): Promise<ActiveRun<TData>> {
    const keys = this.keys(scope);
    const runId = parseRunId(id);
    const parsed = parseInput(startOptionsSchema, options, 'options');
    const reply = (await this.call(SCRIPTS.start, 'start', true, writeKeys(keys), [
      ...this.leaseArgs(keys, runId, parsed.leaseMs),
      parsed.startedAt ?? '',
    ])) as Reply;
    return decodeRun<TData>(runId, String(reply[0]));
  }

  async progress(scope: Scope, id: string, input: ProgressInput<TData>): Promise<ActiveRun<TData>> {
    const keys = this.keys(scope);
    const runId = parseRunId(id);
    const parsed = parseInput(progressInputSchema, input, 'input');
    const setCaption = parsed.caption !== undefined;
    const setData = parsed.data !== undefined;
    return this.touch(keys, runId, 'progress', parsed.leaseMs, [
      setCaption ? '1' : '0',
      setCaption ? this.captionJson(parsed.caption) : '',
      setData ? '1' : '0',
      setData ? this.dataJson(parsed.data) : '',
    ]);
  }

  async heartbeat(scope: Scope, id: string, options?: HeartbeatOptions): Promise<ActiveRun<TData>> {
    const keys = this.keys(scope);
    const runId = parseRunId(id);
    const parsed = parseInput(heartbeatOptionsSchema, options, 'options');
    return this.touch(keys, runId, 'heartbeat', parsed.leaseMs, ['0', '', '0', '']);
  }

  async end(scope: Scope, id: string): Promise<ActiveRun<TData>> {
    const keys = this.keys(scope);
    const runId = parseRunId(id);
    const reply = (await this.call(
      SCRIPTS.end,
      'end',
      true,
      [...writeKeys(keys), keys.expired],
      [keys.tag, runId, keys.events, this.publishMode],
    )) as Reply;
    return decodeRun<TData>(runId, String(reply[0]));
  }

  async get(scope: Scope, id: string): Promise<ActiveRun<TData> | null> {
    const keys = this.keys(scope);
    const runId = parseRunId(id);
    const reply = (await this.call(
      SCRIPTS.get,
      'get',
      false,
      [keys.runs, keys.meta],
      [runId],
    )) as Reply | null;
    return reply ? decodeRun<TData>(runId, String(reply[0])) : null;
  }

  async list(scope: Scope, options?: ListOptions): Promise<ListPage<TData>> {
    const keys = this.keys(scope);
    const parsed = parseInput(listOptionsSchema, options, 'options');
    if (parsed.page !== undefined && parsed.cursor) {
      throw new ActiveRunsError(
        'INVALID_ARGUMENT',
        'options: pass either cursor (cursor paging) or page (offset paging), not both.',
        { details: { field: 'options.cursor' } },
      );
    }
    if (
      parsed.limit !== undefined &&
      parsed.pageSize !== undefined &&
      parsed.limit !== parsed.pageSize
    ) {
      throw new ActiveRunsError(
        'INVALID_ARGUMENT',
        'options: limit and pageSize disagree; pass one of them.',
        { details: { field: 'options.pageSize' } },
      );
    }
    const limit = parsed.limit ?? parsed.pageSize ?? 25;
    let offset = 0;
    if (parsed.page !== undefined) {
      offset = (parsed.page - 1) * limit;
      if (offset + limit > MAX_OFFSET) {
        throw new ActiveRunsError(
          'INVALID_ARGUMENT',
          `options.page: offset paging reaches ${MAX_OFFSET} rows deep; follow nextCursor for deeper pages.`,
          { details: { field: 'options.page' } },
        );
      }
    }
    const status = parsed.status ?? 'all';
    const source = parsed.source ?? '';
    const binding = `${keys.tag}|${status}|${source}`;
    const cursor = parsed.cursor ? decodeCursor(parsed.cursor, binding, this.cursorSecret) : null;
    const reply = (await this.call(SCRIPTS.list, 'list', false, writeKeys(keys), [
      keys.tag,
      status,
      source,
      limit,
      offset,
      cursor ? cursor.score : '',
      cursor ? cursor.id : '',
      LIST_LAPSED_SCAN_BUDGET,
    ])) as Reply;
    const items: ActiveRun<TData>[] = [];
    for (let i = 4; i < reply.length; i += 2) {
      items.push(decodeRun<TData>(String(reply[i]), String(reply[i + 1])));
    }
    const nextScore = String(reply[1]);
    return {
      items,
      total: Number(reply[0]),
      nextCursor:
        nextScore === ''
          ? null
          : encodeCursor(
              { score: Number(nextScore) - Number(reply[3] ?? 0), id: String(reply[2]) },
              binding,
              this.cursorSecret,
            ),
    };
  }

  async counts(scope: Scope): Promise<RunCounts> {
    const { total, byStatus, bySource } = await this.readCounts(this.keys(scope), false);
    return { total, byStatus, bySource };
  }

  async stats(scope: Scope, options?: { memory?: boolean }): Promise<ScopeStats> {
    const keys = this.keys(scope);
    const { memory } = parseInput(statsOptionsSchema, options, 'options');
    const stats = await this.readCounts(keys, true);
    const client = this.redis as unknown as {
      hlen(key: string): Promise<number>;
      memory(sub: 'USAGE', key: string, samples: 'SAMPLES', n: number): Promise<number | null>;
    };
    try {
      stats.pendingExpiredReports = await client.hlen(keys.expired);
      if (memory) {
        let bytes = 0;
        for (const key of [
          keys.runs,
          keys.index,
          keys.bySource,
          keys.lease,
          keys.meta,
          keys.expired,
        ]) {
          bytes += Number((await client.memory('USAGE', key, 'SAMPLES', 5)) ?? 0);
        }
        stats.memoryBytes = bytes;
      }
    } catch (error) {
      throw fromRedisError(error, 'stats', false);
    }
    return stats;
  }

  async sweep(): Promise<SweepResult> {
    if (this.closed) {
      throw new ActiveRunsError('REDIS_UNAVAILABLE', 'the store is closed; create a new one.');
    }
    const pass = sweepOnce<TData>(
      {
        redis: this.redis,
        prefix: this.prefix,
        publishMode: this.publishMode,
        onExpired: this.onExpired,
        logger: this.logger,
        outboxTtlMs: this.outboxTtlMs,
      },
      this.sweeperOptions,
    );
    this.sweepInFlight = pass.catch(() => {});
    const result = await pass;
    if (result.expired > 0 || result.redelivered > 0) {
      this.logger.info?.({ prefix: this.prefix, ...result }, 'active-runs: sweep expired runs');
    }
    return result;
  }

  startSweeper(options?: StartSweeperOptions): void {
    if (this.closed) {
      throw new ActiveRunsError('REDIS_UNAVAILABLE', 'the store is closed; create a new one.');
    }
    const intervalMs =
      parseInput(startSweeperOptionsSchema, options, 'options').intervalMs ?? 10_000;
    if (this.sweeperRunning) {
      throw new ActiveRunsError(
        'CONFLICT',
        'the sweeper is already running; call stopSweeper first.',
      );
    }
    this.sweeperRunning = true;
    const tick = async () => {
      try {
        await this.sweep();
      } catch (error) {
        this.logger.error?.(
          { err: error },
          'active-runs: sweep pass failed; retrying next interval',
        );
      }
      if (this.sweeperRunning) {
        this.sweepTimer = setTimeout(tick, intervalMs);
        this.sweepTimer.unref();
      }
    };
    this.sweepTimer = setTimeout(tick, 0);
    this.sweepTimer.unref();
  }

  async stopSweeper(): Promise<void> {
    this.sweeperRunning = false;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    await this.sweepInFlight;
  }

  private async readCounts(keys: ScopeKeys, detail: boolean): Promise<ScopeStats> {
    const reply = (await this.call(
      SCRIPTS.counts,
      detail ? 'stats' : 'counts',
      false,
      [keys.lease, keys.meta, keys.index],
      [keys.tag, detail ? '1' : '0'],
    )) as Reply;
    const queued = Number(reply[0]);
    const running = Number(reply[1]);
    const now = Number(reply[5]);
    const bySource: Record<string, number> = {};
    for (let i = 6; i < reply.length; i += 2) bySource[String(reply[i])] = Number(reply[i + 1]);
    return {
      total: queued + running,
      byStatus: { queued, running },
      bySource,
      lapsed: Number(reply[2]),
      oldestQueuedAgeMs: reply[3] === '' ? null : Math.max(0, now - Number(reply[3])),
      longestRunningMs: reply[4] === '' ? null : Math.max(0, now - Number(reply[4])),
      pendingExpiredReports: 0,
    };
  }

  async subscribe(scope: Scope, handler: RunEventHandler<TData>): Promise<Unsubscribe> {
    const keys = this.keys(scope);
    if (typeof handler !== 'function') {
      throw new ActiveRunsError('INVALID_ARGUMENT', 'handler must be a function.', {
        details: { field: 'handler' },
      });
    }
    return this.eventHub().subscribe<TData>(keys.events, parseScope(scope), handler);
  }

  events(scope: Scope, options?: RunEventIteratorOptions): AsyncIterableIterator<RunEvent<TData>> {
    const keys = this.keys(scope);
    return this.eventHub().events<TData>(keys.events, parseScope(scope), options);
  }

  private eventHub(): RunEventHub {
    if (this.publishMode === '0') {
      throw new ActiveRunsError(
        'INVALID_ARGUMENT',
        'this store was created with publishEvents: false, so it has no events to subscribe to.',
        { details: { field: 'publishEvents' } },
      );
    }
    this.hub ??= new RunEventHub(this.redis, {
      sharded: this.redis.isCluster,
      logger: this.logger,
    });
    return this.hub;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stopSweeper();
    await this.hub?.close();
    if (this.ownsClient && this.redis.status !== 'end') {
      // QUIT only a connected client, and for a bounded time: to a client that is down, ioredis
      // would queue it until commandTimeout and keep reconnecting after. disconnect() then ends
      // the socket and any reconnect loop, so the process can exit whatever Redis does.
      if (this.redis.status === 'ready') {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.redis.quit().catch(() => {}),
          new Promise((resolve) => {
            timer = setTimeout(resolve, CLOSE_QUIT_TIMEOUT_MS);
          }),
        ]);
        clearTimeout(timer);
      }
      this.redis.disconnect();
    }
  }

  private async touch(
    keys: ScopeKeys,
    id: string,
    kind: 'progress' | 'heartbeat',
    leaseMsOverride: number | undefined,
    extra: string[],
  ): Promise<ActiveRun<TData>> {
    const reply = (await this.call(SCRIPTS.progress, kind, true, writeKeys(keys), [
      ...this.leaseArgs(keys, id, leaseMsOverride),
      kind,
      ...extra,
    ])) as Reply;
    return decodeRun<TData>(id, String(reply[0]));
  }

  /** The ARGV every lease-setting write script starts with: tag, id, lease, grace, channel, pubmode. */
  private leaseArgs(keys: ScopeKeys, id: string, leaseMsOverride: number | undefined) {
    const leaseMs = leaseMsOverride ?? this.leaseMs;
    return [
      keys.tag,
      id,
      leaseMs,
      Math.max(this.graceMs, leaseMs),
      keys.events,
      this.publishMode,
    ] as const;
  }

  private keys(scope: Scope): ScopeKeys {
    if (this.closed) {
      throw new ActiveRunsError('REDIS_UNAVAILABLE', 'the store is closed; create a new one.');
    }
    return scopeKeys(this.prefix, parseScope(scope));
  }

  private async call(
    def: ScriptDefinition,
    operation: string,
    isWrite: boolean,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    if (isWrite && this.durable) return this.callDurably(def, operation, keys, args, this.durable);
    const fn = (this.redis as unknown as Record<string, ScriptCall>)[def.command]!;
    const readyBefore = this.redis.status === 'ready';
    try {
      return await fn.call(this.redis, ...keys, ...args);
    } catch (error) {
      const mapped = fromRedisError(error, operation, isWrite);
      if (mapped.code === 'TIMEOUT' && !readyBefore && this.redis.status !== 'ready') {
        // the client was disconnected for the whole call: the command waited in ioredis's
        // offline queue and was not sent, so say so instead of "outcome unknown"
        throw new ActiveRunsError(
          'REDIS_UNAVAILABLE',
          `${operation}: Redis is unreachable (the client is ${this.redis.status}); the call was not sent and can be retried once Redis is back.`,
          { cause: error },
        );
      }
      throw mapped;
    }
  }

  /**
   * The write and a WAIT in one pipeline: same connection, same node, one round trip.
   * ioredis retries a cluster pipeline only when every command failed alike; here the script can
   * fail with a redirection while WAIT succeeds, so redirections are retried here (the script did
   * not run, so resending is safe), for at most the command timeout.
   */
  private async callDurably(
    def: ScriptDefinition,
    operation: string,
    keys: string[],
    args: (string | number)[],
    durable: { replicas: number; timeoutMs: number },
  ): Promise<unknown> {
    const client = this.redis as unknown as {
      pipeline(): Record<string, ScriptCall>;
      refreshSlotsCache?(callback?: () => void): void;
      options: { redisOptions?: { commandTimeout?: number }; commandTimeout?: number };
    };
    const budgetMs =
      client.options.redisOptions?.commandTimeout ?? client.options.commandTimeout ?? 5_000;
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      let results: [Error | null, unknown][] | null;
      try {
        const pipeline = client.pipeline();
        pipeline[def.command]!.call(pipeline, ...keys, ...args);
        pipeline.wait!.call(pipeline, durable.replicas, durable.timeoutMs);
        results =
          (await (pipeline as unknown as { exec(): Promise<typeof results> }).exec()) ?? null;
      } catch (error) {
        throw fromRedisError(error, operation, true);
      }
      const [written, waited] = results ?? [];
      if (!written) throw fromRedisError(new Error('empty pipeline reply'), operation, true);
      const error = written[0];
      if (error) {
        const redirected = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /.test(error.message);
        if (redirected && this.redis.isCluster && Date.now() - started < budgetMs) {
          if (/^(MOVED|ASK) /.test(error.message)) client.refreshSlotsCache?.();
          await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
          continue;
        }
        throw fromRedisError(error, operation, true);
      }
      const acked = waited && !waited[0] ? Number(waited[1]) : 0;
      if (acked < durable.replicas) {
        throw new ActiveRunsError(
          'TIMEOUT',
          `${operation}: applied on the primary but confirmed by ${acked} of ${durable.replicas} replica(s) within ${durable.timeoutMs} ms; it could be lost if the primary fails now. Retrying is safe.`,
          { cause: waited?.[0] ?? undefined, details: { acknowledgedReplicas: acked } },
        );
      }
      return written[1];
    }
  }

  private captionJson(caption: string | null | undefined): string {
    if (caption === undefined || caption === null) return '';
    const length = countCharacters(caption);
    if (length > this.maxCaptionLength) {
      throw new ActiveRunsError(
        'PAYLOAD_TOO_LARGE',
        `caption has ${length} characters, more than maxCaptionLength (${this.maxCaptionLength}); shorten it.`,
        { details: { field: 'caption', limit: this.maxCaptionLength } },
      );
    }
    return JSON.stringify(caption);
  }

  private dataJson(data: unknown): string {
    if (data === undefined || data === null) return '';
    let value: unknown = data;
    if (this.dataSchema) {
      const result = this.dataSchema.safeParse(data);
      if (!result.success) {
        const issue = result.error.issues[0] as
          | { path?: PropertyKey[]; message?: string }
          | undefined;
        const path = issue?.path?.length ? `data.${issue.path.map(String).join('.')}` : 'data';
        throw new ActiveRunsError(
          'INVALID_ARGUMENT',
          `${path}: ${issue?.message ?? 'does not match dataSchema'}.`,
          { cause: result.error, details: { field: path, issues: result.error.issues } },
        );
      }
      value = result.data;
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (error) {
      throw new ActiveRunsError(
        'INVALID_ARGUMENT',
        `data is not JSON-serializable: ${String(error)}.`,
        {
          cause: error,
          details: { field: 'data' },
        },
      );
    }
    if (json === undefined) {
      throw new ActiveRunsError('INVALID_ARGUMENT', 'data is not JSON-serializable.', {
        details: { field: 'data' },
      });
    }
    const bytes = Buffer.byteLength(json);
    if (bytes > this.maxDataBytes) {
      throw new ActiveRunsError(
        'PAYLOAD_TOO_LARGE',
        `data is ${bytes} bytes of JSON, more than maxDataBytes (${this.maxDataBytes}); store large payloads elsewhere and keep a reference.`,
        { details: { field: 'data', limit: this.maxDataBytes, bytes } },
      );
    }
    return json;
  }
}

/** Characters as a person counts them (code points, so an emoji is one). */
function countCharacters(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Refuses clients the scripts cannot work with, saying why. */
function checkClient(client: RedisLike): void {
  const options = client.options as {
    keyPrefix?: string;
    commandTimeout?: number;
    redisOptions?: { keyPrefix?: string; commandTimeout?: number };
  };
  const own = client.isCluster ? (options.redisOptions ?? {}) : options;
  const keyPrefix = options.keyPrefix || own.keyPrefix;
  if (keyPrefix) {
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      `the ioredis client has keyPrefix "${keyPrefix}": Lua scripts never see it, so keys would be wrong. Remove keyPrefix and pass it as the store's prefix option instead.`,
      { details: { field: 'options.redis' } },
    );
  }
  if (!own.commandTimeout) {
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      `the ioredis client has no commandTimeout, so a call could hang forever. Create it with { commandTimeout: 5000 }${client.isCluster ? ' in redisOptions' : ''}, or pass a URL and let the store create it.`,
      { details: { field: 'options.redis' } },
    );
  }
}

/**
 * Creates a store of active runs in Redis.
 *
 * @example
 * const store = createActiveRunStore({ redis: 'redis://127.0.0.1:6379', dataSchema: z.object({ model: z.string() }) });
 * await store.enqueue({ workspaceId: 1, projectId: 7 }, { id: runId, source: 'api', data: { model: 'gpt' } });
 */
export function createActiveRunStore<TData = unknown>(
  options: ActiveRunStoreOptions<TData>,
): ActiveRunStore<TData> {
  return new RedisActiveRunStore<TData>(options);
}
