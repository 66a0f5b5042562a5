import { ActiveRunsError, fromRedisError } from '../errors.js';
import type { CallLedger } from './guarded-command.js';
import { isReplyError } from './guarded-command.js';

/** Why a call ended without Redis's answer. */
export type Interruption = 'deadline' | 'closed';

/** Some write of the call reached a socket and got no reply: Redis may have applied it. */
export function outcomeUnknown(ledger: CallLedger): boolean {
  return ledger.writes > ledger.answers;
}

// Redis's replies that say the command did not run (so nothing of it was applied).
const REFUSED =
  /^(OOM|BUSY|LOADING|MASTERDOWN|READONLY|MOVED|ASK|TRYAGAIN|CLUSTERDOWN|NOSCRIPT|NOREPLICAS) /;

/**
 * The typed error of a call that failed with `error`, by what its ledger says:
 * - `TIMEOUT` when some write of the call got no reply (a lost connection, a stalled server):
 *   the outcome is unknown;
 * - `REDIS_UNAVAILABLE` when nothing was sent (or every write was refused), so nothing was
 *   applied and nothing will be: retrying is safe;
 * - otherwise what Redis answered (a script's own error code, or `INTERNAL`).
 */
export function failure(
  error: unknown,
  ledger: CallLedger,
  operation: string,
  isWrite: boolean,
): ActiveRunsError {
  if (error instanceof ActiveRunsError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (isReplyError(error) && !(REFUSED.test(message) && outcomeUnknown(ledger))) {
    // Redis answered: its verdict (a refusal changed nothing, a script error is the run's state)
    return fromRedisError(error, operation, isWrite);
  }
  if (outcomeUnknown(ledger)) {
    return new ActiveRunsError(
      'TIMEOUT',
      isWrite
        ? `${operation}: the call was sent but Redis's answer never came (${message}); the write may or may not have been applied. Read the run back (get) before retrying.`
        : `${operation}: the call was sent but Redis's answer never came (${message}); retry.`,
      { cause: error },
    );
  }
  return new ActiveRunsError(
    'REDIS_UNAVAILABLE',
    `${operation}: Redis is unavailable (${message}); the call was not sent and never will be, so nothing was applied and it can be retried.`,
    { cause: error },
  );
}

/** The typed error of a call interrupted by its deadline or by `close()`. */
export function interrupted(
  why: Interruption,
  ledger: CallLedger,
  operation: string,
  isWrite: boolean,
  timeoutMs: number,
  status: string,
): ActiveRunsError {
  const cause = new Error(
    why === 'deadline'
      ? `Command timed out: no answer within ${timeoutMs} ms`
      : 'The store was closed while the call was in flight',
  );
  if (outcomeUnknown(ledger)) {
    const what =
      why === 'deadline'
        ? `Redis did not answer within commandTimeout (${timeoutMs} ms)`
        : 'the store was closed before Redis answered';
    return new ActiveRunsError(
      'TIMEOUT',
      isWrite
        ? `${operation}: ${what}; the write may or may not have been applied. Read the run back (get) before retrying.`
        : `${operation}: ${what}; retry, or raise commandTimeout.`,
      { cause },
    );
  }
  const what =
    why === 'deadline'
      ? `Redis is unreachable (the client is ${status} and did not send the call within ${timeoutMs} ms)`
      : `the store was closed before the call could be sent (the client is ${status})`;
  return new ActiveRunsError(
    'REDIS_UNAVAILABLE',
    `${operation}: ${what}; the call was not sent and never will be, so it can be retried once Redis is back.`,
    { cause },
  );
}
