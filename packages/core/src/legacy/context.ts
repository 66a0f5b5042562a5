import type { RedisCaller } from '../call/caller.js';
import type { ActiveRun } from '../codec.js';
import type { ParsedScope, Scope } from '../keys.js';
import { parseScope } from '../keys.js';
import type { ActiveRunsLogger } from '../logger.js';
import type { DataSchema, RedisLike } from '../schemas.js';
import type { LegacyCalls, LegacyGate } from './calls.js';
import { directCalls } from './calls.js';
import type { LegacyEntry } from './legacy-key.js';
import type { LegacyDecodeContext, LegacyRunInput } from './options.js';
import { LEGACY_KEY_BASE } from './options.js';
import type { MapResult, RecordLimits } from './record.js';
import {
  decodeLegacyRecord,
  encodeLegacyRecord,
  mapLegacyRecord,
  mapLegacyValue,
} from './record.js';

/** Everything the rollout store and the backfill share: the store's settings and the legacy layout. */
export interface LegacyContext<TData = unknown> {
  /**
   * The store's client (no keyPrefix: keyOf adds it). Only for what the caller cannot do: SCAN on
   * each master of a Cluster (key-finder.ts); every other call goes through `calls`.
   */
  redis: RedisLike;
  /** The store's caller (shared with the store, so `close()` settles legacy calls too). */
  caller: RedisCaller;
  /** Redis calls of the legacy layer: `directCalls` here, a `RolloutCall` within an operation. */
  calls: LegacyCalls;
  /** Shared with the rollout store: refuses new calls once it closes. */
  gate: LegacyGate;
  prefix: string;
  /** `publishEvents` as the scripts take it: '0' off, '1' PUBLISH, '2' SPUBLISH. */
  publishMode: string;
  /** How long a scope's keys outlive its latest lease. */
  graceMs: number;
  windowMs: number;
  /** Default `match` of the backfill. */
  match: string;
  /** Whether keys found by SCAN can be mapped back to scopes (default keyOf, or a scopeOf). */
  canScan: boolean;
  limits: RecordLimits;
  logger: ActiveRunsLogger;
  keyOf(scope: ParsedScope): string;
  /** The scope of a legacy key, or null when it names none (or no scopeOf is known). */
  scopeOf(key: string): ParsedScope | null;
  decode(record: unknown, context: LegacyDecodeContext): LegacyRunInput<TData> | null;
  encode(run: ActiveRun<TData>): Record<string, unknown>;
}

/** The parsed store options the context is built from. */
export interface LegacyContextInput {
  redis: RedisLike;
  caller: RedisCaller;
  /** @default open for good */
  gate?: LegacyGate | undefined;
  prefix: string;
  leaseMs: number;
  publishEvents: boolean;
  maxCaptionLength: number;
  maxDataBytes: number;
  dataSchema?: DataSchema | undefined;
  logger?: ActiveRunsLogger | undefined;
  legacy: {
    keyPrefix: string;
    windowMs: number;
    keyOf?: ((scope: ParsedScope) => string) | undefined;
    scopeOf?: ((key: string) => Scope | null) | undefined;
    decode?: ((record: unknown, context: LegacyDecodeContext) => unknown) | undefined;
    encode?: ((run: ActiveRun<never>) => Record<string, unknown>) | undefined;
  };
}

/** Builds the context from the store's parsed options and its client. */
export function legacyContext<TData>(input: LegacyContextInput): LegacyContext<TData> {
  const { legacy } = input;
  const base = `${legacy.keyPrefix}${LEGACY_KEY_BASE}`;
  const defaultScopeOf = (key: string): Scope | null => {
    if (!key.startsWith(base)) return null;
    const rest = key.slice(base.length);
    const at = rest.indexOf(':');
    if (at <= 0 || rest.indexOf(':', at + 1) !== -1) return null;
    return { workspaceId: rest.slice(0, at), projectId: rest.slice(at + 1) };
  };
  const scopeOf = legacy.scopeOf ?? (legacy.keyOf ? () => null : defaultScopeOf);
  const gate = input.gate ?? { closing: false, stopped: false };
  return {
    redis: input.redis,
    caller: input.caller,
    calls: directCalls(input.caller, gate),
    gate,
    prefix: input.prefix,
    publishMode: input.publishEvents ? (input.redis.isCluster ? '2' : '1') : '0',
    graceMs: Math.max(input.leaseMs, 60_000),
    windowMs: legacy.windowMs,
    match: `${globEscape(base)}*`,
    canScan: legacy.scopeOf !== undefined || legacy.keyOf === undefined,
    limits: {
      maxCaptionLength: input.maxCaptionLength,
      maxDataBytes: input.maxDataBytes,
      dataSchema: input.dataSchema,
      windowMs: legacy.windowMs,
    },
    logger: input.logger ?? {},
    keyOf: legacy.keyOf ?? ((s) => `${base}${s.workspaceId}:${s.projectId}`),
    scopeOf: (key) => {
      let scope: Scope | null;
      try {
        scope = scopeOf(key);
        return scope ? parseScope(scope) : null;
      } catch {
        return null;
      }
    },
    decode: (legacy.decode ?? decodeLegacyRecord) as LegacyContext<TData>['decode'],
    encode: (legacy.encode ?? encodeLegacyRecord) as LegacyContext<TData>['encode'],
  };
}

/** Escapes glob characters of a literal key part for SCAN MATCH. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Maps one legacy entry to a run with the context's decoder, limits and window. */
export function mapEntry<TData>(
  ctx: LegacyContext<TData>,
  key: string,
  entry: LegacyEntry,
  now: number,
): MapResult<TData> {
  const context = { id: entry.id, key };
  return 'value' in entry
    ? mapLegacyValue(entry.value, context, ctx.decode, ctx.limits, now)
    : mapLegacyRecord(entry.parsed, context, ctx.decode, ctx.limits, now);
}
