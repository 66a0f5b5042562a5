import { ActiveRunsError, isActiveRunsError } from '../errors.js';
import type { ScriptDefinition } from '../scripts/index.js';
import type { LegacyCalls } from './calls.js';
import { closedError } from './calls.js';
import type { LegacyContext } from './context.js';
import { LegacyWriter } from './legacy-writer.js';

type Arg = string | number;

/**
 * One call of the rollout store (`enqueue`, `start`, ... of a scope not migrated yet): several
 * Redis calls (the new layout's script, the legacy mirror, the migration's bookkeeping) that keep
 * issue 9's promises as a whole, as one store call does:
 * - every Redis call goes through the store's caller (typed outcomes; nothing of a call that
 *   answered is sent later), and a write is held to one deadline, the client's `commandTimeout`
 *   from its start, whatever number of steps it takes (reads scan the legacy key in as many calls
 *   as its size needs, each with a deadline of its own);
 * - the rollout store waits for every call of a step to settle before it answers (see
 *   `settleAll`), so nothing of it is left in flight behind its answer;
 * - `REDIS_UNAVAILABLE` only while nothing was applied: once a write of it was applied, or may
 *   have been (`TIMEOUT`), a later step that fails `REDIS_UNAVAILABLE` makes the whole call
 *   `TIMEOUT` (the new layout may hold the change without its legacy mirror: retrying the call
 *   brings the legacy layout in step);
 * - once the store stops (`close()`), no new step is sent: the call fails typed the same way.
 */
export class RolloutCall<TData> implements LegacyCalls {
  /** When all of it must have ended (`performance.now()` time), or undefined: per Redis call. */
  private readonly deadline: number | undefined;
  /** A write of it was applied, or may have been. */
  private applied = false;
  private ctx$: LegacyContext<TData> | undefined;
  private writer$: LegacyWriter<TData> | undefined;

  constructor(
    private readonly base: LegacyContext<TData>,
    readonly operation: string,
    isWrite: boolean,
  ) {
    this.deadline = isWrite ? performance.now() + base.caller.timeoutMs : undefined;
  }

  /** The legacy context with this call's Redis calls. */
  get ctx(): LegacyContext<TData> {
    this.ctx$ ??= { ...this.base, calls: this };
    return this.ctx$;
  }

  /** The legacy writer, writing with this call's Redis calls. */
  get writer(): LegacyWriter<TData> {
    this.writer$ ??= new LegacyWriter(this.ctx);
    return this.writer$;
  }

  command(name: string, args: Arg[], step: string, isWrite = false): Promise<unknown> {
    const operation = `${this.operation} (${step})`;
    return this.send(isWrite, () => this.base.caller.command(name, args, operation, { isWrite }));
  }

  script(
    def: ScriptDefinition,
    step: string,
    isWrite: boolean,
    keys: string[],
    args: Arg[],
  ): Promise<unknown> {
    const operation = `${this.operation} (${step})`;
    return this.send(isWrite, () => this.base.caller.script(def, operation, isWrite, keys, args));
  }

  /** A call of the store proper (which uses the same caller), held to this call's deadline. */
  inner<T>(call: () => Promise<T>, isWrite: boolean): Promise<T> {
    return this.send(isWrite, call);
  }

  /** What the whole call reports for `error` (see the class doc). */
  failure(error: unknown): unknown {
    if (this.deadline === undefined || !isActiveRunsError(error)) return error;
    let what: string;
    if (error.code === 'TIMEOUT') what = 'Redis did not answer a step of it in time';
    else if (error.code === 'REDIS_UNAVAILABLE' && this.applied) {
      what = 'a step of it was applied, a later one could not be sent';
    } else return error;
    return new ActiveRunsError(
      'TIMEOUT',
      `${this.operation}: ${what} (${error.message}); the write may or may not have been applied, to the new layout or to the legacy one. Retry it (enqueue, start, progress and end are safe to repeat, and a retry brings both layouts in step), or read the run back (get).`,
      { cause: error },
    );
  }

  private send<T>(isWrite: boolean, begin: () => Promise<T>): Promise<T> {
    if (this.base.gate.stopped) return Promise.reject(closedError(this.operation));
    const { deadline } = this;
    const sent = deadline === undefined ? begin() : this.base.caller.bounded(deadline, begin);
    if (!isWrite) return sent;
    return sent.then(
      (value) => {
        this.applied = true;
        return value;
      },
      (error: unknown) => {
        if (isActiveRunsError(error, 'TIMEOUT')) this.applied = true;
        throw error;
      },
    );
  }
}
