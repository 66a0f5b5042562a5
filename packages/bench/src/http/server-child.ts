/**
 * The HTTP bench's server, in its own node process: one framework's app serving the adapter's
 * routes over the bench world's store, the framework's floor and the legacy handler. The bench
 * process runs the load (autocannon, SSE viewers); on a 2-core machine a server sharing its
 * process would share its one thread with the load generator and measure both.
 *
 * argv[2]: ServerChildOptions as JSON. It sends `ready` with its port, then stops on any message.
 * @module
 */
import { Redis } from 'ioredis';
import type { FloorPage, ServerChildMessage, ServerChildOptions } from './app-setup.js';
import { ADAPTER_PREFIX, LIST_QUERY, SERVER_CONNECTION_NAME, scopeHeaders } from './app-setup.js';
import { startFastifyApp } from './fastify-app.js';
import { startNestApp } from './nestjs-app.js';

function send(message: ServerChildMessage): void {
  process.send?.(message);
}

/** As an app would set it: a call fails instead of hanging (the store refuses a client without). */
const COMMAND_TIMEOUT_MS = 5_000;

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as ServerChildOptions;
  const redis = new Redis(options.redisUrl, {
    connectionName: SERVER_CONNECTION_NAME,
    commandTimeout: COMMAND_TIMEOUT_MS,
  });
  const floor: FloorPage = { body: '', contentType: '', page: null };
  const start = options.framework === 'fastify' ? startFastifyApp : startNestApp;
  const app = await start(options, redis, floor);
  // the floor is the adapter's own answer for the same page: the same bytes and content type
  const response = await fetch(
    `http://127.0.0.1:${app.port}${ADAPTER_PREFIX}/runs/active${LIST_QUERY}`,
    { headers: scopeHeaders(options.floorScope) },
  );
  if (!response.ok) throw new Error(`the adapter's list answered ${response.status}`);
  floor.body = await response.text();
  floor.contentType = response.headers.get('content-type') ?? '';
  floor.page = JSON.parse(floor.body);
  send({
    type: 'ready',
    port: app.port,
    floorBytes: Buffer.byteLength(floor.body),
    contentType: floor.contentType,
  });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  await app.close();
  await redis.quit();
  // exits normally, so --cpu-prof writes its profile
  process.exit(0);
}

main().catch((error: unknown) => {
  send({
    type: 'error',
    message: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
  process.exit(1);
});
