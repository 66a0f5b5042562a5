/**
 * What the example's commands share: argument parsers for commander, and the stop of a
 * process on SIGINT, SIGTERM, or when the start command that forked it is gone.
 * @module
 */
import { InvalidArgumentError } from 'commander';

/** A commander parser of an integer within `[min, max]`. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    }
    return parsed;
  };
}

/** A commander parser of a number within `[min, max]`. */
export function decimal(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected a number from ${min} to ${max}.`);
    }
    return parsed;
  };
}

/** How long a stopping process may take before it exits anyway. */
const STOP_DEADLINE_MS = 15_000;

/**
 * Calls `stop` once on SIGINT or SIGTERM (Ctrl-C reaches every process of the terminal's
 * group, and the start command forwards it too) or when the parent's IPC channel closes (the
 * start command is gone, however it ended): a child never outlives the start command. Then
 * lets the process exit, or ends it after 15 s if something still holds it.
 */
export function stopOnSignals(stop: () => Promise<void>): { readonly stopping: boolean } {
  let stopping = false;
  const onStop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      console.error(`still running ${STOP_DEADLINE_MS / 1000} s after the stop signal: exiting`);
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    stop()
      .catch((error: unknown) => {
        console.error(`stop failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exitCode = 1;
      })
      .finally(() => {
        if (process.connected) process.disconnect();
      });
  };
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  process.on('disconnect', onStop);
  return {
    get stopping() {
      return stopping;
    },
  };
}
