/**
 * Start-up check of the adapters: an app that cannot reach Redis should fail to start with a
 * message that says so, not serve 503s until someone looks.
 * @module
 */
import { ActiveRunsError, fromRedisError } from '../errors.js';
import type { ActiveRunStore } from '../store.js';

/**
 * Resolves once the store's Redis answers a `PING`, bounded by the client's `commandTimeout`.
 * @throws ActiveRunsError `REDIS_UNAVAILABLE` (or `TIMEOUT`) saying Redis is unreachable.
 */
export async function waitForRedis(store: ActiveRunStore<unknown>): Promise<void> {
  try {
    await (store.redis as unknown as { ping(): Promise<unknown> }).ping();
  } catch (error) {
    const mapped = fromRedisError(error, 'start-up', false);
    throw new ActiveRunsError(
      mapped.code === 'TIMEOUT' ? 'TIMEOUT' : 'REDIS_UNAVAILABLE',
      `active-runs could not reach Redis at start-up (${error instanceof Error ? error.message : String(error)}). Check the redis option (URL or client) and that Redis is running.`,
      { cause: error },
    );
  }
}
