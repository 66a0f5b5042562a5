/**
 * One server as a process of `npm start` (or on its own): settings from flags and the
 * environment, a `ready` message with its URL to the start command, and a clean stop.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import type { ServerName } from './app-routes.js';
import { integer, stopOnSignals } from './cli.js';
import type { RunningServer, ServerConfig } from './server-config.js';

/** What a server process tells the start command once it listens. */
export interface ReadyMessage {
  type: 'ready';
  /** The server's name, or `simulator` for the simulator's `/metrics`. */
  name: ServerName | 'simulator';
  url: string;
}

/** Environment variable of the secret that signs the demo login (shared by both servers). */
export const SECRET_ENV = 'ACTIVE_RUNS_EXAMPLE_SECRET';
/** Environment variable of the key prefix (shared by the servers and the simulator). */
export const PREFIX_ENV = 'ACTIVE_RUNS_EXAMPLE_PREFIX';

/** Runs a server until SIGINT, SIGTERM, or the end of the start command. */
export async function runServerProcess(
  name: ServerName,
  defaultPort: number,
  start: (config: ServerConfig) => Promise<RunningServer>,
): Promise<void> {
  const options = new Command(`${name}-server`)
    .description(`The example's ${name} server: the dashboard and the active-runs API.`)
    .option(
      '--port <port>',
      'port on 127.0.0.1 (0: any free port)',
      integer(0, 65_535),
      defaultPort,
    )
    .option('--any-port-if-busy', 'listen on a free port when --port is taken', false)
    .option('--redis <url>', 'Redis URL', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
    .option(
      '--prefix <prefix>',
      `key prefix (env ${PREFIX_ENV})`,
      process.env[PREFIX_ENV] ?? 'example',
    )
    .option('--sweep-interval-ms <ms>', 'one sweep every <ms>', integer(10, 60_000), 2_000)
    .parse()
    .opts<{
      port: number;
      anyPortIfBusy: boolean;
      redis: string;
      prefix: string;
      sweepIntervalMs: number;
    }>();

  let secret = process.env[SECRET_ENV];
  if (!secret) {
    secret = randomBytes(32).toString('hex');
    console.log(`${SECRET_ENV} is not set: a login here is not valid on the other server`);
  }

  let server: RunningServer | undefined;
  const stop = stopOnSignals(async () => {
    await server?.close();
  });
  try {
    server = await start({
      ...options,
      sessionSecret: secret,
      log: (line) => console.log(line),
    });
  } catch (error) {
    console.error(`could not start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  // a stop signal that came while starting found no server to close
  if (stop.stopping) return server.close();
  console.log(`listening on ${server.url}`);
  const ready: ReadyMessage = { type: 'ready', name, url: server.url };
  process.send?.(ready);
}
