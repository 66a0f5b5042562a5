/**
 * `--seed N`: loads N runs into one project at once, so the dashboard shows that a page costs
 * the same with 100,000 runs as with 10. Writes go through the store like any other, a batch of
 * enqueues in flight at a time (ioredis pipelines them on its one connection).
 * @module
 */
import { randomUUID } from 'node:crypto';
import { type ActiveRunStore, HOUR_MS, type Scope } from '@active-runs/core';
import type { RunData } from '../run-data.js';

/** Options of {@link seedRuns}. */
export interface SeedOptions {
  store: ActiveRunStore<RunData>;
  scope: Scope;
  count: number;
  /** Reports progress every tenth. */
  log(line: string): void;
  /** Enqueues in flight at a time. @default 1000 */
  batchSize?: number;
  /** Stops between batches. */
  signal?: AbortSignal;
}

const SOURCES = ['api', 'playground', 'evaluation', 'batch'];
/** One run in ten is running, so the first pages show running runs above queued ones. */
const RUNNING_EVERY = 10;
/** Queue times a few ms apart, the newest a moment ago. */
const SPACING_MS = 7;

/**
 * Enqueues `count` runs (one in ten also started) with a lease of an hour: seed data stays
 * while the demo runs, and the start command deletes it on Ctrl-C.
 * @returns how many runs were written and how long it took
 */
export async function seedRuns(options: SeedOptions): Promise<{ seeded: number; ms: number }> {
  const { store, scope, count, log } = options;
  const batchSize = options.batchSize ?? 1000;
  const started = performance.now();
  const newest = Date.now() - 1000;
  const where = `${scope.workspaceId}/${scope.projectId}`;
  let seeded = 0;
  let reported = 0;
  while (seeded < count && !options.signal?.aborted) {
    const batch = Array.from({ length: Math.min(batchSize, count - seeded) }, (_, i) => seeded + i);
    await Promise.all(
      batch.map(async (n) => {
        const id = randomUUID();
        const queuedAt = newest - (count - n) * SPACING_MS;
        await store.enqueue(scope, {
          id,
          queuedAt,
          source: SOURCES[n % SOURCES.length]!,
          caption: `seeded run #${n + 1}`,
          data: { model: 'gpt-4o', tokens: 0 },
          leaseMs: HOUR_MS,
          // a run that starts at once is one call: enqueue with `start`
          ...(n % RUNNING_EVERY === 0 ? { start: { startedAt: queuedAt + SPACING_MS } } : {}),
        });
      }),
    );
    seeded += batch.length;
    if (seeded - reported >= count / 10 || seeded === count) {
      reported = seeded;
      log(
        `seeded ${seeded.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} runs into ${where}`,
      );
    }
  }
  return { seeded, ms: performance.now() - started };
}
