/** One second, in milliseconds. */
export const SECOND_MS = 1_000;
/** One minute, in milliseconds. */
export const MINUTE_MS = 60 * SECOND_MS;
/** One hour, in milliseconds. */
export const HOUR_MS = 60 * MINUTE_MS;

/** Default lease: 3 hours, the TTL of the original hash-per-project layout. */
export const DEFAULT_LEASE_MS = 3 * HOUR_MS;
/** Shortest lease accepted: anything shorter would lapse before a round trip completes. */
export const MIN_LEASE_MS = 100;
/** Longest lease accepted: 30 days. */
export const MAX_LEASE_MS = 30 * 24 * HOUR_MS;

/** Default key prefix. */
export const DEFAULT_PREFIX = 'active-runs';
/** Default maximum caption length, in characters. */
export const DEFAULT_MAX_CAPTION_LENGTH = 500;
/** Default maximum size of the serialized `data`, in bytes. */
export const DEFAULT_MAX_DATA_BYTES = 16 * 1024;
/** Default page size when neither `limit` nor `pageSize` is given. */
export const DEFAULT_PAGE_SIZE = 25;
/** Largest page a single `list` call returns. */
export const MAX_PAGE_SIZE = 500;
/** Default command timeout set on clients the store creates. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
/** Default longest time `close()` takes. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
/** Default longest time an `onExpired` hook may take before its report is retried later. */
export const DEFAULT_HOOK_TIMEOUT_MS = 30_000;

/** Longest id, scope part or source accepted, in characters. */
export const MAX_ID_LENGTH = 128;
/** Longest source label, in characters. */
export const MAX_SOURCE_LENGTH = 64;
/** Distinct sources a scope can hold at once (they are packed into sorted-set scores). */
export const MAX_SOURCES_PER_SCOPE = 127;

/**
 * Width of the time field inside sorted-set scores: 2^44 ms, about year 2527.
 * Scores pack `rank * 2 * TIME_SPAN + phase * TIME_SPAN + timeMs` and stay below 2^53, so
 * they are exact doubles.
 */
export const TIME_SPAN = 2 ** 44;

/**
 * Version of the Lua scripts and key layout; part of every script's registered name.
 * 2: the scope's time high-water mark (meta `hw`), the outbox keyed by report with its schedule
 * set, fingerprints in values.
 */
export const LAYOUT_VERSION = 2;

/** Deepest row offset paging reaches (`page * pageSize`); deeper pages need the cursor. */
export const MAX_OFFSET = 10_000;
/** Extra lapsed-but-unswept runs one `list` call may step over before returning a short page. */
export const LIST_LAPSED_SCAN_BUDGET = 1_000;
