#!/usr/bin/env node
// A short tour of the store: enqueue, start, progress, list by cursor, counts, stats, sweep.
// Uses REDIS_URL, else 127.0.0.1:6379 if a Redis answers there, else a throwaway redis-server.
import { randomUUID } from 'node:crypto';
import { connect, deletePrefix, findRedisServer, startRedisServer } from '@active-runs/test-utils';
import { createActiveRunStore } from '../dist/index.js';

async function pickRedis() {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => {} };
  const probe = connect('redis://127.0.0.1:6379');
  probe.on('error', () => {});
  try {
    await probe.ping();
    return { url: 'redis://127.0.0.1:6379', stop: async () => {} };
  } catch {
    if (!findRedisServer()) throw new Error('No Redis: set REDIS_URL or install redis-server.');
    const server = await startRedisServer();
    return { url: server.url, stop: server.stop };
  } finally {
    probe.disconnect();
  }
}

const redis = await pickRedis();
const client = connect(redis.url);
const prefix = `demo:${randomUUID().slice(0, 8)}`;
const expired = [];
const store = createActiveRunStore({
  redis: client,
  prefix,
  onExpired: (run) => expired.push(run.id),
});
const scope = { workspaceId: 'acme', projectId: 42 };
const sources = ['api', 'playground', 'evaluation'];

try {
  console.log(`Redis: ${redis.url}, prefix: ${prefix}\n`);
  const ids = [];
  for (let i = 0; i < 40; i++) {
    const run = await store.enqueue(scope, {
      id: randomUUID(),
      source: sources[i % 3],
      caption: `prompt #${i}`,
      data: { model: i % 2 ? 'gpt-4o' : 'claude', tokens: 0 },
    });
    ids.push(run.id);
  }
  for (const id of ids.slice(0, 12)) await store.start(scope, id);
  await store.progress(scope, ids[0], {
    caption: 'streaming tokens',
    data: { model: 'claude', tokens: 512 },
  });
  await store.end(scope, ids[1]);
  await store.enqueue(scope, { id: 'stuck-run', source: 'api', leaseMs: 200 });

  const show = (page, title) => {
    console.log(`${title}: ${page.items.length} of ${page.total}`);
    for (const r of page.items) {
      console.log(
        `  ${r.status.padEnd(7)} ${r.id.slice(0, 8)} ${String(r.source).padEnd(10)} ${r.caption}`,
      );
    }
  };
  const first = await store.list(scope, { limit: 5 });
  show(first, 'Page 1 (cursor paging, running first, newest first)');
  const second = await store.list(scope, { limit: 5, cursor: first.nextCursor });
  show(second, 'Page 2');
  show(
    await store.list(scope, { status: 'queued', source: 'playground', limit: 3 }),
    'Queued playground runs',
  );
  console.log('\nCounts:', JSON.stringify(await store.counts(scope)));

  await new Promise((r) => setTimeout(r, 300));
  const stats = await store.stats(scope, { memory: true });
  console.log('Stats:  ', JSON.stringify(stats));
  const sweep = await store.sweep();
  console.log(
    `Sweep:   expired ${sweep.expired} run(s) (${expired.join(', ')}) in ${sweep.durationMs.toFixed(0)} ms`,
  );
} finally {
  await store.close();
  await deletePrefix(client, prefix);
  await client.quit();
  await redis.stop();
}
