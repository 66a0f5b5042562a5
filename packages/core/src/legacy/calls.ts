import type { RedisCaller } from '../call/caller.js';
import { ActiveRunsError, isActiveRunsError } from '../errors.js';
import type { ScriptDefinition } from '../scripts/index.js';

type Arg = string | number;

/**
 * How the legacy layer talks to Redis: through the store's caller (src/call/), so its calls have
 * issue 9's guarantees (a deadline, typed outcomes, no ghost writes, settled by `close()`).
 * `step` names the call in error messages. Two kinds: {@link directCalls} (one deadline per
 * Redis call: the backfill) and `RolloutCall` (one deadline for all the calls of one rollout-mode
 * operation, see rollout-call.ts).
 */
export interface LegacyCalls {
  command(name: string, args: Arg[], step: string, isWrite?: boolean): Promise<unknown>;
  script(
    def: ScriptDefinition,
    step: string,
    isWrite: boolean,
    keys: string[],
    args: Arg[],
  ): Promise<unknown>;
}

/** Whether the legacy layer may still start Redis calls (see the rollout store's `close()`). */
export interface LegacyGate {
  /** `close()` was called: no new operation or backfill call starts. */
  closing: boolean;
  /** The operations in progress had their time: none starts another Redis call. */
  stopped: boolean;
}

/** The error of a call refused because the store is closing. */
export function closedError(operation: string): ActiveRunsError {
  return new ActiveRunsError(
    'REDIS_UNAVAILABLE',
    `${operation}: the store was closed before the call could be sent; nothing of it was sent, and it never will be.`,
  );
}

/** Calls with a deadline each (the caller's own), refused once the store is closing. */
export function directCalls(caller: RedisCaller, gate: LegacyGate): LegacyCalls {
  return {
    command: (name, args, step, isWrite = false) =>
      gate.closing
        ? Promise.reject(closedError(step))
        : caller.command(name, args, step, { isWrite }),
    script: (def, step, isWrite, keys, args) =>
      gate.closing
        ? Promise.reject(closedError(step))
        : caller.script(def, step, isWrite, keys, args),
  };
}

type Settled<T extends readonly unknown[]> = { -readonly [K in keyof T]: Awaited<T[K]> };

/**
 * Like `Promise.all`, but waits for every call to settle before it throws the first failure (in
 * argument order): a call sent alongside one that failed is never left in flight behind an
 * answer, so an operation answers only once all of it has settled.
 */
export async function settleAll<T extends readonly unknown[] | []>(
  promises: T,
): Promise<Settled<T>> {
  const results = (await Promise.allSettled(promises)) as PromiseSettledResult<unknown>[];
  const values: unknown[] = [];
  for (const result of results) {
    if (result.status === 'rejected') throw result.reason;
    values.push(result.value);
  }
  return values as Settled<T>;
}

/** Redis answered WRONGTYPE: the key holds another type (a legacy JSON-string key, not a hash). */
export function isWrongType(error: unknown): boolean {
  const cause = isActiveRunsError(error) ? error.cause : error;
  return cause instanceof Error && cause.message.startsWith('WRONGTYPE');
}
