#!/usr/bin/env node
// The example's traffic simulator as a process: `node dist/simulator.js --help`.
import { createActiveRunStore, waitForRedis } from '@active-runs/core';
import { Command } from 'commander';
import { stopOnSignals } from './cli.js';
import { type RunData, runData } from './run-data.js';
import { PREFIX_ENV } from './server-process.js';
import { addSimulatorOptions, type SimulatorFlags } from './simulator/options.js';
import { seedRuns } from './simulator/seed.js';
import { startTraffic } from './simulator/traffic.js';
import { SEED_SCOPE, simulatedScopes } from './tenants.js';

const options = addSimulatorOptions(
  new Command('simulator').description(
    'Drives runs into the demo projects: enqueued, started, progressing, ending; some workers die.',
  ),
)
  .option('--redis <url>', 'Redis URL', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  .option(
    '--prefix <prefix>',
    `key prefix (env ${PREFIX_ENV})`,
    process.env[PREFIX_ENV] ?? 'example',
  )
  .parse()
  .opts<SimulatorFlags & { redis: string; prefix: string }>();

const log = (line: string) => console.log(line);
const store = createActiveRunStore<RunData>({
  redis: options.redis,
  prefix: options.prefix,
  dataSchema: runData,
});
const seeding = new AbortController();
let traffic: ReturnType<typeof startTraffic> | undefined;
let seeded: Promise<unknown> = Promise.resolve();
const stop = stopOnSignals(async () => {
  seeding.abort();
  await Promise.allSettled([seeded, traffic?.stop()]);
  await store.close();
});

try {
  await waitForRedis(store);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  await store.close();
  process.exit(1);
}

const scopes = simulatedScopes();
if (options.rate > 0 && !stop.stopping) {
  traffic = startTraffic({
    store,
    scopes,
    ratePerSecond: options.rate,
    queueSeconds: options.queueSeconds,
    runSeconds: options.runSeconds,
    dieRatio: options.die,
    leaseMs: options.leaseMs,
    maxActive: options.maxActive,
    log,
  });
  const names = scopes.map((scope) => `${scope.workspaceId}/${scope.projectId}`).join(', ');
  log(`${options.rate} new runs per second in each of ${names}`);
}
if (options.seed > 0 && !stop.stopping) {
  seeded = seedRuns({ store, scope: SEED_SCOPE, count: options.seed, log, signal: seeding.signal })
    .then(({ seeded: count, ms }) =>
      log(`seeded ${count.toLocaleString('en-US')} runs in ${(ms / 1000).toFixed(1)} s`),
    )
    .catch((error: unknown) =>
      log(`seeding failed: ${error instanceof Error ? error.message : String(error)}`),
    );
}
