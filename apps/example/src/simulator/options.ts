import { HOUR_MS } from '@active-runs/core';
import type { Command } from 'commander';
import { decimal, integer } from '../cli.js';
import { SEED_SCOPE } from '../tenants.js';

/** The simulator's flags, which `npm start` takes too and hands over. */
export interface SimulatorFlags {
  rate: number;
  queueSeconds: number;
  runSeconds: number;
  die: number;
  leaseMs: number;
  maxActive: number;
  seed: number;
}

const FLAGS: Record<keyof SimulatorFlags, string> = {
  rate: '--rate',
  queueSeconds: '--queue-seconds',
  runSeconds: '--run-seconds',
  die: '--die',
  leaseMs: '--lease-ms',
  maxActive: '--max-active',
  seed: '--seed',
};

/** Adds the simulator's flags to a command. */
export function addSimulatorOptions(command: Command): Command {
  const seedScope = `${SEED_SCOPE.workspaceId}/${SEED_SCOPE.projectId}`;
  return command
    .option(`${FLAGS.rate} <runs>`, 'new runs per second in each project', decimal(0, 1000), 2)
    .option(`${FLAGS.queueSeconds} <s>`, 'mean wait in the queue', decimal(0, 3600), 2)
    .option(`${FLAGS.runSeconds} <s>`, 'mean run time once started', decimal(0.1, 3600), 15)
    .option(`${FLAGS.die} <ratio>`, 'share of runs whose worker dies', decimal(0, 1), 0.03)
    .option(
      `${FLAGS.leaseMs} <ms>`,
      'lease of a run: a dead worker is noticed after it',
      integer(500, HOUR_MS),
      15_000,
    )
    .option(
      `${FLAGS.maxActive} <n>`,
      'at most <n> active runs per project',
      integer(1, 1_000_000),
      200,
    )
    .option(
      `${FLAGS.seed} <n>`,
      `load <n> runs into ${seedScope} at start (e.g. 100000)`,
      integer(0, 10_000_000),
      0,
    );
}

/** The flags as arguments of the simulator's command line. */
export function simulatorArgs(flags: SimulatorFlags): string[] {
  return Object.entries(FLAGS).flatMap(([key, flag]) => [
    flag,
    String(flags[key as keyof SimulatorFlags]),
  ]);
}
