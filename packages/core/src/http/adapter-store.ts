/**
 * The store of an adapter: created from the adapter's options, checked against Redis before
 * the app starts (an app that cannot reach Redis should fail to start with a message that says
 * so, not serve 503s until someone looks), with the sweeper started when asked.
 * @module
 */
import { ActiveRunsError, fromRedisError } from '../errors.js';
import { createActiveRunStore } from '../store.js';
import type { ActiveRunStore } from '../store-types.js';
import type { ActiveRunsAdapterOptions, ResolvedRoutesOptions } from './options.js';
import { splitAdapterOptions } from './options.js';

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

/** What {@link startAdapterStore} gives an adapter. */
export interface AdapterStore<TData, TRequest> {
  /** The store, reachable; the adapter closes it when the app closes. */
  store: ActiveRunStore<TData>;
  /** The checked `routes` option, or `undefined` when the app serves no routes. */
  routes: ResolvedRoutesOptions<TRequest> | undefined;
}

/**
 * Checks an adapter's options, creates its store, waits for Redis (closing the store again if
 * Redis is unreachable) and starts the sweeper when `sweeper.intervalMs` is set.
 * @throws ActiveRunsError `INVALID_ARGUMENT` for bad options, `REDIS_UNAVAILABLE` / `TIMEOUT`
 *   when Redis does not answer.
 */
export async function startAdapterStore<TData, TRequest>(
  options: ActiveRunsAdapterOptions<TData, TRequest>,
): Promise<AdapterStore<TData, TRequest>> {
  const { store: storeOptions, sweeperIntervalMs, routes } = splitAdapterOptions(options);
  const store = createActiveRunStore(storeOptions);
  try {
    await waitForRedis(store as ActiveRunStore<unknown>);
  } catch (error) {
    await store.close();
    throw error;
  }
  if (sweeperIntervalMs !== undefined) store.startSweeper({ intervalMs: sweeperIntervalMs });
  return { store, routes };
}
