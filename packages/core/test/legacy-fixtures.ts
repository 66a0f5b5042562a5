import type { Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';
import type { ActiveRun, ActiveRunStore, RunCounts, Scope } from '../src/index.js';
import { scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import type { LegacyContext } from '../src/legacy/context.js';
import { legacyContext } from '../src/legacy/context.js';
import type { MappedRecord } from '../src/legacy/record.js';
import { storeCaller } from '../src/store.js';
import { modelCounts } from './list-model.js';

/** A legacy context on a store's client and prefix, with the store's defaults. */
export function contextFor(
  store: ActiveRunStore,
  options: { windowMs?: number; keyPrefix?: string; leaseMs?: number } = {},
): LegacyContext {
  const caller = storeCaller(store);
  if (!caller) throw new Error('not a store');
  return legacyContext({
    redis: store.redis,
    caller,
    prefix: store.prefix,
    leaseMs: options.leaseMs ?? 10_800_000,
    publishEvents: true,
    maxCaptionLength: 500,
    maxDataBytes: 16_384,
    legacy: { keyPrefix: options.keyPrefix ?? '', windowMs: options.windowMs ?? 10_800_000 },
  });
}

/** A mapped record as the backfill hands it to the import script. */
export function record(
  id: string,
  run: Partial<Omit<ActiveRun, 'id' | 'status'>> & { queuedAt: number; leaseExpiresAt: number },
): MappedRecord {
  const startedAt = run.startedAt ?? null;
  const full: ActiveRun = {
    id,
    status: startedAt === null ? 'queued' : 'running',
    queuedAt: run.queuedAt,
    startedAt,
    source: run.source ?? null,
    caption: run.caption ?? null,
    data: run.data ?? null,
    leaseExpiresAt: run.leaseExpiresAt,
  };
  return {
    run: full,
    score: startedAt === null ? run.queuedAt : 2 ** 44 + startedAt,
    captionJson: full.caption === null ? '' : JSON.stringify(full.caption),
    dataJson: full.data === null ? '' : JSON.stringify(full.data),
  };
}

/** Every run of a scope through `list` (cursor pages of 500). */
export async function listAll(store: ActiveRunStore, scope: Scope): Promise<ActiveRun[]> {
  const out: ActiveRun[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list(scope, { limit: 500, cursor });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/**
 * The store's invariants for a scope, against the runs it must hold: `HLEN runs == ZCARD idx ==
 * ZCARD lease`, the by-source index holds the runs with a source, `counts` equals a recount of
 * `list`, the registry bound is at most the earliest deadline, every key outlives the latest one.
 */
export async function expectConsistent(
  client: Redis | Cluster,
  store: ActiveRunStore,
  scope: Scope,
  runs: ActiveRun[],
): Promise<void> {
  const keys = scopeKeys(store.prefix, parseScope(scope));
  const [hlen, idx, lease, src, counts, lb, registry] = await Promise.all([
    client.hlen(keys.runs),
    client.zcard(keys.index),
    client.zcard(keys.lease),
    client.zcard(keys.bySource),
    store.counts(scope),
    client.hget(keys.meta, 'lb'),
    client.zscore(keys.registry, keys.tag),
  ]);
  const withSource = runs.filter((run) => run.source !== null).length;
  expect({ hlen, idx, lease, src }).toEqual({
    hlen: runs.length,
    idx: runs.length,
    lease: runs.length,
    src: withSource,
  });
  const byId = new Map(runs.map((run) => [run.id, run]));
  expect(counts).toEqual(modelCounts(byId) satisfies RunCounts);
  if (runs.length === 0) return;
  const earliest = Math.min(...runs.map((run) => run.leaseExpiresAt));
  const latest = Math.max(...runs.map((run) => run.leaseExpiresAt));
  expect(Number(lb)).toBeLessThanOrEqual(earliest);
  expect(Number(registry)).toBeLessThanOrEqual(earliest);
  for (const key of [
    keys.runs,
    keys.index,
    keys.lease,
    keys.meta,
    ...(withSource ? [keys.bySource] : []),
  ]) {
    expect(await client.pexpiretime(key), `expiry of ${key}`).toBeGreaterThanOrEqual(latest);
  }
}
