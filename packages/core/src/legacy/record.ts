import type { ActiveRun } from '../codec.js';
import { TIME_SPAN } from '../constants.js';
import type { DataSchema } from '../schemas.js';
import { SOURCE_PATTERN } from '../schemas.js';
import type { LegacyDecodeContext, LegacyRunInput } from './options.js';

/**
 * Why a legacy record was not listed or copied. Every skipped record is counted under one.
 *
 * - `bad-json`: the value is not JSON.
 * - `not-a-run`: not an object, or `decode` returned null.
 * - `decode-error`: a custom `decode` threw.
 * - `bad-id`: no id, one the store refuses (`{`, `}`, `:`, spaces...), or `uuid` ≠ the hash field.
 * - `bad-time`: `queuedAt` missing or not a date; `startedAt` not a date.
 * - `bad-source`: a source that is not a low-cardinality label.
 * - `bad-caption`: a caption that is not a string.
 * - `bad-data`: data the store's `dataSchema` refuses, or that is not JSON.
 * - `too-large`: caption or data over the store's limits.
 * - `stale`: outside the legacy window (its copy's lease would already have lapsed).
 */
export type LegacySkipReason =
  | 'bad-json'
  | 'not-a-run'
  | 'decode-error'
  | 'bad-id'
  | 'bad-time'
  | 'bad-source'
  | 'bad-caption'
  | 'bad-data'
  | 'too-large'
  | 'stale';

/** A legacy record that maps to a run, with what the import script needs. */
export interface MappedRecord<TData = unknown> {
  run: ActiveRun<TData>;
  /** List position: `phase * 2^44 + time`, as the new layout's index scores it. */
  score: number;
  captionJson: string;
  dataJson: string;
}

/** The store limits a mapped record must respect, as its own writes do. */
export interface RecordLimits {
  maxCaptionLength: number;
  maxDataBytes: number;
  dataSchema: DataSchema | undefined;
  windowMs: number;
}

export type MapResult<TData> =
  | { ok: true; record: MappedRecord<TData> }
  | { ok: false; reason: LegacySkipReason };

const SAFE_ID = /^[!-9;-z|~]{1,128}$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A legacy date (ISO string, Date JSON, or ms number) in ms; NaN when it is none. */
function toMs(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.length > 0) return Date.parse(value);
  return Number.NaN;
}

/**
 * The default decoder, for the original shape `{ uuid, queuedAt, startedAt?, caption?, source? }`
 * plus the app's own fields (they become `data`), dates as ISO strings.
 */
export function decodeLegacyRecord(
  record: unknown,
  context: LegacyDecodeContext,
): LegacyRunInput | null {
  if (!isPlainObject(record)) return null;
  const { uuid, queuedAt, startedAt, caption, source, ...rest } = record;
  if (uuid !== undefined && context.id !== null && uuid !== context.id) {
    return { id: '', queuedAt: Number.NaN }; // ambiguous id: refused as bad-id below
  }
  return {
    id: (context.id ?? uuid) as string,
    queuedAt: toMs(queuedAt),
    startedAt: startedAt === undefined || startedAt === null ? null : toMs(startedAt),
    caption: (caption ?? null) as string | null,
    source: (source ?? null) as string | null,
    data: Object.keys(rest).length > 0 ? rest : null,
  };
}

/** The default encoder: the legacy record of a run, the inverse of {@link decodeLegacyRecord}. */
export function encodeLegacyRecord(run: ActiveRun): Record<string, unknown> {
  const data = run.data === null ? {} : isPlainObject(run.data) ? run.data : { data: run.data };
  const record: Record<string, unknown> = {
    ...data,
    uuid: run.id,
    queuedAt: new Date(run.queuedAt).toISOString(),
  };
  if (run.startedAt !== null) record.startedAt = new Date(run.startedAt).toISOString();
  if (run.caption !== null) record.caption = run.caption;
  if (run.source !== null) record.source = run.source;
  return record;
}

const isTime = (t: unknown): t is number =>
  typeof t === 'number' && Number.isSafeInteger(t) && t >= 0 && t < TIME_SPAN;

/**
 * Maps one parsed legacy record to a run, applying the store's limits and the window (`now` is
 * the Redis server's clock). Never throws: a record that does not map gives its reason.
 */
export function mapLegacyRecord<TData>(
  parsed: unknown,
  context: LegacyDecodeContext,
  decode: (record: unknown, context: LegacyDecodeContext) => LegacyRunInput<TData> | null,
  limits: RecordLimits,
  now: number,
): MapResult<TData> {
  let input: LegacyRunInput<TData> | null;
  try {
    input = decode(parsed, context);
  } catch {
    return { ok: false, reason: 'decode-error' };
  }
  if (!isPlainObject(input)) return { ok: false, reason: 'not-a-run' };
  const { id, queuedAt } = input;
  const startedAt = input.startedAt ?? null;
  if (typeof id !== 'string' || !SAFE_ID.test(id)) return { ok: false, reason: 'bad-id' };
  if (!isTime(queuedAt) || (startedAt !== null && !isTime(startedAt))) {
    return { ok: false, reason: 'bad-time' };
  }
  const source = input.source ?? null;
  if (source !== null && (typeof source !== 'string' || !SOURCE_PATTERN.test(source))) {
    return { ok: false, reason: 'bad-source' };
  }
  const caption = input.caption ?? null;
  if (caption !== null && typeof caption !== 'string') return { ok: false, reason: 'bad-caption' };
  if (caption !== null && [...caption].length > limits.maxCaptionLength) {
    return { ok: false, reason: 'too-large' };
  }
  let data: TData | null = input.data ?? null;
  if (data !== null && limits.dataSchema) {
    const result = limits.dataSchema.safeParse(data);
    if (!result.success) return { ok: false, reason: 'bad-data' };
    data = result.data as TData;
  }
  let dataJson = '';
  if (data !== null) {
    try {
      dataJson = JSON.stringify(data) ?? '';
    } catch {
      return { ok: false, reason: 'bad-data' };
    }
    if (dataJson === '') return { ok: false, reason: 'bad-data' };
    if (Buffer.byteLength(dataJson) > limits.maxDataBytes)
      return { ok: false, reason: 'too-large' };
  }
  const leaseExpiresAt = input.leaseExpiresAt ?? queuedAt + limits.windowMs;
  if (!isTime(leaseExpiresAt)) return { ok: false, reason: 'bad-time' };
  if (leaseExpiresAt <= now) return { ok: false, reason: 'stale' };
  const running = startedAt !== null;
  return {
    ok: true,
    record: {
      run: {
        id,
        status: running ? 'running' : 'queued',
        queuedAt,
        startedAt,
        source,
        caption,
        data: data as TData | null,
        leaseExpiresAt,
      },
      score: running ? TIME_SPAN + startedAt : queuedAt,
      captionJson: caption === null ? '' : JSON.stringify(caption),
      dataJson,
    },
  };
}

/** Parses a legacy hash value and maps it; bad JSON is a reason like any other. */
export function mapLegacyValue<TData>(
  value: string,
  context: LegacyDecodeContext,
  decode: (record: unknown, context: LegacyDecodeContext) => LegacyRunInput<TData> | null,
  limits: RecordLimits,
  now: number,
): MapResult<TData> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { ok: false, reason: 'bad-json' };
  }
  return mapLegacyRecord(parsed, context, decode, limits, now);
}
