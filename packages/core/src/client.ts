/** The ioredis clients of the store: checking the app's, creating and closing its own. */
import { Redis } from 'ioredis';
import { ActiveRunsError } from './errors.js';
import type { ActiveRunsLogger } from './logger.js';
import type { RedisLike } from './schemas.js';
import { settledWithin } from './wait.js';

/** Refuses clients the scripts cannot work with, saying why. */
export function checkClient(client: RedisLike): void {
  const options = client.options as {
    keyPrefix?: string;
    commandTimeout?: number;
    redisOptions?: { keyPrefix?: string; commandTimeout?: number };
  };
  const own = client.isCluster ? (options.redisOptions ?? {}) : options;
  const keyPrefix = options.keyPrefix || own.keyPrefix;
  if (keyPrefix) {
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      `the ioredis client has keyPrefix "${keyPrefix}": Lua scripts never see it, so keys would be wrong. Remove keyPrefix and pass it as the store's prefix option instead.`,
      { details: { field: 'options.redis' } },
    );
  }
  if (!own.commandTimeout) {
    throw new ActiveRunsError(
      'INVALID_ARGUMENT',
      `the ioredis client has no commandTimeout, so a call could hang forever. Create it with { commandTimeout: 5000 }${client.isCluster ? ' in redisOptions' : ''}, or pass a URL and let the store create it.`,
      { details: { field: 'options.redis' } },
    );
  }
}

/** The client the store creates from a URL (and closes). */
export function createClient(
  url: string,
  commandTimeoutMs: number,
  logger: ActiveRunsLogger | undefined,
): RedisLike {
  const client = new Redis(url, { commandTimeout: commandTimeoutMs });
  // without a listener ioredis prints every failed reconnect as an unhandled error
  client.on('error', (error: Error) => {
    logger?.warn?.({ err: error }, 'active-runs: Redis connection error');
  });
  return client as unknown as RedisLike;
}

/**
 * Closes a client the store (or its event hub) owns, within `ms`: QUIT if it is connected and
 * Redis answers in time, else (and in any case after) drop its connections, so the process can
 * exit whatever Redis does. QUIT is not sent to a client that is down: ioredis would queue it and
 * keep reconnecting.
 */
export async function closeClient(client: RedisLike, ms: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    let quitted = false;
    await settledWithin(
      client.quit().then(() => {
        quitted = true;
      }),
      ms,
    );
    if (quitted) return;
  }
  client.disconnect();
  // ioredis ends each socket gracefully (FIN) and waits for the server's side to close; a
  // stalled server (SIGSTOP, a frozen VM) never closes it, and a half-closed socket keeps the
  // process alive. Destroy them (ioredis internals: `stream` of a client, `nodes()` of a Cluster).
  const nodes = (client as unknown as { nodes?: (role: 'all') => unknown[] }).nodes;
  const connections =
    client.isCluster && typeof nodes === 'function' ? nodes.call(client, 'all') : [client];
  for (const connection of connections) {
    const stream = (connection as { stream?: { destroyed?: boolean; destroy?: () => void } })
      .stream;
    if (stream && !stream.destroyed) stream.destroy?.();
  }
}
