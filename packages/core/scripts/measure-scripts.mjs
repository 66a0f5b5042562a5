#!/usr/bin/env node
// Redis-side cost of the store's hot paths, from INFO commandstats on a throwaway redis-server
// with one replica: server time per call of each script, bytes replicated per call, memory per
// run. Ratios, not absolute times, are what to compare (the machine is shared).
//
//   node scripts/measure-scripts.mjs [path/to/dist/index.js]   (default: this package's dist)
//
// docs/ARCHITECTURE.md quotes a run of it (before/after a change: run it on both builds).
import { pathToFileURL } from 'node:url';
import { startRedisServer } from '@active-runs/test-utils';
import { Redis } from 'ioredis';

const dist = process.argv[2] ?? new URL('../dist/index.js', import.meta.url).pathname;
const { createActiveRunStore } = await import(pathToFileURL(dist).href);

const RUNS = 10_000;
const CALLS = 5_000;
const PAGES = 3_000;
const primary = await startRedisServer();
const replica = await startRedisServer({
  args: ['--replicaof', '127.0.0.1', String(primary.port)],
});
const redis = new Redis(primary.url, { commandTimeout: 30_000 });
const onReplica = new Redis(replica.url);
for (let i = 0; i < 100; i++) {
  if (/master_link_status:up/.test(await onReplica.info('replication'))) break;
  await new Promise((r) => setTimeout(r, 50));
}

const info = async (section, field) =>
  Number(new RegExp(`${field}:(\\d+)`).exec(await redis.info(section))?.[1] ?? 0);
async function evalStats() {
  const text = await redis.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const m of text.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/g)) {
    calls += Number(m[1]);
    usec += Number(m[2]);
  }
  return { calls, usec };
}

/** Runs `call(i)` n times, 100 in flight; returns server µs per script call and bytes replicated per call. */
async function measure(n, call) {
  await redis.config('RESETSTAT');
  const offset = await info('replication', 'master_repl_offset');
  for (let i = 0; i < n; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, j) => call(i + j)));
  }
  const { calls, usec } = await evalStats();
  const replicated = (await info('replication', 'master_repl_offset')) - offset;
  return { usPerCall: +(usec / calls).toFixed(2), replBytesPerCall: Math.round(replicated / n) };
}

const results = {};
for (const bytes of [800, 8_000]) {
  const store = createActiveRunStore({ redis, prefix: `measure${bytes}`, publishEvents: true });
  const scope = { workspaceId: 'w', projectId: `p${bytes}` };
  const data = { params: { temperature: 0.2 }, pad: 'x'.repeat(bytes - 40) };
  const id = (i) => `3f2a9c1e-0000-4000-8000-${String(i % RUNS).padStart(12, '0')}`;
  const m0 = await info('memory', 'used_memory');
  const enqueue = await measure(RUNS, (i) =>
    store.enqueue(scope, {
      id: id(i),
      source: i % 2 ? 'api' : 'playground',
      caption: 'queued',
      data,
    }),
  );
  const memoryPerRun = Math.round(((await info('memory', 'used_memory')) - m0) / RUNS);
  const start = await measure(RUNS / 2, (i) => store.start(scope, id(i * 2)));
  const progress = await measure(CALLS, (i) =>
    store.progress(scope, id(i), { caption: `step ${i}` }),
  );
  const heartbeat = await measure(CALLS, (i) => store.heartbeat(scope, id(i)));
  const page = await measure(PAGES, () => store.list(scope, { limit: 25 }));
  const pageApi = await measure(PAGES, () => store.list(scope, { limit: 25, source: 'api' }));
  const end = await measure(CALLS, (i) => store.end(scope, id(i)));
  results[`${bytes} B data`] = {
    memoryPerRun,
    enqueue,
    start,
    progress,
    heartbeat,
    page,
    pageApi,
    end,
  };
  await store.close();
}
console.log(JSON.stringify({ dist, runs: RUNS, results }, null, 1));
redis.disconnect();
onReplica.disconnect();
await replica.stop();
await primary.stop();
