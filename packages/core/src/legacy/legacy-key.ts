import type { LegacyCalls } from './calls.js';
import { isWrongType, settleAll } from './calls.js';

/**
 * Reading one legacy key in bounded batches. Most deployments hold a hash per project
 * (field = run id, value = JSON); some older ones hold one JSON string per key, either an array
 * of runs or an id → run map. Both are read here; every caller maps records with record.ts.
 */

/** One legacy record before mapping. */
export type LegacyEntry =
  /** A hash field and its raw value (parsed when mapped, so bad JSON is counted, not thrown). */
  | { id: string; value: string }
  /** An element of a JSON-string key, already parsed with the whole string. */
  | { id: string | null; parsed: unknown };

/** What a legacy key holds. */
export type LegacyKeyShape =
  | { kind: 'hash'; size: number }
  | { kind: 'json'; entries: LegacyEntry[] }
  | { kind: 'none' }
  /** Neither a hash nor a JSON array/object string (counted, never read). */
  | { kind: 'wrong-type'; type: string }
  /** A string that is not JSON. */
  | { kind: 'bad-json' };

/** Entries of a JSON-string key: an array of runs, or an id → run map. */
export function jsonEntries(parsed: unknown): LegacyEntry[] | null {
  if (Array.isArray(parsed)) return parsed.map((item) => ({ id: null, parsed: item }));
  if (typeof parsed === 'object' && parsed !== null) {
    return Object.entries(parsed).map(([id, item]) => ({ id, parsed: item }));
  }
  return null;
}

/**
 * What the key holds: HLEN first (one cheap call for the common hash), TYPE only when that
 * fails WRONGTYPE, then the whole string for the JSON variant (that variant was always read whole).
 */
export async function probeLegacyKey(
  calls: LegacyCalls,
  key: string,
  step: string,
): Promise<LegacyKeyShape> {
  try {
    const size = Number(await calls.command('hlen', [key], step));
    return size > 0 ? { kind: 'hash', size } : { kind: 'none' };
  } catch (error) {
    if (!isWrongType(error)) throw error;
  }
  const type = String(await calls.command('type', [key], step));
  if (type !== 'string') return type === 'none' ? { kind: 'none' } : { kind: 'wrong-type', type };
  const text = (await calls.command('get', [key], step)) as string | null;
  if (text === null) return { kind: 'none' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: 'bad-json' };
  }
  const entries = jsonEntries(parsed);
  return entries ? { kind: 'json', entries } : { kind: 'wrong-type', type: 'string' };
}

/** One batch of a hash scan, and the cursor to continue from ('0' after the last). */
export interface LegacyBatch {
  entries: LegacyEntry[];
  cursor: string;
}

/**
 * The records of a legacy hash, HSCAN batch by batch: memory holds one batch at a time, never the
 * whole hash. HSCAN returns every record present for the whole scan at least once (a record may
 * come twice while the hash is resized; callers that count tolerate it, writers are idempotent).
 */
export async function* scanLegacyHash(
  calls: LegacyCalls,
  key: string,
  options: { count: number; cursor?: string; step: string },
): AsyncGenerator<LegacyBatch> {
  let cursor = options.cursor ?? '0';
  do {
    const [next, flat] = (await calls.command(
      'hscan',
      [key, cursor, 'COUNT', options.count],
      options.step,
    )) as [string, string[]];
    const entries: LegacyEntry[] = [];
    for (let i = 0; i < flat.length; i += 2) entries.push({ id: flat[i]!, value: flat[i + 1]! });
    cursor = next;
    yield { entries, cursor };
  } while (cursor !== '0');
}

/**
 * A scope's clock in ms, as its scripts read it (`scope_now`): the Redis server's TIME, or the
 * scope's time high-water mark (meta `hw`) when TIME is behind it (after a failover to a node
 * whose clock is behind), so legacy records are judged by the same clock as the scope's runs.
 */
export async function scopeNow(calls: LegacyCalls, metaKey: string, step: string): Promise<number> {
  const [[seconds, micros], hw] = (await settleAll([
    calls.command('time', [], step),
    calls.command('hget', [metaKey, 'hw'], step),
  ])) as [[string, string], string | null];
  const time = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  return Math.max(time, Number(hw ?? 0) || 0);
}
