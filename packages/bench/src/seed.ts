import type { ActiveRunStore, Scope } from '@active-runs/core';
import type { Redis } from 'ioredis';
import type { BenchRun, PayloadVariant } from './data.js';
import { legacyJson, makeRun } from './data.js';

/** Calls in flight while seeding: enough to keep Redis busy, few enough to stay small in memory. */
export const SEED_BATCH = 1_000;

/** Runs `from` (inclusive) to `to` (exclusive), generated in batches so 1M runs never sit in memory at once. */
export async function forEachBatch(
  from: number,
  to: number,
  variant: PayloadVariant,
  nowMs: number,
  visit: (runs: BenchRun[]) => Promise<void>,
): Promise<void> {
  for (let start = from; start < to; start += SEED_BATCH) {
    const runs: BenchRun[] = [];
    for (let i = start; i < Math.min(to, start + SEED_BATCH); i++)
      runs.push(makeRun(i, variant, nowMs));
    await visit(runs);
  }
}

/**
 * Adds runs through the store's public API (enqueue, then start for running ones), a batch of
 * concurrent calls at a time: ioredis writes them back to back, so they travel pipelined. Seeding
 * this way keeps the bench measuring the store's real layout as the core changes.
 */
export async function seedStore(
  store: ActiveRunStore,
  scope: Scope,
  runs: readonly BenchRun[],
  leaseMs?: number,
): Promise<void> {
  await Promise.all(
    runs.map((run) =>
      store.enqueue(scope, {
        id: run.id,
        queuedAt: run.queuedAt,
        source: run.source,
        caption: run.caption,
        data: run.data,
        ...(leaseMs === undefined ? {} : { leaseMs }),
      }),
    ),
  );
  await Promise.all(
    runs
      .filter((run) => run.startedAt !== null)
      .map((run) =>
        store.start(scope, run.id, {
          startedAt: run.startedAt!,
          ...(leaseMs === undefined ? {} : { leaseMs }),
        }),
      ),
  );
}

/** Where the legacy layout keeps a project's runs, and the sorted-set index of the guide's prototype. */
export interface LegacyKeys {
  /** HASH runUuid -> JSON: the layout the library replaces. */
  readonly hash: string;
  /** ZSET runUuid by (status, time): the guide's sorted-set prototype, next to the hash (contender D, E). */
  readonly index: string;
}

export function legacyKeys(workspaceId: string, projectId: string): LegacyKeys {
  return {
    hash: `runs:active:${workspaceId}:${projectId}`,
    index: `runs:active-index:${workspaceId}:${projectId}`,
  };
}

/** Running runs above queued ones, each by its time: a reverse range is the store's order. */
const PHASE = 2 ** 44;

/** The guide prototype's index score of a run. */
export function legacyIndexScore(run: BenchRun): number {
  return run.startedAt === null ? run.queuedAt : PHASE + run.startedAt;
}

/** Writes runs into the legacy hash (and, with `withIndex`, the prototype's index), pipelined. */
export async function seedLegacy(
  client: Redis,
  keys: LegacyKeys,
  runs: readonly BenchRun[],
  withIndex: boolean,
): Promise<void> {
  const pipeline = client.pipeline();
  const fields: string[] = [];
  const members: (string | number)[] = [];
  for (const run of runs) {
    fields.push(run.id, legacyJson(run));
    members.push(legacyIndexScore(run), run.id);
  }
  pipeline.hset(keys.hash, ...fields);
  if (withIndex) pipeline.zadd(keys.index, ...members);
  const results = (await pipeline.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
}
