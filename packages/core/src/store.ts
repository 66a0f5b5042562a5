import { RedisCaller } from './call/caller.js';
import { checkClient, closeClient, createClient } from './client.js';
import type { ActiveRun } from './codec.js';
import { decodeRun, encodeRunValue } from './codec.js';
import { DEFAULT_HOOK_TIMEOUT_MS, MAX_SOURCES_PER_SCOPE } from './constants.js';
import { ActiveRunsError } from './errors.js';
import type {
  RunEvent,
  RunEventHandler,
  RunEventIteratorOptions,
  Unsubscribe,
} from './events/index.js';
import { RunEventHub } from './events/index.js';
import type { Scope, ScopeKeys } from './keys.js';
import { parseRunId, parseScope } from './keys.js';
import { createRolloutStore } from './legacy/rollout-store.js';
import { listRuns } from './list.js';
import type { ActiveRunsLogger } from './logger.js';
import { silentLogger } from './logger.js';
import { captionJson, dataJson } from './payload.js';
import type { DataSchema, RedisLike } from './schemas.js';
import {
  enqueueInputSchema,
  heartbeatOptionsSchema,
  parseInput,
  progressInputSchema,
  startOptionsSchema,
  startSweeperOptionsSchema,
  statsOptionsSchema,
  storeOptionsSchema,
} from './schemas.js';
import type { CachedScopeKeys } from './scope-cache.js';
import { ScopeKeyCache } from './scope-cache.js';
import type { ScriptDefinition } from './scripts/index.js';
import { SCRIPTS } from './scripts/index.js';
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
} from './store-types.js';
import type { ExpiredHook, SweeperOptions, SweepResult } from './sweeper.js';
import { outboxTtlMs, sweepOnce } from './sweeper.js';
import { instrumentStore } from './telemetry/instrument-store.js';
import type { TelemetryOptions } from './telemetry/options.js';
import type { StoreTelemetry } from './telemetry/store-telemetry.js';
import { createTelemetry } from './telemetry/store-telemetry.js';
import { settledWithin } from './wait.js';

type Reply = (string | number)[];

/** Longest wait for Redis to answer QUIT in `close()` before it drops the connection. */
const CLOSE_QUIT_TIMEOUT_MS = 1_000;

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
  private readonly closeTimeoutMs: number;
  /** Every Redis call of the store goes through it: one deadline, typed outcomes (see call/). */
  private readonly caller: RedisCaller;
  private readonly telemetryOptions: TelemetryOptions | false | undefined;
  private readonly telemetry: StoreTelemetry;
  private readonly scopeCache: ScopeKeyCache;
  /** Aborted by `close()`: a sweep pass stops, a hook in progress is abandoned. */
  private readonly closing = new AbortController();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepInFlight: Promise<unknown> | undefined;
  private sweeperRunning = false;
  private hub: RunEventHub | undefined;
  private closed = false;
  private closed$: Promise<void> | undefined;

  constructor(options: ActiveRunStoreOptions<TData>) {
    const parsed = parseInput(storeOptionsSchema, options, 'options');
    this.prefix = parsed.prefix;
    this.scopeCache = new ScopeKeyCache(parsed.prefix);
    this.leaseMs = parsed.leaseMs;
    // Keys outlive the latest lease by one more lease (at least a minute), so most writes need no
    // PEXPIRE and the sweeper has time to report lapsed runs before the keys vanish.
    this.graceMs = Math.max(parsed.leaseMs, 60_000);
    this.dataSchema = parsed.dataSchema as DataSchema<TData> | undefined;
    this.maxCaptionLength = parsed.maxCaptionLength;
    this.maxDataBytes = parsed.maxDataBytes;
    this.cursorSecret = parsed.cursorSecret ?? `active-runs cursor:${parsed.prefix}`;
    if (typeof parsed.redis === 'string') {
      this.redis = createClient(
        parsed.redis,
        parsed.commandTimeoutMs,
        parsed.logger as ActiveRunsLogger | undefined,
      );
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
      batchSize: parsed.sweeper?.batchSize ?? 100,
      reclaimMs: parsed.sweeper?.reclaimMs ?? 60_000,
      maxAttempts: parsed.sweeper?.maxAttempts ?? 10,
      hookTimeoutMs: parsed.sweeper?.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS,
    };
    this.closeTimeoutMs = parsed.closeTimeoutMs;
    this.outboxTtlMs = outboxTtlMs(this.sweeperOptions);
    this.publishMode = parsed.publishEvents ? (this.redis.isCluster ? '2' : '1') : '0';
    this.caller = new RedisCaller(this.redis);
    this.telemetryOptions = parsed.telemetry;
    this.telemetry = createTelemetry(parsed.telemetry);
    callers.set(this, this.caller);
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
    const { keys, outbox } = this.scoped(scope);
    const parsed = parseInput(enqueueInputSchema, input, 'input');
    const id = parseRunId(parsed.id);
    const caption = captionJson(parsed.caption, this.maxCaptionLength);
    const data = this.dataJson(parsed.data);
    const start = parsed.start === true ? {} : parsed.start || undefined;
    const reply = (await this.call(SCRIPTS.enqueue, 'enqueue', true, outbox, [
      ...this.leaseArgs(keys, id, parsed.leaseMs),
      parsed.queuedAt ?? '',
      parsed.source ?? '',
      caption,
      data,
      MAX_SOURCES_PER_SCOPE,
      this.outboxTtlMs,
      start ? '1' : '',
      start?.startedAt ?? '',
    ])) as Reply;
    const [found, size, queuedAt, startedAt, leaseExpiresAt] = reply.map(String) as string[];
    if (Number(size) === this.warnScopeSize + 1) {
      this.logger.warn?.(
        { scope: parseScope(scope), runs: Number(size), threshold: this.warnScopeSize },
        `active-runs: scope now holds more than ${this.warnScopeSize} active runs; check for runs that never end (is the sweeper running?)`,
      );
    }
    if (found) return decodeRun<TData>(id, found);
    // the run as stored, built from what was sent and the times the script chose
    const value = encodeRunValue({
      queuedAt: Number(queuedAt),
      startedAt: startedAt === '' ? '' : Number(startedAt),
      leaseExpiresAt: Number(leaseExpiresAt),
      source: parsed.source ?? '',
      captionJson: caption,
      dataJson: data,
    });
    return decodeRun<TData>(id, value);
  }

  async start(scope: Scope, id: string, options?: StartOptions): Promise<ActiveRun<TData>> {
    const { keys, write } = this.scoped(scope);
    const runId = parseRunId(id);
    const parsed = parseInput(startOptionsSchema, options, 'options');
    const reply = (await this.call(SCRIPTS.start, 'start', true, write, [
      ...this.leaseArgs(keys, runId, parsed.leaseMs),
      parsed.startedAt ?? '',
    ])) as Reply;
    return decodeRun<TData>(runId, String(reply[0]));
  }

  async progress(scope: Scope, id: string, input: ProgressInput<TData>): Promise<ActiveRun<TData>> {
    const scoped = this.scoped(scope);
    const runId = parseRunId(id);
    const parsed = parseInput(progressInputSchema, input, 'input');
    const setCaption = parsed.caption !== undefined;
    const setData = parsed.data !== undefined;
    return this.touch(scoped, runId, 'progress', parsed.leaseMs, [
      setCaption ? '1' : '0',
      setCaption ? captionJson(parsed.caption, this.maxCaptionLength) : '',
      setData ? '1' : '0',
      setData ? this.dataJson(parsed.data) : '',
    ]);
  }

  async heartbeat(scope: Scope, id: string, options?: HeartbeatOptions): Promise<ActiveRun<TData>> {
    const scoped = this.scoped(scope);
    const runId = parseRunId(id);
    const parsed = parseInput(heartbeatOptionsSchema, options, 'options');
    return this.touch(scoped, runId, 'heartbeat', parsed.leaseMs, ['0', '', '0', '']);
  }

  async end(scope: Scope, id: string): Promise<ActiveRun<TData>> {
    const { keys, end } = this.scoped(scope);
    const runId = parseRunId(id);
    const reply = (await this.call(SCRIPTS.end, 'end', true, end, [
      keys.tag,
      runId,
      keys.events,
      this.publishMode,
    ])) as Reply;
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
    return listRuns<TData>(this.caller, this.keys(scope), options, this.cursorSecret);
  }

  async counts(scope: Scope): Promise<RunCounts> {
    const { total, byStatus, bySource } = await this.readCounts(this.keys(scope), false);
    return { total, byStatus, bySource };
  }

  async stats(scope: Scope, options?: { memory?: boolean }): Promise<ScopeStats> {
    const keys = this.keys(scope);
    const { memory } = parseInput(statsOptionsSchema, options, 'options');
    const stats = await this.readCounts(keys, true);
    stats.pendingExpiredReports = Number(
      await this.caller.command('hlen', [keys.expired], 'stats'),
    );
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
        bytes += Number(
          (await this.caller.command('memory', ['USAGE', key, 'SAMPLES', 5], 'stats')) ?? 0,
        );
      }
      stats.memoryBytes = bytes;
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
        caller: this.caller,
        signal: this.closing.signal,
        prefix: this.prefix,
        publishMode: this.publishMode,
        onExpired: this.onExpired,
        logger: this.logger,
        outboxTtlMs: this.outboxTtlMs,
        telemetry: this.telemetry,
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
      telemetry: this.telemetryOptions,
    });
    return this.hub;
  }

  close(): Promise<void> {
    if (!this.closed$) {
      this.closed = true;
      this.closed$ = this.shutdown();
    }
    return this.closed$;
  }

  /**
   * Bounded by `closeTimeoutMs`: the sweep pass is told to stop (a hook in progress is abandoned,
   * its report stays in the outbox), calls in flight get most of the budget to finish and are then
   * settled typed, and the connections the store opened are quit (or dropped).
   */
  private async shutdown(): Promise<void> {
    const deadline = performance.now() + this.closeTimeoutMs;
    const left = () => deadline - performance.now();
    // kept for QUIT at the end
    const quitMs = Math.min(CLOSE_QUIT_TIMEOUT_MS, this.closeTimeoutMs / 4);
    this.closing.abort();
    this.sweeperRunning = false;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    const hub = this.hub?.close({ timeoutMs: Math.max(0, left() - quitMs) });
    await settledWithin(
      Promise.allSettled([this.sweepInFlight, hub, this.caller.drained()]),
      left() - quitMs,
    );
    // what is still in flight fails now: TIMEOUT if sent, REDIS_UNAVAILABLE (never sent) if not
    this.caller.interruptAll();
    if (this.ownsClient) {
      await closeClient(this.redis, Math.max(Math.min(left(), CLOSE_QUIT_TIMEOUT_MS), 0));
    }
    await hub;
  }

  private async touch(
    { keys, write }: CachedScopeKeys,
    id: string,
    kind: 'progress' | 'heartbeat',
    leaseMsOverride: number | undefined,
    extra: string[],
  ): Promise<ActiveRun<TData>> {
    const reply = (await this.call(SCRIPTS.progress, kind, true, write, [
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
    return this.scoped(scope).keys;
  }

  /** The scope's keys and the write scripts' KEYS arrays (built once per scope, see scope-cache.ts). */
  private scoped(scope: Scope): CachedScopeKeys {
    if (this.closed) {
      throw new ActiveRunsError('REDIS_UNAVAILABLE', 'the store is closed; create a new one.');
    }
    return this.scopeCache.get(parseScope(scope));
  }

  private call(
    def: ScriptDefinition,
    operation: string,
    isWrite: boolean,
    keys: readonly string[],
    args: (string | number)[],
  ): Promise<unknown> {
    // the caller only spreads keys (the cached arrays are shared)
    const scriptKeys = keys as string[];
    if (isWrite && this.durable) {
      return this.caller.durableScript(def, operation, scriptKeys, args, this.durable);
    }
    return this.caller.script(def, operation, isWrite, scriptKeys, args);
  }

  private dataJson(data: unknown): string {
    return dataJson(data, { schema: this.dataSchema, maxBytes: this.maxDataBytes });
  }
}

const callers = new WeakMap<object, RedisCaller>();

/**
 * The caller of a store (internal): for code that talks to Redis on the store's behalf outside
 * this file (e.g. the legacy-layout migration), so its calls get the same deadline and typed
 * outcomes, and `close()` settles them too. Undefined for anything that is not a store.
 */
export function storeCaller(store: ActiveRunStore<unknown>): RedisCaller | undefined {
  return callers.get(store);
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
  const store =
    options?.legacy !== undefined
      ? createRolloutStore(options, (inner) => new RedisActiveRunStore<TData>(inner), callers)
      : new RedisActiveRunStore<TData>(options);
  return instrumentStore(store, createTelemetry(options.telemetry));
}
