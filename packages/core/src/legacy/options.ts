import { z } from 'zod';
import type { ActiveRun } from '../codec.js';
import { HOUR_MS } from '../constants.js';
import type { ParsedScope, Scope } from '../keys.js';

/**
 * A legacy record mapped to a run: what `decode` returns. Times are ms since the epoch.
 * The run keeps its times when copied, so pages list it in the same place before and after.
 */
export interface LegacyRunInput<TData = unknown> {
  /** The run's id (the hash field, or the record's `uuid`). */
  id: string;
  /** When it was enqueued. */
  queuedAt: number;
  /** When it started; null or absent while queued. */
  startedAt?: number | null;
  source?: string | null;
  caption?: string | null;
  data?: TData | null;
  /**
   * Lease deadline the copy gets.
   * @default queuedAt + windowMs (the moment the legacy list stopped showing it)
   */
  leaseExpiresAt?: number;
}

/** What `decode` is told about the record it maps. */
export interface LegacyDecodeContext {
  /** The hash field (or the key of an id → run map); null for an element of a JSON array. */
  id: string | null;
  /** The legacy key the record came from. */
  key: string;
}

/**
 * The rollout mode: how the store finds and reads the hash-per-project layout it replaces
 * (`runs:active:<workspaceId>:<projectId>`, field = run id, value = JSON), while scopes are
 * migrated one by one (see `migrateLegacy`).
 */
export interface LegacyOptions<TData = unknown> {
  /**
   * The ioredis `keyPrefix` the legacy code used (e.g. `'latitude:'`), prepended to the default
   * key names. The store's own client must not have a keyPrefix: pass it here instead.
   * @default ''
   */
  keyPrefix?: string;
  /**
   * The legacy key of a scope, with its prefix.
   * @default (s) => `${keyPrefix}runs:active:${s.workspaceId}:${s.projectId}`
   */
  keyOf?: (scope: ParsedScope) => string;
  /**
   * The scope of a legacy key found by SCAN, or null for a key that is not one. Needed by
   * `migrateLegacy({ match })` with a custom `keyOf`.
   * @default the inverse of the default keyOf
   */
  scopeOf?: (key: string) => Scope | null;
  /**
   * Maps a parsed legacy record to a run; return null for a record that is not a run. Records
   * that do not map (or that `decode` throws on) are counted by reason and skipped, never fatal.
   * @default `{ uuid, queuedAt, startedAt?, caption?, source?, ...rest }` with ISO dates, `rest` as data
   */
  decode?: (record: unknown, context: LegacyDecodeContext) => LegacyRunInput<TData> | null;
  /**
   * The legacy record of a run, written by the rollout mode's dual writes so the legacy list
   * (and code that still reads it) sees every change.
   * @default the inverse of the default decode: `{ ...data, uuid, queuedAt, startedAt?, caption?, source? }`, ISO dates
   */
  encode?: (run: ActiveRun<TData>) => Record<string, unknown>;
  /**
   * The legacy list's window: records queued longer ago are stale, never listed nor copied.
   * @default 10_800_000 (3 hours)
   */
  windowMs?: number;
}

const fn = (name: string) =>
  z.custom<(...args: never[]) => unknown>(
    (v) => typeof v === 'function',
    `${name} must be a function`,
  );

/** Zod schema of {@link LegacyOptions}, used by the store's options schema. */
export const legacyOptionsSchema = z.strictObject({
  keyPrefix: z
    .string()
    .max(128)
    .regex(/^[^\s{}]*$/, 'keyPrefix must not contain whitespace or braces')
    .default(''),
  keyOf: fn('keyOf').optional(),
  scopeOf: fn('scopeOf').optional(),
  decode: fn('decode').optional(),
  encode: fn('encode').optional(),
  windowMs: z
    .number()
    .int()
    .min(1_000, 'windowMs must be at least 1000')
    .max(30 * 24 * HOUR_MS, 'windowMs must be at most 30 days')
    .default(3 * HOUR_MS),
});

/** The default legacy key name (after keyPrefix), without the scope. */
export const LEGACY_KEY_BASE = 'runs:active:';
