#!/usr/bin/env node
// The example's traffic simulator as a process: `node dist/simulator.js --help`.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createActiveRunStore, waitForRedis } from '@active-runs/core';
import { Command } from 'commander';
import { integer, stopOnSignals } from './cli.js';
import { PROMETHEUS_CONTENT_TYPE, scrapeMetrics, setUpMetrics } from './metrics.js';
import { type RunData, runData } from './run-data.js';
import { PREFIX_ENV, type ReadyMessage } from './server-process.js';
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
  .option(
    '--metrics-port <port>',
    "serve this process's /metrics (Prometheus) on 127.0.0.1:<port> (0: any free port)",
    integer(0, 65_535),
  )
  .parse()
  .opts<SimulatorFlags & { redis: string; prefix: string; metricsPort?: number }>();

const log = (line: string) => console.log(line);
// the simulator's store calls (its enqueues, starts, progress, ends) are counted in this process:
// like the servers, it sets the OpenTelemetry SDK up before its store and serves its own scrape
if (options.metricsPort !== undefined) setUpMetrics();
const store = createActiveRunStore<RunData>({
  redis: options.redis,
  prefix: options.prefix,
  dataSchema: runData,
});
const seeding = new AbortController();
let traffic: ReturnType<typeof startTraffic> | undefined;
let seeded: Promise<unknown> = Promise.resolve();
const metricsServer =
  options.metricsPort === undefined
    ? undefined
    : createServer((request, response) => {
        if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
          response.writeHead(404).end();
          return;
        }
        void scrapeMetrics().then((text) => {
          response.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(text);
        });
      });
const stop = stopOnSignals(async () => {
  seeding.abort();
  metricsServer?.closeAllConnections();
  await Promise.allSettled([
    seeded,
    traffic?.stop(),
    new Promise((resolve) =>
      metricsServer?.listening ? metricsServer.close(resolve) : resolve(0),
    ),
  ]);
  await store.close();
});

try {
  await waitForRedis(store);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  await store.close();
  process.exit(1);
}

if (metricsServer && !stop.stopping) {
  await new Promise<void>((resolve, reject) => {
    metricsServer.once('error', reject);
    metricsServer.listen(options.metricsPort, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}`;
  log(`metrics on ${url}/metrics`);
  const ready: ReadyMessage = { type: 'ready', name: 'simulator', url };
  process.send?.(ready);
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
