import { Command, InvalidArgumentError } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { registerInspect } from './commands/inspect.js';
import { registerList } from './commands/list.js';
import { registerMigrate } from './commands/migrate.js';
import { registerStats } from './commands/stats.js';
import { registerSweep } from './commands/sweep.js';
import { registerWatch } from './commands/watch.js';
import type { GlobalOptions } from './connection.js';
import { DEFAULT_REDIS_URL } from './connection.js';
import { describeFailure, EXIT } from './errors.js';
import type { CliIO } from './output.js';
import { processIO } from './output.js';

/** A commander option parser for an integer in [min, max]; anything else is a usage error. */
export function integer(flag: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

/** What every command needs: where to write, and the global options. */
export interface CommandContext {
  io: CliIO;
  globals(command: Command): GlobalOptions;
}

/** The `active-runs` program, writing to `io`. Commands throw; {@link runCli} turns that into an exit code. */
export function createProgram(io: CliIO = processIO): Command {
  const program = new Command('active-runs')
    .description(
      'Inspect and operate active runs kept in Redis by @active-runs/core, and migrate from a hash per project.',
    )
    .version(pkg.version)
    .option('--redis-url <url>', `Redis URL (default: $REDIS_URL, else ${DEFAULT_REDIS_URL})`)
    .option(
      '--cluster <nodes>',
      'Redis Cluster seed nodes, host:port[,host:port...] (instead of --redis-url)',
    )
    .option('--prefix <prefix>', "the store's key prefix", 'active-runs')
    .option(
      '--timeout-ms <ms>',
      'Redis command timeout',
      integer('--timeout-ms', 1, 600_000),
      5_000,
    )
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      '\nExit codes: 0 success, 1 failure (Redis unreachable, run not found, failed migration), 2 bad usage.',
    );
  const ctx: CommandContext = {
    io,
    globals: (command) => command.optsWithGlobals() as GlobalOptions,
  };
  registerMigrate(program, ctx);
  registerStats(program, ctx);
  registerList(program, ctx);
  registerInspect(program, ctx);
  registerSweep(program, ctx);
  registerWatch(program, ctx);
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, args...) and returns its exit code:
 * 0 success, 1 failure, 2 bad usage. Failures are printed as one line on stderr.
 */
export async function runCli(argv: string[], io: CliIO = processIO): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync(argv, { from: 'node' });
    return EXIT.ok;
  } catch (error) {
    const { exitCode, line } = describeFailure(error);
    if (line) io.err(`error: ${line}\n`);
    return exitCode;
  }
}
