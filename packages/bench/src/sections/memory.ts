import { createActiveRunStore } from '@active-runs/core';
import { createBullHarness } from '../contenders/bullmq.js';
import type { BenchRun, PayloadVariant } from '../data.js';
import { legacyJson } from '../data.js';
import { bytes, count, table, times } from '../report/markdown.js';
import { check } from '../report/targets.js';
import { forEachBatch, legacyKeys, seedLegacy, seedStore } from '../seed.js';
import type { BenchServer } from '../server.js';
import { deleteKeys, scanKeys, usedMemory } from '../server.js';
import type { BenchSection } from './section.js';

type Layout = 'hash' | 'store' | 'bullmq';

/**
 * MEMORY USAGE (every element) per run of each structure of the store, and of the same data laid
 * out as a change would lay it out, built from the store's own keys in the same run.
 */
export interface StoreStructures {
  runs: number;
  idx: number;
  src: number;
  lease: number;
  /** The runs hash with each 36-character UUID field as its 16 bytes. */
  runsBinaryIds: number;
  /** A copy of idx with 16-byte members: what each sorted-set entry would cost. */
  idxBinaryIds: number;
  /** The runs hash with times as base-36 deltas from queuedAt and the source as its rank. */
  runsCompactValues: number;
  /** Mean stored value length, and with the compact encoding above. */
  valueBytes: number;
  compactValueBytes: number;
}

/** BullMQ's structures per job: the job hash (with its key) and the lock key. */
export interface BullStructures {
  jobHash: number;
  jobHashEncoding: string;
  lock: number;
  fields: Record<string, number>;
}

export interface MemoryData {
  runs: number;
  variants: {
    variant: PayloadVariant;
    /** Mean length of a run's JSON in the legacy layout. */
    jsonBytes: number;
    /** used_memory added per run. */
    perRun: Record<Layout, number>;
    structures?: StoreStructures;
    bull?: BullStructures;
  }[];
}

const usage = async (server: BenchServer, key: string) =>
  Number((await server.admin.memory('USAGE', key, 'SAMPLES', '0')) ?? 0);

const binaryId = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex');

/** A value with its times as base-36 deltas from queuedAt and its source as a one-digit rank. */
function compactValue(value: string): string {
  const [q, s, d, source, ...rest] = value.split('\n');
  const queuedAt = Number(q);
  const delta = (t: string) => (t === '' ? '' : (Number(t) - queuedAt).toString(36));
  return [queuedAt.toString(36), delta(s!), delta(d!), source === '' ? '' : '1', ...rest].join(
    '\n',
  );
}

/** Copies `entries` into a scratch key with `write`, measures it, deletes it. */
async function scratchUsage(
  server: BenchServer,
  key: string,
  pairs: [string, string][],
  write: (key: string, batch: [string, string][]) => Promise<unknown>,
): Promise<number> {
  for (let i = 0; i < pairs.length; i += 1_000) await write(key, pairs.slice(i, i + 1_000));
  const bytes = await usage(server, key);
  await server.admin.del(key);
  return bytes;
}

/** The store's structures per run, and what shorter ids or compact values would save. */
async function storeStructures(
  server: BenchServer,
  prefix: string,
  runs: number,
): Promise<StoreStructures | undefined> {
  const keys = await scanKeys(server.admin, `${prefix}:{*`);
  const key = (suffix: string) => keys.find((k) => k.endsWith(`:${suffix}`));
  const [runsKey, idxKey, srcKey, leaseKey] = ['runs', 'idx', 'src', 'lease'].map(key);
  if (!runsKey || !idxKey || !srcKey || !leaseKey) return undefined;
  const values = Object.entries(await server.admin.hgetall(runsKey));
  const ids = await server.admin.zrange(idxKey, '0', '-1', 'WITHSCORES');
  if (values.some(([id]) => !/^[0-9a-f-]{36}$/.test(id))) return undefined;
  const scratch = `${prefix}-scratch`;
  const hset = (k: string, batch: [string, string][]) =>
    server.admin.hset(k, ...batch.flatMap(([f, v]) => [binaryId(f), v]));
  const perRun = (n: number) => n / runs;
  const zpairs: [string, string][] = [];
  for (let i = 0; i < ids.length; i += 2) zpairs.push([ids[i]!, ids[i + 1]!]);
  let valueBytes = 0;
  let compactBytes = 0;
  for (const [, v] of values) {
    valueBytes += v.length;
    compactBytes += compactValue(v).length;
  }
  return {
    runs: perRun(await usage(server, runsKey)),
    idx: perRun(await usage(server, idxKey)),
    src: perRun(await usage(server, srcKey)),
    lease: perRun(await usage(server, leaseKey)),
    runsBinaryIds: perRun(await scratchUsage(server, scratch, values, hset)),
    idxBinaryIds: perRun(
      await scratchUsage(server, scratch, zpairs, (k, batch) =>
        server.admin.zadd(k, ...batch.flatMap(([id, score]) => [score, binaryId(id)])),
      ),
    ),
    runsCompactValues: perRun(
      await scratchUsage(server, scratch, values, (k, batch) =>
        server.admin.hset(k, ...batch.flatMap(([f, v]) => [f, compactValue(v)])),
      ),
    ),
    valueBytes: valueBytes / values.length,
    compactValueBytes: compactBytes / values.length,
  };
}

/** BullMQ's job hash and lock per job, from a sample of jobs. */
async function bullStructures(server: BenchServer, queue: string): Promise<BullStructures> {
  const sample = 200;
  let jobHash = 0;
  let lock = 0;
  for (let id = 1; id <= sample; id++) {
    jobHash += await usage(server, `bull:${queue}:${id}`);
    lock += await usage(server, `bull:${queue}:${id}:lock`);
  }
  const fields = await server.admin.hgetall(`bull:${queue}:1`);
  return {
    jobHash: jobHash / sample,
    jobHashEncoding: String(await server.admin.object('ENCODING', `bull:${queue}:1`)),
    lock: lock / sample,
    fields: Object.fromEntries(Object.entries(fields).map(([f, v]) => [f, v.length])),
  };
}

/**
 * used_memory added by `seed`, per run. Callers open their connections before (a connection's
 * buffers count in used_memory too), so only the runs are counted.
 */
async function measure(
  server: BenchServer,
  runs: number,
  seed: () => Promise<void>,
  cleanup: () => Promise<void>,
  inspect?: () => Promise<void>,
): Promise<number> {
  const before = await usedMemory(server.admin);
  await seed();
  const after = await usedMemory(server.admin);
  await inspect?.();
  await cleanup();
  return (after - before) / runs;
}

async function measureVariant(
  server: BenchServer,
  variant: PayloadVariant,
  runs: number,
  nowMs: number,
) {
  const each = (visit: (batch: BenchRun[]) => Promise<void>) =>
    forEachBatch(0, runs, variant, nowMs, visit);
  const hashKeys = legacyKeys('ws-mem', variant);
  const hash = await measure(
    server,
    runs,
    () => each((batch) => seedLegacy(server.client, hashKeys, batch, false)),
    () => deleteKeys(server.admin, [hashKeys.hash]),
  );

  const prefix = `mem-${variant}`;
  const store = createActiveRunStore({ redis: server.client, prefix });
  const scope = { workspaceId: 'ws-mem', projectId: variant };
  let structures: StoreStructures | undefined;
  const storeBytes = await measure(
    server,
    runs,
    () => each((batch) => seedStore(store, scope, batch)),
    async () => deleteKeys(server.admin, await scanKeys(server.admin, `${prefix}:*`)),
    async () => {
      structures = await storeStructures(server, prefix, runs);
    },
  );
  await store.close();

  const bull = await createBullHarness(server.connection, `mem-${variant}`);
  let bullParts: BullStructures | undefined;
  const bullBytes = await measure(
    server,
    runs,
    () => each((batch) => bull.seedActive(batch)),
    () => bull.destroy(),
    async () => {
      bullParts = await bullStructures(server, `mem-${variant}`);
    },
  );

  let json = 0;
  await each(async (batch) => {
    for (const run of batch) json += legacyJson(run).length;
  });
  return {
    variant,
    jsonBytes: json / runs,
    perRun: { hash, store: storeBytes, bullmq: bullBytes },
    ...(structures ? { structures } : {}),
    ...(bullParts ? { bull: bullParts } : {}),
  };
}

export const memorySection: BenchSection = {
  id: 'memory',
  title: 'Redis memory per run',
  async run(ctx) {
    const runs = ctx.mode.memoryRuns;
    const nowMs = Date.now();
    const data: MemoryData = { runs, variants: [] };
    for (const variant of ['large', 'small'] as const) {
      data.variants.push(await measureVariant(ctx.server, variant, runs, nowMs));
      ctx.log(`memory ${variant}: ${JSON.stringify(data.variants.at(-1)!.perRun)}`);
    }
    const [large, small] = data.variants as [MemoryData['variants'][0], MemoryData['variants'][0]];
    const vsHash = (v: typeof large) => v.perRun.store / v.perRun.hash;
    const vsBull = (v: typeof large) => v.perRun.bullmq / v.perRun.store;
    const bullWorst = Math.min(vsBull(large), vsBull(small));
    return {
      data,
      targets: [
        check(
          'Redis memory per run ≤ 1.35× the hash-only layout at ~800 B',
          times(vsHash(large)),
          vsHash(large) <= 1.35,
        ),
        check(
          'Redis memory per run ≤ 1.5× the hash-only layout at ~280 B',
          times(vsHash(small)),
          vsHash(small) <= 1.5,
        ),
        check(
          'Redis memory per run ≥ 1.4× less than BullMQ',
          `worst ${times(bullWorst)}`,
          bullWorst >= 1.4,
        ),
      ],
      markdown: [
        `\`used_memory\` added per run while ${count(runs)} runs were seeded into an otherwise idle server, one layout at a time (each deleted before the next). The hash-only layout is the legacy \`runUuid -> JSON\` hash; the store's figure covers all its keys (data, indexes, lease set, counters, registry); BullMQ's, each active job's hash, its place in the active list, its lock and BullMQ's event stream.`,
        table(
          ['runs of', 'hash only', 'store', 'BullMQ', 'store / hash only', 'BullMQ / store'],
          data.variants.map((v) => [
            `~${bytes(v.jsonBytes)} of JSON`,
            bytes(v.perRun.hash),
            bytes(v.perRun.store),
            bytes(v.perRun.bullmq),
            times(vsHash(v)),
            times(vsBull(v)),
          ]),
        ),
      ].join('\n\n'),
    };
  },
};
