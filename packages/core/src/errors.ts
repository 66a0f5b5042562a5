/**
 * Every failure the library reports carries one of these codes.
 *
 * - `INVALID_ARGUMENT`: bad input (wrong type, bad id, bad page size, edited cursor); fix the call.
 * - `NOT_FOUND`: the run is not active (never enqueued, ended, or its lease lapsed).
 * - `CONFLICT`: the id is already active with a different payload, or the call contradicts its state.
 * - `PAYLOAD_TOO_LARGE`: caption or data exceeds the configured limit.
 * - `REDIS_UNAVAILABLE`: Redis could not be reached or refused the command.
 * - `TIMEOUT`: Redis did not answer in time; for a write the outcome is unknown.
 * - `INTERNAL`: a bug or an unexpected state in Redis; please report it.
 */
export type ActiveRunsErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'REDIS_UNAVAILABLE'
  | 'TIMEOUT'
  | 'INTERNAL';

/** All error codes, for adapters that map codes to HTTP statuses. */
export const ACTIVE_RUNS_ERROR_CODES: readonly ActiveRunsErrorCode[] = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'REDIS_UNAVAILABLE',
  'TIMEOUT',
  'INTERNAL',
];

/**
 * The HTTP status an API should answer with for each code, so every adapter maps errors alike:
 * bad input 400, not active 404, conflict 409, too large 413, Redis down 503, Redis slow 504.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<ActiveRunsErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  REDIS_UNAVAILABLE: 503,
  TIMEOUT: 504,
  INTERNAL: 500,
};

/** Options for {@link ActiveRunsError}. */
export interface ActiveRunsErrorOptions {
  /** The underlying error (Redis, zod, ...). */
  cause?: unknown;
  /** Structured details, e.g. the offending field or zod issues. */
  details?: Record<string, unknown>;
}

/**
 * Brand of every {@link ActiveRunsError}, in the global symbol registry: an app that loads both
 * builds of the package (ESM and CJS) has two copies of the class, and `instanceof` sees only one.
 */
const BRAND = Symbol.for('@active-runs/core.ActiveRunsError');

/**
 * The one error class of the library: check `error.code`, read `error.message` for what to do.
 */
export class ActiveRunsError extends Error {
  /** What kind of failure this is. */
  readonly code: ActiveRunsErrorCode;
  /** Structured details, when there are any. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ActiveRunsErrorCode, message: string, options: ActiveRunsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ActiveRunsError';
    this.code = code;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True when `error` is an {@link ActiveRunsError}, optionally with the given code. Works across
 * copies of the package (an ESM and a CJS build in one app), unlike `instanceof`.
 */
export function isActiveRunsError(
  error: unknown,
  code?: ActiveRunsErrorCode,
): error is ActiveRunsError {
  const branded =
    error instanceof ActiveRunsError ||
    (typeof error === 'object' &&
      error !== null &&
      (error as Record<symbol, unknown>)[BRAND] === true);
  return branded && (code === undefined || (error as ActiveRunsError).code === code);
}

/**
 * Runs `read` over an input of the app; anything it throws that is not already an
 * `ActiveRunsError` (a throwing getter, a proxy's trap, a revoked proxy, a `toJSON` that throws)
 * becomes `INVALID_ARGUMENT` naming `field`, instead of escaping as an untyped error.
 */
export function readInput<T>(field: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof ActiveRunsError) throw error;
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      `${field} could not be read (${reason.slice(0, 200)}): a getter or a proxy threw; pass plain values.`,
      { cause: error, details: { field } },
    );
  }
}

// Redis 7 appends ' script: <sha>, on @user_script:<line>.' to errors raised from Lua.
const SCRIPT_ERROR =
  /ERR_ACTIVE_RUNS (NOT_FOUND|CONFLICT|INVALID_ARGUMENT|INTERNAL) ?(.*?)(?: script: [0-9a-f]+, on @user_script:\d+\.)?$/s;

/**
 * Turns whatever a Redis call threw into an {@link ActiveRunsError}.
 * Lua scripts raise `ERR_ACTIVE_RUNS <CODE> <message>`; ioredis raises timeouts and connection errors.
 */
export function fromRedisError(
  error: unknown,
  operation: string,
  isWrite: boolean,
): ActiveRunsError {
  if (error instanceof ActiveRunsError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const scripted = SCRIPT_ERROR.exec(message);
  if (scripted) {
    const code = scripted[1] as ActiveRunsErrorCode;
    return new ActiveRunsError(code, `${operation}: ${scripted[2]?.trim() ?? ''}`.trim(), {
      cause: error,
    });
  }
  if (/Command timed out/i.test(message)) {
    return new ActiveRunsError(
      'TIMEOUT',
      isWrite
        ? `${operation}: Redis did not answer within commandTimeout; the write may or may not have been applied. Read the run back (get) before retrying.`
        : `${operation}: Redis did not answer within commandTimeout; retry, or raise commandTimeout.`,
      { cause: error },
    );
  }
  if (
    /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|Connection is closed|Stream isn't writeable|enableOfflineQueue|Reached the max retries|CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|^BUSY |^MOVED |^ASK |Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes/i.test(
      message,
    )
  ) {
    return new ActiveRunsError(
      'REDIS_UNAVAILABLE',
      `${operation}: Redis is unavailable (${message}). Check the connection; the call can be retried.`,
      { cause: error },
    );
  }
  if (/OOM command not allowed/i.test(message)) {
    return new ActiveRunsError(
      'REDIS_UNAVAILABLE',
      `${operation}: Redis is out of memory and refused the write (${message}). Use maxmemory-policy noeviction and more memory.`,
      { cause: error },
    );
  }
  return new ActiveRunsError('INTERNAL', `${operation}: unexpected Redis error: ${message}`, {
    cause: error,
  });
}
