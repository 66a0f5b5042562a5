import { describe, expect, it } from 'vitest';
import type { RunChangeEvent, RunEvent } from '../src/index.js';
import { createActiveRunStore, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { sleep, useStoreHarness } from './harness.js';
import { monitorCommands } from './monitor.js';

const h = useStoreHarness();
const scope = { workspaceId: 'ev', projectId: 1 };

async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) await sleep(25);
  if (!predicate()) throw new Error(`timed out waiting for ${what}`);
}

const describeEvent = (e: RunEvent) => {
  if (e.type === 'gap') return `gap:${e.reason}`;
  if (e.type === 'heartbeat') return `heartbeat:${e.id}`;
  return `${e.type}:${e.id}:${e.run.status}`;
};

describe('store.subscribe / store.events', () => {
  it('delivers every change of the scope, expired ones included, through the store', async () => {
    const store = h.store({ leaseMs: 60_000 });
    const seen: RunEvent[] = [];
    const unsubscribe = await store.subscribe(scope, (e) => void seen.push(e));
    expect(seen.map(describeEvent)).toEqual(['gap:subscribed']);
    await store.enqueue(scope, { id: 'a', source: 'api' });
    await store.start(scope, 'a');
    await store.progress(scope, 'a', { caption: 'half' });
    const beat = await store.heartbeat(scope, 'a');
    await store.end(scope, 'a');
    await store.enqueue(scope, { id: 'b', leaseMs: 100 });
    await sleep(150);
    await store.sweep();
    await until(() => seen.length >= 8, 'eight notices');
    expect(seen.map(describeEvent)).toEqual([
      'gap:subscribed',
      'queued:a:queued',
      'started:a:running',
      'progress:a:running',
      'heartbeat:a',
      'ended:a:running',
      'queued:b:queued',
      'expired:b:queued',
    ]);
    // a heartbeat carries the new lease deadline only, outside the sequence of changes
    const progress = seen[3] as RunChangeEvent;
    expect(seen[4]).toEqual({
      type: 'heartbeat',
      scope: { workspaceId: 'ev', projectId: '1' },
      seq: progress.seq,
      id: 'a',
      leaseExpiresAt: beat.leaseExpiresAt,
    });
    const changes = seen.flatMap((e) => (e.type === 'gap' || e.type === 'heartbeat' ? [] : [e]));
    const seqs = changes.map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    expect(changes[2]).toMatchObject({
      run: { caption: 'half' },
      scope: { workspaceId: 'ev', projectId: '1' },
    });
    await unsubscribe();
    await store.enqueue(scope, { id: 'c' });
    await sleep(100);
    expect(seen).toHaveLength(8);
  });

  it('the async iterator yields changes and ends when the store closes', async () => {
    const store = h.store();
    const iterator = store.events(scope);
    const collected: string[] = [];
    const done = (async () => {
      for await (const e of iterator) collected.push(describeEvent(e));
    })();
    await until(() => collected.includes('gap:subscribed'), 'the subscription');
    await store.enqueue(scope, { id: 'it' });
    await until(() => collected.length >= 2, 'the queued event');
    await store.close();
    await done;
    expect(collected).toEqual(['gap:subscribed', 'queued:it:queued']);
  });

  it('a change made by a store with publishEvents off shows up as a gap for viewers', async () => {
    const publishing = h.store();
    const silent = createActiveRunStore({
      redis: h.client,
      prefix: publishing.prefix,
      publishEvents: false,
    });
    const seen: string[] = [];
    await publishing.subscribe(scope, (e) => void seen.push(describeEvent(e)));
    await publishing.enqueue(scope, { id: 'r1' });
    await silent.enqueue(scope, { id: 'r2' });
    await publishing.end(scope, 'r1');
    await until(() => seen.length >= 4, 'the gap');
    expect(seen).toEqual(['gap:subscribed', 'queued:r1:queued', 'gap:missed', 'ended:r1:queued']);
    await expect(silent.subscribe(scope, () => {})).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await silent.close();
  });

  it('publishes nothing while nobody listens on the node, and everything once someone does', async () => {
    const store = h.store();
    const channel = scopeKeys(store.prefix, parseScope(scope)).events;
    const monitor = await monitorCommands(
      h.client,
      (args) => /^s?publish$/i.test(String(args[0])) && args[1] === channel,
    );
    try {
      await store.enqueue(scope, { id: 'quiet', data: { big: 'x'.repeat(1_000) } });
      await store.progress(scope, 'quiet', { data: { big: 'y'.repeat(1_000) } });
      await store.heartbeat(scope, 'quiet');
      await store.end(scope, 'quiet');
      await monitor.flush(`${channel}:marker`);
      expect(monitor.seen).toEqual([]);

      const seen: string[] = [];
      const unsubscribe = await store.subscribe(scope, (e) => void seen.push(describeEvent(e)));
      await store.enqueue(scope, { id: 'loud' });
      await store.heartbeat(scope, 'loud');
      await until(() => seen.length >= 3, 'two events');
      expect(seen).toEqual(['gap:subscribed', 'queued:loud:queued', 'heartbeat:loud']);
      await monitor.flush(`${channel}:marker`);
      expect(monitor.seen).toHaveLength(2);
      await unsubscribe();
    } finally {
      monitor.stop();
    }
  });
});
