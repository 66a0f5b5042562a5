import { randomBytes } from 'node:crypto';
import type { RedisCaller } from './call/caller.js';
import type { ActiveRun } from './codec.js';
import { ActiveRunsError, fromRedisError, isActiveRunsError } from './errors.js';
import type { ParsedScope, ScopeKeys } from './keys.js';
import { outboxKeys, registryKey, scopeFromTag, scopeKeys } from './keys.js';
import { decodeRunLazily } from './lazy-run.js';
import type { ActiveRunsLogger } from './logger.js';
import type { RedisLike } from './schemas.js';
import type { ScriptDefinition } from './scripts/index.js';
import { SCRIPTS } from './scripts/index.js';
import type { StoreTelemetry } from './telemetry/store-telemetry.js';

/** What one sweep pass did. */
export interface SweepResult {
  /** False when another instance held the sweep lock, so this pass did nothing. */
  ran: boolean;
  /** Lapsed runs removed and reported in this pass. */
  expired: number;
  /** Reports handed out again because an earlier delivery was not acknowledged. */
  redelivered: number;
  /**
   * Reports whose hook threw or did not settle within `hookTimeoutMs`: they stay in the outbox and
   * are retried after `reclaimMs`.
   */
  failedReports: number;
  /** Of `failedReports`, those whose hook did not settle within `hookTimeoutMs`. */
  hookTimeouts: number;
  /** Reports dropped after `maxAttempts` deliveries (each logged as a dead letter). */
  deadLetters: number;
  /** Scopes whose registry entry was due and that were visited. */
  scopesVisited: number;
  /** True when the pass stopped early because it could not renew its lock. */
  lockLost: boolean;
  /** Longest single sweep script call, measured round trip (ms). */
  longestCallMs: number;
  /** Whole pass (ms). */
  durationMs: number;
}

/** How a report reaches the hook: which delivery it is, and a key to deduplicate it. */
export interface ExpiredReport {
  /** 1 on the first delivery, then +1 each time the report is handed out again. */
  attempt: number;
  /** True when this report was handed out before (a hook threw, or a sweeper died holding it). */
  redelivery: boolean;
  /**
   * Identifies this report (one lapse of one run), the same on every delivery: an idempotency key
   * for the hook (`<workspaceId>:<projectId>:<runId>:<leaseExpiresAt>`).
   */
  claimToken: string;
  /**
   * Aborted when the hook runs out of time (`sweeper.hookTimeoutMs`) or the store closes: the
   * report is then handed out again later, so stop the work (e.g. pass it to `fetch`).
   */
  signal: AbortSignal;
}

/** Hook called once per expired run (again if it throws), so the app can mark it failed. */
export type ExpiredHook<TData> = (
  run: ActiveRun<TData>,
  scope: ParsedScope,
  report: ExpiredReport,
) => void | Promise<void>;

/** Settings of the sweeper. */
export interface SweeperOptions {
  /**
   * How long the sweep lock is held before another instance may take over (a sweeper that died
   * mid-pass). Renewed every `lockMs / 3` while a pass runs, hooks included; a pass that cannot
   * renew it stops.
   * @default 30_000
   */
  lockMs?: number;
  /**
   * Runs removed by one script call; bounds how long a call blocks Redis.
   * @default 100 (at most 1000; about 1.5-2.5 ms of Redis time per 100 runs of ~800 B, measured)
   */
  batchSize?: number;
  /**
   * A report not acknowledged within this time after its delivery (the hook threw, or the
   * sweeper died) is handed out again.
   * @default 60_000
   */
  reclaimMs?: number;
  /**
   * Deliveries of one report before it is dropped and logged (`logger.error`) as a dead letter.
   * @default 10
   */
  maxAttempts?: number;
  /**
   * Longest time one `onExpired` call may take. A hook that has not settled by then counts as
   * failed (its `signal` is aborted, the pass moves on): its report stays in the outbox and is
   * handed out again after `reclaimMs`, so a hung hook can neither stall the sweeper nor `close()`.
   * @default 30_000
   */
  hookTimeoutMs?: number;
}

/** What the sweeper needs from the store. */
export interface SweeperContext<TData> {
  redis: RedisLike;
  /** How it calls Redis (one deadline per call, typed outcomes). */
  caller: RedisCaller;
  /** Aborted by the store's `close()`: the pass stops, a hook in progress is abandoned. */
  signal: AbortSignal;
  prefix: string;
  publishMode: string;
  onExpired: ExpiredHook<TData> | undefined;
  logger: ActiveRunsLogger;
  /** How long an outbox lives after its last write (ms). */
  outboxTtlMs: number;
  /** Where passes, lapsed and expired runs are counted. */
  telemetry: StoreTelemetry;
}

const SLOTS = 16_384;
/**
 * Slot registries read per call: 256 keeps a read near 2 ms of Redis time on a slow day (1,024
 * took up to 9 ms, the longest script of a 100k-run pass), for 64 calls a pass instead of 16.
 */
const SLOT_CHUNK = 256;
const DUE_PER_SLOT = 100;
const DAY_MS = 24 * 3_600_000;

/**
 * How long a scope's outbox lives after its last write: a day, or long enough for every attempt
 * of a report if that is longer. The slot registry lives at least as long, so a pending report
 * keeps its scope visitable after the scope's own keys expired.
 */
export function outboxTtlMs(options: Required<SweeperOptions>): number {
  return Math.max(DAY_MS, options.reclaimMs * (options.maxAttempts + 1));
}

// Due scopes of many slot registries in one call, so a pass costs a handful of calls instead of
// 16384. The registries of one node's slots go together: the first is declared (it routes the
// call), the rest are passed in ARGV and read under allow-cross-slot-keys, which lets a script
// read keys of other slots served by the same node (a cluster refuses declared keys of several
// slots). If a slot moved meanwhile, the call fails and the caller asks registry by registry.
// KEYS: 1 first registry; ARGV: 1 now, 2 due scopes per registry, 3.. other registries
const REGISTRY_DUE = `#!lua flags=no-writes,allow-cross-slot-keys
local out = {}
local function collect(key)
  local due = redis.call('ZRANGE', key, '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
  for _, tag in ipairs(due) do out[#out + 1] = tag end
end
collect(KEYS[1])
for i = 3, #ARGV do collect(ARGV[i]) end
return out`;

/** Calls a registered script of the sweeper (all of them write). */
function run(
  ctx: SweeperContext<unknown>,
  def: ScriptDefinition,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  return ctx.caller.script(def, 'sweep', true, keys, args);
}

/** The sweep lock while a pass holds it. */
interface HeldLock {
  /** The lock may be someone else's now: the pass must stop handing out reports. */
  readonly lost: boolean;
  /** Stops renewing (the pass is over). */
  stop(): void;
}

/**
 * Renews the lock every `lockMs / 3` on a timer, so it is held however long the hooks take. The
 * lock counts as lost when Redis says it is someone else's, or when no renewal was sent
 * successfully for `lockMs` (it may have lapsed meanwhile, e.g. while the process was frozen).
 */
function holdLock(
  key: string,
  token: string,
  lockMs: number,
  ctx: SweeperContext<unknown>,
): HeldLock {
  let lost = false;
  let renewedAt = performance.now();
  let inFlight = false;
  const lose = (reason: string) => {
    if (lost) return;
    lost = true;
    ctx.logger.warn?.(
      { prefix: ctx.prefix, reason },
      'active-runs: sweep lock lost mid-pass; stopping (undelivered reports are handed out again later)',
    );
  };
  const timer = setInterval(
    async () => {
      if (lost || inFlight) return;
      inFlight = true;
      const sentAt = performance.now();
      try {
        if (Number(await run(ctx, SCRIPTS.renew, [key], [token, lockMs])) === 1) {
          renewedAt = sentAt;
        } else {
          lose('the lock lapsed and another instance holds it');
        }
      } catch {
        // Redis unreachable for a moment: the lock is kept until it may have lapsed
      } finally {
        inFlight = false;
      }
    },
    Math.max(10, Math.floor(lockMs / 3)),
  );
  timer.unref();
  return {
    get lost() {
      if (!lost && performance.now() - renewedAt >= lockMs) lose('not renewed within lockMs');
      return lost;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * One sweep pass. At most one pass runs at a time across every instance (a lock with a random
 * token, renewed on a timer while the pass runs, released only by its owner). Scopes come from
 * the per-slot registries that the write scripts keep (never SCAN: on a cluster it sees one node).
 */
export async function sweepOnce<TData>(
  ctx: SweeperContext<TData>,
  options: Required<SweeperOptions>,
): Promise<SweepResult> {
  const started = performance.now();
  try {
    const result = await sweepPass(ctx, options, started);
    ctx.telemetry.sweepPass(result.durationMs, result.ran ? 'ok' : 'skipped');
    return result;
  } catch (error) {
    ctx.telemetry.sweepPass(
      performance.now() - started,
      isActiveRunsError(error) ? error.code : 'INTERNAL',
    );
    throw error;
  }
}

async function sweepPass<TData>(
  ctx: SweeperContext<TData>,
  options: Required<SweeperOptions>,
  started: number,
): Promise<SweepResult> {
  const untyped = ctx as SweeperContext<unknown>;
  const result: SweepResult = {
    ran: false,
    expired: 0,
    redelivered: 0,
    failedReports: 0,
    hookTimeouts: 0,
    deadLetters: 0,
    scopesVisited: 0,
    lockLost: false,
    longestCallMs: 0,
    durationMs: 0,
  };
  const lockKey = `${ctx.prefix}:sweeper:lock`;
  const token = randomBytes(12).toString('hex');
  try {
    if (Number(await run(untyped, SCRIPTS.lock, [lockKey], [token, options.lockMs])) !== 1) {
      result.durationMs = performance.now() - started;
      return result;
    }
  } catch (error) {
    throw fromRedisError(error, 'sweep', true);
  }
  result.ran = true;
  const lock = holdLock(lockKey, token, options.lockMs, untyped);
  try {
    const [seconds, micros] = (await ctx.caller.command('time', [], 'sweep')) as [string, string];
    const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    for (const slots of slotChunks(ctx.redis)) {
      if (lock.lost || ctx.signal.aborted) break;
      for (const tag of await dueScopes(untyped, slots, nowMs)) {
        if (lock.lost || ctx.signal.aborted) break;
        result.scopesVisited++;
        await sweepScope(ctx, options, tag, token, lock, result);
      }
    }
  } catch (error) {
    throw fromRedisError(error, 'sweep', true);
  } finally {
    lock.stop();
    result.lockLost = lock.lost;
    await run(untyped, SCRIPTS.release, [lockKey], [token]).catch(() => {});
    result.durationMs = performance.now() - started;
  }
  return result;
}

/** All 16384 slots in chunks, each chunk owned by one node (by the client's slot map on a cluster). */
function slotChunks(client: RedisLike): number[][] {
  const byNode = new Map<string, number[]>();
  const slotMap = client.isCluster ? (client as unknown as { slots: string[][] }).slots : undefined;
  for (let slot = 0; slot < SLOTS; slot++) {
    const node = slotMap?.[slot]?.[0] ?? 'standalone';
    let slots = byNode.get(node);
    if (!slots) {
      slots = [];
      byNode.set(node, slots);
    }
    slots.push(slot);
  }
  const chunks: number[][] = [];
  for (const slots of byNode.values()) {
    for (let i = 0; i < slots.length; i += SLOT_CHUNK) chunks.push(slots.slice(i, i + SLOT_CHUNK));
  }
  return chunks;
}

/** Scopes due for a sweep in the registries of `slots`. */
async function dueScopes(
  ctx: SweeperContext<unknown>,
  slots: number[],
  nowMs: number,
): Promise<string[]> {
  const keys = slots.map((slot) => registryKey(ctx.prefix, slot));
  const [first, ...rest] = keys;
  try {
    return (await ctx.caller.command(
      'eval',
      [REGISTRY_DUE, 1, first!, nowMs, DUE_PER_SLOT, ...rest],
      'sweep',
    )) as string[];
  } catch {
    // the slot map moved under us (failover, resharding): ask each registry on its own
    const due = await Promise.all(
      keys.map(
        (key) =>
          ctx.caller.command(
            'zrangebyscore',
            [key, '-inf', String(nowMs), 'LIMIT', 0, DUE_PER_SLOT],
            'sweep',
          ) as Promise<string[]>,
      ),
    );
    return due.flat();
  }
}

/**
 * Hands out the due reports of one scope to the hook, batch by batch, and settles each. While a
 * scope has more, two claims wait at Redis while the hooks of a batch run: Redis goes from one to
 * the next without waiting for the client to read a reply and send the next call, and works while
 * the hooks do (a pass takes about the longer of the two, not their sum). Each claim carries the
 * answers gathered since the one before, so a pass makes one round trip per batch (plus at most
 * one empty claim at the end of a long scope), and the answers left at the end go alone in a
 * `settle` call. At most three batches are claimed and not yet answered at a time.
 */
async function sweepScope<TData>(
  ctx: SweeperContext<TData>,
  options: Required<SweeperOptions>,
  tag: string,
  token: string,
  lock: HeldLock,
  result: SweepResult,
): Promise<void> {
  const untyped = ctx as SweeperContext<unknown>;
  const scope = scopeFromTag(tag);
  const keys: ScopeKeys = scopeKeys(ctx.prefix, scope);
  const outbox = outboxKeys(keys);
  /** One sweep call: claims a batch and carries `answers` (report, '1' done | '0' retry later, ...). */
  const claim = (answers: string[]) => {
    const t0 = performance.now();
    const reply = run(untyped, SCRIPTS.sweep, outbox, [
      tag,
      options.batchSize,
      options.reclaimMs,
      keys.events,
      ctx.publishMode,
      ctx.outboxTtlMs,
      token,
      options.maxAttempts,
      ...answers,
    ]).then((value) => {
      result.longestCallMs = Math.max(result.longestCallMs, performance.now() - t0);
      return value as (string | number)[];
    });
    reply.catch(() => {}); // awaited below; not unhandled while the hooks of a batch run
    return { answers, reply };
  };
  /** Answers of the batches handed out and not yet sent. */
  let settled: string[] = [];
  /** Claims sent, in order (a connection answers in order). */
  const inFlight = [claim([])];
  try {
    for (let sent = 1; inFlight.length > 0; ) {
      const reply = await (inFlight[0] as ReturnType<typeof claim>).reply;
      inFlight.shift();
      // more to claim: two claims wait at Redis before this batch's hooks run
      if (Number(reply[0]) === 1 && !lock.lost && !ctx.signal.aborted) {
        for (; inFlight.length < 2 && sent < 1_000; sent++) {
          inFlight.push(claim(settled));
          settled = [];
        }
      }
      await handOut(ctx, options, reply, tag, scope, lock, result, settled);
    }
  } catch (error) {
    // the answers of calls that failed or may not have run (ignored if a call did apply them),
    // and those not sent yet
    const unsent = [...inFlight.flatMap((call) => call.answers), ...settled];
    if (unsent.length > 0)
      await settleAnswers(untyped, options, keys, tag, token, unsent).catch(() => {});
    throw error;
  }
  if (settled.length > 0) await settleAnswers(untyped, options, keys, tag, token, settled);
}

/** Sends answers that no sweep call will carry (the last batch's, or a failed call's). */
function settleAnswers(
  ctx: SweeperContext<unknown>,
  options: Required<SweeperOptions>,
  keys: ScopeKeys,
  tag: string,
  token: string,
  answers: string[],
): Promise<unknown> {
  return run(
    ctx,
    SCRIPTS.settle,
    [keys.runs, keys.registry, keys.expired, keys.meta, keys.expiredDue],
    [tag, token, options.reclaimMs, ...answers],
  );
}

/**
 * Calls the hook for each report of a sweep reply (or logs it as a dead letter) and appends the
 * answers to `settled`. A run is decoded only for a hook or a dead letter, its data on first read.
 */
async function handOut<TData>(
  ctx: SweeperContext<TData>,
  options: Required<SweeperOptions>,
  reply: (string | number)[],
  tag: string,
  scope: ParsedScope,
  lock: HeldLock,
  result: SweepResult,
  settled: string[],
): Promise<void> {
  for (let i = 1; i < reply.length; i += 4) {
    const report = reply[i] as string;
    const attempt = Number(reply[i + 1]);
    const kind = Number(reply[i + 2]);
    const decode = () =>
      decodeRunLazily<TData>(report.slice(0, report.lastIndexOf(':')), reply[i + 3] as string);
    const claimToken = `${tag}:${report}`;
    ctx.telemetry.lapsed(scope, kind === 2 ? 'dead_letter' : kind === 1 ? 'redelivery' : 'new');
    if (kind === 2) {
      deadLetter(ctx, scope, decode(), attempt, claimToken, undefined);
      result.deadLetters++;
      continue;
    }
    // a pass that may have lost its lock (or whose store closes) hands out nothing more:
    // whoever holds the lock next gets these reports again after reclaimMs
    if (lock.lost || ctx.signal.aborted) continue;
    if (kind === 1) {
      result.redelivered++;
    } else {
      result.expired++;
      ctx.telemetry.expired(scope);
    }
    if (!ctx.onExpired) {
      settled.push(report, '1');
      continue;
    }
    const run = decode();
    const outcome = await callHook(ctx, options, run, scope, {
      attempt,
      redelivery: kind === 1,
      claimToken,
    });
    if (outcome === 'closed') continue; // abandoned: its report is handed out again later
    if (outcome === 'ok') {
      settled.push(report, '1');
    } else {
      const error = outcome.error;
      result.failedReports++;
      if (outcome.timedOut) result.hookTimeouts++;
      if (attempt >= options.maxAttempts) {
        deadLetter(ctx, scope, run, attempt, claimToken, error);
        result.deadLetters++;
        settled.push(report, '1');
      } else {
        settled.push(report, '0');
        ctx.logger.warn?.(
          { err: error, scope, id: run.id, attempt, retryInMs: options.reclaimMs },
          outcome.timedOut
            ? `active-runs: onExpired hook did not settle within hookTimeoutMs (${options.hookTimeoutMs} ms); the report will be handed out again`
            : 'active-runs: onExpired hook threw; the report will be handed out again',
        );
      }
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** How one hook call ended. */
type HookOutcome = 'ok' | 'closed' | { error: unknown; timedOut: boolean };

/**
 * Calls the hook, for at most `hookTimeoutMs`, and no longer than the store stays open: the
 * report's `signal` is aborted when either ends first, and the pass moves on.
 */
async function callHook<TData>(
  ctx: SweeperContext<TData>,
  options: Required<SweeperOptions>,
  run: ActiveRun<TData>,
  scope: ParsedScope,
  report: Omit<ExpiredReport, 'signal'>,
): Promise<HookOutcome> {
  // the signal is made when the hook reads it: most hooks never do, and an AbortSignal per run
  // was a tenth of a sweep's client time
  let hook: AbortController | undefined;
  let abortedWith: unknown;
  const abort = (reason: unknown) => {
    abortedWith ??= reason;
    hook?.abort(reason);
  };
  const full: ExpiredReport = {
    ...report,
    get signal() {
      if (!hook) {
        hook = new AbortController();
        if (abortedWith !== undefined) hook.abort(abortedWith);
      }
      return hook.signal;
    },
  };
  let returned: unknown;
  try {
    returned = ctx.onExpired?.(run, scope, full);
  } catch (error) {
    return { error, timedOut: false };
  }
  // a hook that returned without a promise is done: no timer, no race (most of a sweep's client
  // time per run when the hook only records or enqueues something)
  if (!isPromiseLike(returned)) return 'ok';
  let timer: NodeJS.Timeout | undefined;
  let onClose: (() => void) | undefined;
  const stopped = new Promise<HookOutcome>((resolve) => {
    timer = setTimeout(() => {
      const error = new ActiveRunsError(
        'TIMEOUT',
        `onExpired did not settle within hookTimeoutMs (${options.hookTimeoutMs} ms)`,
      );
      abort(error);
      resolve({ error, timedOut: true });
    }, options.hookTimeoutMs);
    onClose = () => {
      abort(new ActiveRunsError('REDIS_UNAVAILABLE', 'the store is closing'));
      resolve('closed');
    };
    ctx.signal.addEventListener('abort', onClose, { once: true });
  });
  const called = Promise.resolve(returned).then(
    (): HookOutcome => 'ok',
    (error: unknown): HookOutcome => ({ error, timedOut: false }),
  );
  try {
    return await Promise.race([called, stopped]);
  } finally {
    clearTimeout(timer);
    if (onClose) ctx.signal.removeEventListener('abort', onClose);
  }
}

/** Logs a report dropped after its last attempt, with everything needed to handle it by hand. */
function deadLetter<TData>(
  ctx: SweeperContext<TData>,
  scope: ParsedScope,
  run: ActiveRun<TData>,
  attempts: number,
  claimToken: string,
  error: unknown,
): void {
  ctx.logger.error?.(
    { err: error, scope, id: run.id, run, attempts, claimToken },
    `active-runs: dropped the expired-run report of ${run.id} after ${attempts} attempt(s) (dead letter): onExpired never acknowledged it`,
  );
}
