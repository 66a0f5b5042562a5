#!/usr/bin/env node
// Client-side cost of enqueue: CPU time of this process per call (process.cpuUsage, user +
// system), so Redis's own time is left out, next to a bare HSET through the same client as the
// reference. Rounds are interleaved on one throwaway redis-server and the medians printed. Ratios,
// not absolute times, are what to compare (the machine is shared): to compare two builds, pass
// both, so they are measured in the same run.
//
//   node scripts/measure-enqueue.mjs [path/to/dist/index.js ...]   (default: this package's dist)
import { pathToFileURL } from 'node:url';
import { startRedisServer } from '@active-runs/test-utils';
import { Redis } from 'ioredis';
import { z } from 'zod';

const dists = process.argv.slice(2);
if (dists.length === 0) dists.push(new URL('../dist/index.js', import.meta.url).pathname);

const CALLS = 10_000;
const IN_FLIGHT = 32;
const ROUNDS = 9;
const server = await startRedisServer();
const redis = new Redis(server.url, { commandTimeout: 30_000 });
const scope = { workspaceId: 'w', projectId: 'p' };
const data = { model: 'gpt-4o', tokens: 512, params: { temperature: 0.2, tags: ['a', 'b'] } };
const schema = z.object({
  model: z.string(),
  tokens: z.number().int(),
  params: z.object({ temperature: z.number(), tags: z.array(z.string()) }),
});

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
  'HSET (reference)': (i) => redis.hset(`ref:${round}`, `f${i}`, JSON.stringify(data)),
};
for (const [n, dist] of dists.entries()) {
  const { createActiveRunStore } = await import(pathToFileURL(dist).href);
  const plain = createActiveRunStore({ redis, prefix: `plain${n}` });
  const typed = createActiveRunStore({ redis, prefix: `typed${n}`, dataSchema: schema });
  const input = (i) => ({ id: `r${round}-${i}`, source: 'api', caption: 'queued', data });
  variants[`[${n}] enqueue, no dataSchema`] = (i) => plain.enqueue(scope, input(i));
  variants[`[${n}] enqueue, zod dataSchema`] = (i) => typed.enqueue(scope, input(i));
}
const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
for (const call of Object.values(variants)) await cpuPerCall(call); // warm up (JIT, scripts)
for (round = 1; round <= ROUNDS; round++) {
  for (const [name, call] of Object.entries(variants)) samples[name].push(await cpuPerCall(call));
  const keys = await redis.keys('*');
  for (let i = 0; i < keys.length; i += 1_000) await redis.del(...keys.slice(i, i + 1_000));
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const reference = median(samples['HSET (reference)']);
console.log(`client CPU per call, median of ${ROUNDS} interleaved rounds of ${CALLS} calls`);
for (const [n, dist] of dists.entries()) console.log(`  [${n}] ${dist}`);
for (const [name, values] of Object.entries(samples)) {
  const us = median(values);
  console.log(
    `  ${name.padEnd(30)} ${us.toFixed(2).padStart(7)} µs   ${(us / reference).toFixed(2)}× HSET`,
  );
}
redis.disconnect();
await server.stop();
