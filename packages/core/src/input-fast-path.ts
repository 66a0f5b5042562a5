/**
 * Checks of the write calls' inputs for the shape almost every call has (a plain object of plain
 * values, or nothing), without zod: a write is a few tens of µs, and zod's parse of a strict
 * object was a visible part of it (issue 11). Anything this does not recognise as valid (a
 * getter, a proxy, a class instance, an unknown key, a value out of range) goes to the zod schema,
 * which accepts it or refuses it with the usual message: the fast path only ever says yes to what
 * zod would accept, so every error stays zod's.
 */

import type { z } from 'zod';
import { MAX_LEASE_MS, MIN_LEASE_MS, TIME_SPAN } from './constants.js';
import {
  enqueueInputSchema,
  heartbeatOptionsSchema,
  parseInput,
  progressInputSchema,
  SOURCE_PATTERN,
  startOptionsSchema,
} from './schemas.js';

/** Not accepted by the fast path (zod decides). */
const NO = Symbol('no');
/** The value to keep (a copy for a nested object), or NO. */
type Check = (value: unknown) => unknown;

const yes = (ok: boolean, v: unknown) => (ok ? v : NO);
const isTime: Check = (v) =>
  yes(
    v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < TIME_SPAN),
    v,
  );
const isLease: Check = (v) =>
  yes(
    v === undefined ||
      (typeof v === 'number' && Number.isInteger(v) && v >= MIN_LEASE_MS && v <= MAX_LEASE_MS),
    v,
  );
const isText: Check = (v) => yes(v === undefined || v === null || typeof v === 'string', v);
const isSource: Check = (v) =>
  yes(v === undefined || v === null || (typeof v === 'string' && SOURCE_PATTERN.test(v)), v);
const isAny: Check = (v) => v;
/** Anything but undefined: zod 4 requires a `z.any()` key to be present. */
const isPresent: Check = (v) => yes(v !== undefined, v);

/**
 * A copy of a plain object whose own properties all pass their check (each read once, so a getter
 * cannot answer the check one thing and the store another), or undefined: let zod decide.
 */
function plainWith(
  value: unknown,
  checks: Readonly<Record<string, Check>>,
): Record<string, unknown> | undefined {
  try {
    if (typeof value !== 'object' || value === null) return undefined;
    if (Object.getPrototypeOf(value) !== Object.prototype) return undefined;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(checks, key)) return undefined;
      const kept = checks[key]!((value as Record<string, unknown>)[key]);
      if (kept === NO) return undefined;
      out[key] = kept;
    }
    for (const key in checks) if (checks[key] === isPresent && !(key in out)) return undefined;
    return out;
  } catch {
    return undefined; // a proxy or a getter threw: zod reads it again and says so
  }
}

const START_CHECKS = { startedAt: isTime };
const isStart: Check = (v) =>
  v === undefined || typeof v === 'boolean' ? v : (plainWith(v, START_CHECKS) ?? NO);

const ENQUEUE_CHECKS = {
  id: isPresent,
  queuedAt: isTime,
  source: isSource,
  caption: isText,
  data: isAny,
  leaseMs: isLease,
  start: isStart,
};
const PROGRESS_CHECKS = { caption: isText, data: isAny, leaseMs: isLease };
const LEASE_CHECKS = { startedAt: isTime, leaseMs: isLease };
const HEARTBEAT_CHECKS = { leaseMs: isLease };

function fast<S extends z.ZodType>(
  schema: S,
  checks: Readonly<Record<string, Check>>,
  value: unknown,
  what: string,
): z.output<S> {
  return (plainWith(value, checks) as z.output<S> | undefined) ?? parseInput(schema, value, what);
}

/** `enqueue`'s input, checked. */
export function parseEnqueueInput(input: unknown): z.output<typeof enqueueInputSchema> {
  return fast(enqueueInputSchema, ENQUEUE_CHECKS, input, 'input');
}

/** `progress`'s input, checked. */
export function parseProgressInput(input: unknown): z.output<typeof progressInputSchema> {
  return fast(progressInputSchema, PROGRESS_CHECKS, input, 'input');
}

/** `start`'s options, checked (none: `{}`). */
export function parseStartOptions(options: unknown): z.output<typeof startOptionsSchema> {
  if (options === undefined) return {};
  return fast(startOptionsSchema, LEASE_CHECKS, options, 'options');
}

/** `heartbeat`'s options, checked (none: `{}`). */
export function parseHeartbeatOptions(options: unknown): z.output<typeof heartbeatOptionsSchema> {
  if (options === undefined) return {};
  return fast(heartbeatOptionsSchema, HEARTBEAT_CHECKS, options, 'options');
}
