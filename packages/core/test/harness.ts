import { connect, deletePrefix, uniquePrefix } from '@active-runs/test-utils';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, inject } from 'vitest';
import type { ActiveRunStore, ActiveRunStoreOptions } from '../src/index.js';
import { createActiveRunStore } from '../src/index.js';

/**
 * Per-file test harness: one client on the run's Redis, a fresh prefix per store, and clean-up of
 * every key the test wrote (never FLUSHALL: the Redis may be shared).
 */
export function useStoreHarness() {
  const url = inject('redisUrl');
  const client: Redis = connect(url);
  const prefixes: string[] = [];
  const stores: ActiveRunStore<unknown>[] = [];

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const prefix of prefixes.splice(0)) await deletePrefix(client, prefix);
  });
  afterAll(async () => {
    await client.quit();
  });

  return {
    url,
    client,
    /** A store on its own fresh prefix. */
    store<TData = unknown>(
      options: Partial<ActiveRunStoreOptions<TData>> = {},
    ): ActiveRunStore<TData> {
      const prefix = options.prefix ?? uniquePrefix();
      prefixes.push(prefix);
      const store = createActiveRunStore<TData>({ redis: client, ...options, prefix });
      stores.push(store as ActiveRunStore<unknown>);
      return store;
    },
    /** Registers a prefix for clean-up. */
    track(prefix: string): string {
      prefixes.push(prefix);
      return prefix;
    },
  };
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
