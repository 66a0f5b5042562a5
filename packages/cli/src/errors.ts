import { isActiveRunsError } from '@active-runs/core';
import { CommanderError } from 'commander';

/** Exit codes: 0 success, 1 failure (Redis down, a run not found, a failed migration), 2 bad usage. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** An error the CLI reports as one line, with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A usage error (exit code 2). */
export function usage(message: string): CliError {
  return new CliError(message, EXIT.usage);
}

/**
 * The exit code for whatever a command threw, and the one line to print (null when commander
 * already printed it). Bad input the core refuses (`INVALID_ARGUMENT`) is bad usage.
 */
export function describeFailure(error: unknown): { exitCode: number; line: string | null } {
  if (error instanceof CommanderError) {
    // help and --version "fail" with exit code 0; commander printed the rest itself
    return { exitCode: error.exitCode === 0 ? EXIT.ok : EXIT.usage, line: null };
  }
  const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();
  if (error instanceof CliError) return { exitCode: error.exitCode, line: oneLine(error.message) };
  if (isActiveRunsError(error)) {
    const exitCode = error.code === 'INVALID_ARGUMENT' ? EXIT.usage : EXIT.failure;
    return { exitCode, line: oneLine(error.message) };
  }
  return {
    exitCode: EXIT.failure,
    line: oneLine(error instanceof Error ? error.message : String(error)),
  };
}
