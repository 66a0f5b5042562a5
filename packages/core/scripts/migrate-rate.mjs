#!/usr/bin/env node
// Measures the legacy backfill's copy rate (migrateLegacy) at 100k and 1M legacy records, next to
// the store's own pipelined write rate on the same Redis, and how long one import call holds
// Redis (SLOWLOG of every call). Starts a throwaway redis-server (its SLOWLOG and memory are this
// script's alone); needs the package built (pnpm --filter @active-runs/core build).
//   node scripts/migrate-rate.mjs              100k and 1M
//   node scripts/migrate-rate.mjs 100000       one size
import { connect, deletePrefix, startRedisServer } from '@active-runs/test-utils';
import { createActiveRunStore, migrateLegacy } from '../dist/index.js';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const SIZES = sizes.length > 0 ? sizes : [100_000, 1_000_000];
const BATCH = 500;
const SCOPES = 10;

const server = await startRedisServer({
  args: ['--slowlog-log-slower-than', '0', '--slowlog-max-len', '100000'],
});
const client = connect(server.url);
const iso = (ms) => new Date(ms).toISOString();
const rate = (n, ms) => Math.round((n / ms) * 1000);

/** Legacy hashes of `n` records over SCOPES scopes, in the original shape. */
async function seed(keyPrefix, n) {
  const now = Date.now();
  const per = Math.ceil(n / SCOPES);
  for (let s = 0; s < SCOPES; s++) {
    const key = `${keyPrefix}runs:active:${s}:p`;
    for (let i = 0; i < per; i += 1_000) {
      const fields = {};
      for (let j = i; j < Math.min(i + 1_000, per); j++) {
        const id = `00000000-0000-4000-8000-${String(s * per + j).padStart(12, '0')}`;
        const queuedAt = now - 60_000 - j;
        const record = {
          uuid: id,
          queuedAt: iso(queuedAt),
          source: ['api', 'playground', 'evaluation'][j % 3],
        };
        if (j % 2 === 0) record.startedAt = iso(queuedAt + 100);
        if (j % 5 === 0) record.caption = 'Running step 3 of 7';
        fields[id] = JSON.stringify(record);
      }
      await client.hset(key, fields);
    }
  }
}

/** enqueue + start of `n` runs, 256 calls in flight: the store's pipelined write rate. */
async function storeRate(n) {
  const store = createActiveRunStore({ redis: client, prefix: `base${n}` });
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await store.enqueue(
        { workspaceId: i % SCOPES, projectId: 'p' },
        { id: `r${i}`, source: 'api', caption: 'Running step 3 of 7' },
      );
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  const ms = performance.now() - started;
  await store.close();
  return rate(n, ms);
}

function importCalls(entries) {
  const durations = entries
    .filter((e) => String(e[3]?.[0]).toLowerCase() === 'evalsha')
    .map((e) => Number(e[2]) / 1000);
  durations.sort((a, b) => a - b);
  const at = (q) =>
    durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0;
  return {
    calls: durations.length,
    p99: at(0.99),
    max: durations[durations.length - 1] ?? 0,
  };
}

console.log(
  `# migrate-rate: ${SCOPES} scopes, batchSize ${BATCH}, throwaway redis-server ${server.url}, node ${process.version}`,
);
console.log(
  '| legacy records | `migrateLegacy` (copy + verify) | store `enqueue`, 256 in flight, same run | import call, Redis time avg / p99 / max | peak JS heap |',
);
console.log('| --- | --- | --- | --- | --- |');
try {
  for (const n of SIZES) {
    const prefix = `m${n}`;
    const keyPrefix = `${prefix}:old:`;
    await seed(keyPrefix, n);
    const baseline = await storeRate(Math.min(n, 200_000));
    const store = createActiveRunStore({ redis: client, prefix, legacy: { keyPrefix } });
    await client.slowlog('RESET');
    await client.config('RESETSTAT');
    let peakHeap = 0;
    const started = performance.now();
    const report = await migrateLegacy(store, {
      batchSize: BATCH,
      onProgress: () => {
        peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      },
    });
    const ms = performance.now() - started;
    if (report.copied !== n || report.failed !== 0)
      throw new Error(`unexpected report ${JSON.stringify(report)}`);
    const calls = importCalls(await client.slowlog('GET', 100_000));
    const stats = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await client.info('commandstats'));
    calls.calls = Number(stats?.[1] ?? 0);
    calls.avg = Number(stats?.[2] ?? 0) / 1000 / Math.max(1, calls.calls);
    console.log(
      `| ${n.toLocaleString('en')} | ${rate(n, ms).toLocaleString('en')} runs/s (${(ms / 1000).toFixed(1)} s) | ${baseline.toLocaleString('en')} runs/s | ${calls.avg.toFixed(2)} / ${calls.p99.toFixed(2)} / ${calls.max.toFixed(2)} ms (${calls.calls.toLocaleString('en')} calls) | ${Math.round(peakHeap / 2 ** 20)} MiB |`,
    );
    await store.close();
    await deletePrefix(client, prefix);
    await deletePrefix(client, `base${Math.min(n, 200_000)}`);
  }
} finally {
  await client.quit();
  await server.stop();
}
