#!/usr/bin/env node
/**
 * `npm start` (after the bootstrap has installed and built): finds a Redis, starts the Fastify
 * server, the NestJS server and the simulator, prints where to look, and on Ctrl-C stops all of
 * them, deletes the demo's keys, and stops the Redis it started. `node dist/start.js --help`.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect, deletePrefix } from '@active-runs/test-utils';
import { Command } from 'commander';
import { integer } from './cli.js';
import type { ReadyMessage } from './server-process.js';
import { PREFIX_ENV, SECRET_ENV } from './server-process.js';
import { addSimulatorOptions, type SimulatorFlags, simulatorArgs } from './simulator/options.js';
import { type Child, startChild, stopChildren, tagged, whenReady } from './start/children.js';
import { type FoundRedis, findRedis, NoRedisError } from './start/find-redis.js';

const program = addSimulatorOptions(
  new Command('start').description(
    'Starts the example: a Redis if needed, the Fastify and NestJS servers, and the simulator.',
  ),
)
  .option('--fastify-port <port>', 'port of the Fastify server', integer(0, 65_535), 3000)
  .option('--nest-port <port>', 'port of the NestJS server', integer(0, 65_535), 3001)
  .option('--no-simulator', 'serve the dashboard and the API only, no traffic')
  .parse();
const options = program.opts<
  SimulatorFlags & { fastifyPort: number; nestPort: number; simulator: boolean }
>();

const SERVER_START_TIMEOUT_MS = 60_000;
const log = tagged('start', 'green');
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

const prefix = `example:${randomBytes(4).toString('hex')}`;
const children: Child[] = [];
const stopped = new AbortController();

/** A server's flags: its port, and a free one instead if a default port is taken. */
function portArgs(option: 'fastifyPort' | 'nestPort'): string[] {
  const byDefault = program.getOptionValueSource(option) === 'default';
  return ['--port', String(options[option]), ...(byDefault ? ['--any-port-if-busy'] : [])];
}

const found = findRedis({ log });

async function start(): Promise<void> {
  const redis = await found;
  if (stopped.signal.aborted) return;
  log(`Redis: ${redis.description}; the demo's keys are under ${prefix}`);

  const env = {
    ...process.env,
    REDIS_URL: redis.url,
    [PREFIX_ENV]: prefix,
    [SECRET_ENV]: process.env[SECRET_ENV] ?? randomBytes(32).toString('hex'),
  };
  const servers = [
    startChild({
      name: 'fastify',
      color: 'cyan',
      script: here('fastify-server.js'),
      args: portArgs('fastifyPort'),
      env,
    }),
    startChild({
      name: 'nestjs',
      color: 'magenta',
      script: here('nest-server.js'),
      args: portArgs('nestPort'),
      env,
    }),
  ];
  children.push(...servers);
  const ready = await Promise.all(
    servers.map((server) => whenReady(server, SERVER_START_TIMEOUT_MS)),
  );
  if (stopped.signal.aborted) return;

  let simulatorReady: ReadyMessage | undefined;
  if (options.simulator) {
    const simulator = startChild({
      name: 'simulator',
      color: 'yellow',
      script: here('simulator.js'),
      args: [...simulatorArgs(options), '--metrics-port', '0'],
      env,
    });
    children.push(simulator);
    simulatorReady = await whenReady(simulator, SERVER_START_TIMEOUT_MS);
    if (stopped.signal.aborted) return;
  }
  for (const child of children) {
    void child.exited.then((code) => {
      if (stopped.signal.aborted) return;
      log(`${child.name} exited (${code}): stopping the demo`);
      void stop(1);
    });
  }
  printBanner(simulatorReady ? [...ready, simulatorReady] : ready, redis);
}

function printBanner(ready: ReadyMessage[], found: FoundRedis): void {
  const url = (name: ReadyMessage['name']) => ready.find((server) => server.name === name)?.url;
  const simulator = url('simulator');
  const lines: [string, string][] = [
    ['Dashboard (Fastify plugin)', `${url('fastify')}/`],
    ['Dashboard (NestJS module)', `${url('nestjs')}/`],
    ['API (a signed-in browser)', `${url('fastify')}/api/runs/active`],
    ['Metrics (Prometheus)', `${url('fastify')}/metrics  ${url('nestjs')}/metrics`],
    ...(simulator
      ? ([['Metrics of the simulator', `${simulator}/metrics`]] as [string, string][])
      : []),
    ['Redis', found.description],
  ];
  const width = Math.max(...lines.map(([label]) => label.length));
  console.log(
    [
      '',
      'active-runs example: both servers serve the same dashboard and API, live from one Redis.',
      ...lines.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
      'Press Ctrl-C to stop everything.',
      '',
    ].join('\n'),
  );
}

let stopping: Promise<void> | undefined;

/** Stops everything this command started, then exits with `code`. */
function stop(code: number): Promise<void> {
  stopping ??= (async () => {
    stopped.abort();
    // a Redis being started is stopped too; servers still starting get their SIGTERM now
    const redis = await found.catch(() => undefined);
    log('stopping the servers and the simulator');
    const killed = await stopChildren(children);
    if (killed.length > 0) log(`killed (did not stop in time): ${killed.join(', ')}`);
    if (redis && !redis.owned) {
      const client = connect(redis.url);
      client.on('error', () => {});
      try {
        await deletePrefix(client, prefix);
        log(`deleted the demo's keys (${prefix}:*)`);
      } catch (error) {
        log(`could not delete the demo's keys (${prefix}:*): ${(error as Error).message}`);
      } finally {
        client.disconnect();
      }
    }
    if (redis?.owned) {
      await redis.stop();
      log('stopped the Redis it started');
    }
    log('stopped');
    process.exit(code);
  })();
  return stopping;
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

start().catch((error: unknown) => {
  if (stopped.signal.aborted) return; // a server that was stopped while starting
  if (error instanceof NoRedisError) {
    console.error(error.message);
    process.exit(1);
  }
  log(error instanceof Error ? error.message : String(error));
  void stop(1);
});
