#!/usr/bin/env node
// Client-side cost of enqueue: CPU time of this process per call (process.cpuUsage, user +
// system), so Redis's own time is left out, next to a bare HSET through the same client as the
// reference. Interleaved rounds on a throwaway redis-server; the medians are printed. Ratios, not
// absolute times, are what to compare (the machine is shared): run it on both builds.
//
//   node scripts/measure-enqueue.mjs [path/to/dist/index.js]   (default: this package's dist)
import { pathToFileURL } from 'node:url';
import { startRedisServer } from '@active-runs/test-utils';
import { Redis } from 'ioredis';
import { z } from 'zod';

const dist = process.argv[2] ?? new URL('../dist/index.js', import.meta.url).pathname;
const { createActiveRunStore } = await import(pathToFileURL(dist).href);

const CALLS = 10_000;
const IN_FLIGHT = 32;
const ROUNDS = 7;
const server = await startRedisServer();
const redis = new Redis(server.url, { commandTimeout: 30_000 });
const scope = { workspaceId: 'w', projectId: 'p' };
const data = { model: 'gpt-4o', tokens: 512, params: { temperature: 0.2, tags: ['a', 'b'] } };
const schema = z.object({
  model: z.string(),
  tokens: z.number().int(),
  params: z.object({ temperature: z.number(), tags: z.array(z.string()) }),
});
const plain = createActiveRunStore({ redis, prefix: 'measure-plain' });
const typed = createActiveRunStore({ redis, prefix: 'measure-typed', dataSchema: schema });

/** CPU µs of this process per call of `call(i)`, IN_FLIGHT at a time. */
async function cpuPerCall(call) {
  const before = process.cpuUsage();
  for (let i = 0; i < CALLS; i += IN_FLIGHT) {
    await Promise.all(Array.from({ length: IN_FLIGHT }, (_, j) => call(i + j)));
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / CALLS;
}

let round = 0;
const variants = {
  'HSET (reference)': (i) => redis.hset(`measure-ref:${round}`, `f${i}`, JSON.stringify(data)),
  'enqueue, no dataSchema': (i) =>
    plain.enqueue(scope, { id: `r${round}-${i}`, source: 'api', caption: 'queued', data }),
  'enqueue, zod dataSchema': (i) =>
    typed.enqueue(scope, { id: `r${round}-${i}`, source: 'api', caption: 'queued', data }),
};
const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
for (const call of Object.values(variants)) await cpuPerCall(call); // warm up (JIT, scripts)
for (round = 1; round <= ROUNDS; round++) {
  for (const [name, call] of Object.entries(variants)) samples[name].push(await cpuPerCall(call));
  await redis.del(`measure-ref:${round}`);
  for (const prefix of ['measure-plain', 'measure-typed']) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const reference = median(samples['HSET (reference)']);
console.log(`client CPU per call, median of ${ROUNDS} rounds of ${CALLS} calls (${dist})`);
for (const [name, values] of Object.entries(samples)) {
  const us = median(values);
  console.log(
    `  ${name.padEnd(26)} ${us.toFixed(2).padStart(7)} µs   ${(us / reference).toFixed(2)}× HSET`,
  );
}
await plain.close();
await typed.close();
redis.disconnect();
await server.stop();
