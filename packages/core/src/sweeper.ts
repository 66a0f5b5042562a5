import { randomBytes } from 'node:crypto';
import type { ActiveRun } from './codec.js';
import { decodeRun } from './codec.js';
import { fromRedisError } from './errors.js';
import type { ParsedScope, ScopeKeys } from './keys.js';
import { registryKey, scopeFromTag, scopeKeys } from './keys.js';
import type { ActiveRunsLogger } from './logger.js';
import type { RedisLike } from './schemas.js';
import { SCRIPTS } from './scripts/index.js';

/** What one sweep pass did. */
export interface SweepResult {
  /** False when another instance held the sweep lock, so this pass did nothing. */
  ran: boolean;
  /** Lapsed runs removed and reported in this pass. */
  expired: number;
  /** Reports handed out again because an earlier sweeper never acknowledged them. */
  redelivered: number;
  /** Reports whose hook threw: they stay in the outbox and are retried after `reclaimMs`. */
  failedReports: number;
  /** Scopes whose registry entry was due and that were visited. */
  scopesVisited: number;
  /** Longest single sweep script call, measured round trip (ms). */
  longestCallMs: number;
  /** Whole pass (ms). */
  durationMs: number;
}

/** Hook called once per expired run, so the app can mark it failed. */
export type ExpiredHook<TData> = (
  run: ActiveRun<TData>,
  scope: ParsedScope,
) => void | Promise<void>;

/** Settings of the sweeper. */
export interface SweeperOptions {
  /**
   * How long the sweep lock is held before another instance may take over (a sweeper that died
   * mid-pass). Renewed while a pass runs.
   * @default 30_000
   */
  lockMs?: number;
  /**
   * Runs removed by one script call; bounds how long a call blocks Redis.
   * @default 200 (at most 1000; about 1.5 ms of Redis time per 200 runs)
   */
  batchSize?: number;
  /**
   * A claimed report not acknowledged within this time (the sweeper died, or the hook threw) is
   * handed out again.
   * @default 60_000
   */
  reclaimMs?: number;
}

/** What the sweeper needs from the store. */
export interface SweeperContext<TData> {
  redis: RedisLike;
  prefix: string;
  publishMode: string;
  onExpired: ExpiredHook<TData> | undefined;
  logger: ActiveRunsLogger;
}

const SLOTS = 16_384;
const SLOT_CHUNK = 1_024;
const DUE_PER_SLOT = 100;
const OUTBOX_TTL_MS = 24 * 3_600_000;

// Acknowledges reports; a scope left with no runs and no pending report leaves the registry.
// KEYS: 1 runs, 2 registry, 3 outbox, 4 meta; ARGV: 1 tag, 2.. ids
const ACK_REPORTS = `#!lua
redis.call('HDEL', KEYS[3], unpack(ARGV, 2))
if redis.call('EXISTS', KEYS[3]) == 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[4], 'lb')
end
return 1`;

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

const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;
const RENEW_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

type Client = RedisLike & {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<string | null>;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  time(): Promise<[string, string]>;
  zrangebyscore(
    key: string,
    min: string,
    max: string,
    limit: 'LIMIT',
    offset: number,
    count: number,
  ): Promise<string[]>;
};

/**
 * One sweep pass. At most one pass runs at a time across every instance (a `SET NX PX` lock with
 * a random token, renewed while the pass runs, released only by its owner). Scopes come from the
 * per-slot registries that the write scripts keep (never SCAN: on a cluster it sees one node).
 */
export async function sweepOnce<TData>(
  ctx: SweeperContext<TData>,
  options: Required<SweeperOptions>,
): Promise<SweepResult> {
  const started = performance.now();
  const client = ctx.redis as Client;
  const result: SweepResult = {
    ran: false,
    expired: 0,
    redelivered: 0,
    failedReports: 0,
    scopesVisited: 0,
    longestCallMs: 0,
    durationMs: 0,
  };
  const lockKey = `${ctx.prefix}:sweeper:lock`;
  const token = randomBytes(12).toString('hex');
  try {
    if ((await client.set(lockKey, token, 'PX', options.lockMs, 'NX')) !== 'OK') {
      result.durationMs = performance.now() - started;
      return result;
    }
  } catch (error) {
    throw fromRedisError(error, 'sweep', true);
  }
  result.ran = true;
  let lockRenewedAt = performance.now();
  try {
    const [seconds, micros] = await client.time();
    const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    for (const slots of slotChunks(client)) {
      if (performance.now() - lockRenewedAt > options.lockMs / 3) {
        const renewed = await client.eval(RENEW_LOCK, 1, lockKey, token, options.lockMs);
        if (renewed !== 1) {
          ctx.logger.warn?.(
            { prefix: ctx.prefix },
            'active-runs: sweep lock lost mid-pass; stopping',
          );
          break;
        }
        lockRenewedAt = performance.now();
      }
      for (const tag of await dueScopes(client, ctx.prefix, slots, nowMs)) {
        result.scopesVisited++;
        await sweepScope(ctx, options, tag, result);
      }
    }
  } catch (error) {
    throw fromRedisError(error, 'sweep', true);
  } finally {
    await client.eval(RELEASE_LOCK, 1, lockKey, token).catch(() => {});
    result.durationMs = performance.now() - started;
  }
  return result;
}

/** All 16384 slots in chunks, each chunk owned by one node (by the client's slot map on a cluster). */
function slotChunks(client: Client): number[][] {
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
  client: Client,
  prefix: string,
  slots: number[],
  nowMs: number,
): Promise<string[]> {
  const keys = slots.map((slot) => registryKey(prefix, slot));
  try {
    const [first, ...rest] = keys;
    return (await client.eval(REGISTRY_DUE, 1, first!, nowMs, DUE_PER_SLOT, ...rest)) as string[];
  } catch {
    // the slot map moved under us (failover, resharding): ask each registry on its own
    const due = await Promise.all(
      keys.map((key) => client.zrangebyscore(key, '-inf', String(nowMs), 'LIMIT', 0, DUE_PER_SLOT)),
    );
    return due.flat();
  }
}

async function sweepScope<TData>(
  ctx: SweeperContext<TData>,
  options: Required<SweeperOptions>,
  tag: string,
  result: SweepResult,
): Promise<void> {
  const client = ctx.redis as Client;
  const scope = scopeFromTag(tag);
  const keys: ScopeKeys = scopeKeys(ctx.prefix, scope);
  const call = (
    client as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>
  )[SCRIPTS.sweep.command]!;
  for (let rounds = 0; rounds < 1_000; rounds++) {
    const t0 = performance.now();
    const reply = (await call.call(
      client,
      keys.runs,
      keys.index,
      keys.bySource,
      keys.lease,
      keys.meta,
      keys.registry,
      keys.expired,
      tag,
      options.batchSize,
      options.reclaimMs,
      keys.events,
      ctx.publishMode,
      OUTBOX_TTL_MS,
    )) as (string | number)[];
    result.longestCallMs = Math.max(result.longestCallMs, performance.now() - t0);
    const acked: string[] = [];
    for (let i = 1; i < reply.length; i += 3) {
      const id = String(reply[i]);
      const entry = String(reply[i + 1]);
      const redelivery = Number(reply[i + 2]) === 1;
      const nl = entry.indexOf('\n');
      const run = decodeRun<TData>(id, entry.slice(nl + 1));
      if (redelivery) result.redelivered++;
      else result.expired++;
      try {
        await ctx.onExpired?.(run, scope);
        acked.push(id);
      } catch (error) {
        result.failedReports++;
        ctx.logger.warn?.(
          { err: error, scope, id, retryInMs: options.reclaimMs },
          'active-runs: onExpired hook threw; the report will be handed out again',
        );
      }
    }
    if (acked.length > 0) {
      await client.eval(
        ACK_REPORTS,
        4,
        keys.runs,
        keys.registry,
        keys.expired,
        keys.meta,
        tag,
        ...acked,
      );
    }
    if (Number(reply[0]) !== 1) return;
  }
}
