import type { ActiveRunStore, Scope } from '@active-runs/core';
import { createActiveRunStore } from '@active-runs/core';
import type { BullHarness } from './contenders/bullmq.js';
import { createBullHarness } from './contenders/bullmq.js';
import { BENCH_SCOPE } from './data.js';
import type { LegacyKeys } from './seed.js';
import { forEachBatch, legacyKeys, seedLegacy, seedStore } from './seed.js';
import type { BenchServer } from './server.js';

/** Key prefix of the store the read, write and lifecycle sections measure. */
export const WORLD_PREFIX = 'bench';

/**
 * One project's active runs held three ways at once (the legacy hash with the prototype's index,
 * the store, BullMQ active jobs), grown size by size so each size is seeded once.
 */
export interface World {
  readonly server: BenchServer;
  readonly store: ActiveRunStore;
  readonly scope: Scope;
  readonly legacy: LegacyKeys;
  readonly bull: BullHarness;
  /** Run times are spread before this instant (see makeRun). */
  readonly nowMs: number;
  /** Runs held in each layout. */
  readonly size: number;
  /** Seeds runs up to `size` in every layout. */
  grow(size: number, log: (message: string) => void): Promise<void>;
  close(): Promise<void>;
}

export async function createWorld(server: BenchServer): Promise<World> {
  const store = createActiveRunStore({ redis: server.client, prefix: WORLD_PREFIX });
  const bull = await createBullHarness(server.connection, 'bench-runs');
  const legacy = legacyKeys(BENCH_SCOPE.workspaceId, BENCH_SCOPE.projectId);
  const nowMs = Date.now();
  let size = 0;
  return {
    server,
    store,
    scope: BENCH_SCOPE,
    legacy,
    bull,
    nowMs,
    get size() {
      return size;
    },
    async grow(to, log) {
      if (to <= size) return;
      const spent = { store: 0, legacy: 0, bullmq: 0 };
      const timed = async (layout: keyof typeof spent, seed: () => Promise<void>) => {
        const t0 = performance.now();
        await seed();
        spent[layout] += (performance.now() - t0) / 1_000;
      };
      await forEachBatch(size, to, 'large', nowMs, async (runs) => {
        await timed('store', () => seedStore(store, BENCH_SCOPE, runs));
        await timed('legacy', () => seedLegacy(server.client, legacy, runs, true));
        await timed('bullmq', () => bull.seedActive(runs));
      });
      const took = (layout: keyof typeof spent) => `${layout} ${spent[layout].toFixed(1)} s`;
      log(`seeded ${size} -> ${to} runs: ${took('store')}, ${took('legacy')}, ${took('bullmq')}`);
      size = to;
    },
    async close() {
      await bull.close();
      await store.close();
    },
  };
}
