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

export interface MemoryData {
  runs: number;
  variants: {
    variant: PayloadVariant;
    /** Mean length of a run's JSON in the legacy layout. */
    jsonBytes: number;
    /** used_memory added per run. */
    perRun: Record<Layout, number>;
  }[];
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
): Promise<number> {
  const before = await usedMemory(server.admin);
  await seed();
  const after = await usedMemory(server.admin);
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
  const storeBytes = await measure(
    server,
    runs,
    () => each((batch) => seedStore(store, scope, batch)),
    async () => deleteKeys(server.admin, await scanKeys(server.admin, `${prefix}:*`)),
  );
  await store.close();

  const bull = await createBullHarness(server.connection, `mem-${variant}`);
  const bullBytes = await measure(
    server,
    runs,
    () => each((batch) => bull.seedActive(batch)),
    () => bull.destroy(),
  );

  let json = 0;
  await each(async (batch) => {
    for (const run of batch) json += legacyJson(run).length;
  });
  return {
    variant,
    jsonBytes: json / runs,
    perRun: { hash, store: storeBytes, bullmq: bullBytes },
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
