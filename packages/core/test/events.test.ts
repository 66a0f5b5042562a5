import type { RedisServerHandle } from '@active-runs/test-utils';
import { connect, deletePrefix, startRedisServer, uniquePrefix } from '@active-runs/test-utils';
import calculateSlot from 'cluster-key-slot';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {
  RunChangeEvent,
  RunEvent,
  RunEventHubOptions,
  RunGapEvent,
} from '../src/events/index.js';
import { decodeRunEvent, RunEventHub } from '../src/events/index.js';
import type { ActiveRunStore, Scope } from '../src/index.js';
import { ActiveRunsError, createActiveRunStore, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { useStoreHarness } from './harness.js';

// Runs on both projects: standalone (PUBLISH / SUBSCRIBE) and cluster (SPUBLISH from the scripts
// on the scope's shard / SSUBSCRIBE through ioredis's sharded subscribers of a Cluster client).
const h = useStoreHarness();
const onCluster = h.topology === 'cluster';
const scope: Scope = { workspaceId: 'w1', projectId: 'p1' };

const hubs: RunEventHub[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close();
});

function hubOn(client: Redis | Cluster, options: Partial<RunEventHubOptions> = {}): RunEventHub {
  const hub = new RunEventHub(client, { sharded: client instanceof Cluster, ...options });
  hubs.push(hub);
  return hub;
}

const channelOf = (store: ActiveRunStore<unknown>, s: Scope) =>
  scopeKeys(store.prefix, parseScope(s)).events;

/** A handler that records what it receives. */
function recorder() {
  const events: RunEvent[] = [];
  return {
    events,
    handler: (event: RunEvent) => {
      events.push(event);
    },
    changes: () =>
      events.filter((e): e is RunChangeEvent => e.type !== 'gap' && e.type !== 'heartbeat'),
    gaps: () => events.filter((e): e is RunGapEvent => e.type === 'gap').map((e) => e.reason),
  };
}

/** Waits (bounded) until `condition` holds; events are asynchronous, their order is not. */
async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Subscribers of a channel as Redis counts them (every master of a cluster: sharded channels). */
async function subscribersOf(client: Redis | Cluster, channel: string): Promise<number> {
  if (client instanceof Cluster) {
    let total = 0;
    for (const node of client.nodes('master')) {
      const reply = (await node.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
      total += Number(reply[1]);
    }
    return total;
  }
  const reply = (await client.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

/** CLIENT LIST of one node, parsed. */
async function clientList(node: Redis): Promise<Record<string, string>[]> {
  const text = String(await node.call('CLIENT', 'LIST'));
  return text
    .trim()
    .split('\n')
    .map((line) =>
      Object.fromEntries(line.split(' ').map((kv) => kv.split('=', 2) as [string, string])),
    );
}

describe('decodeRunEvent', () => {
  it('decodes a published message into the run the store returns', async () => {
    const store = h.store();
    const hub = hubOn(h.client);
    const rec = recorder();
    await hub.subscribe(channelOf(store, scope), scope, rec.handler);
    const run = await store.enqueue(scope, {
      id: 'r1',
      caption: 'a\u00e9\u2713',
      data: { x: [1] },
    });
    await until('the queued event', () => rec.changes().length === 1);
    expect(rec.changes()[0]).toEqual({ type: 'queued', scope, seq: 1, id: 'r1', run });
  });

  it('refuses a message that is not a run event', () => {
    const value = '1700000000000\n1700000000001\n5\napi\n"c"\n{"a":1}';
    expect(decodeRunEvent(`started\n7\nr1\n${2 ** 44 + 5}\n${value}`, scope)).toEqual({
      type: 'started',
      scope,
      seq: 7,
      id: 'r1',
      run: {
        id: 'r1',
        status: 'running',
        queuedAt: 1700000000000,
        startedAt: 1700000000001,
        source: 'api',
        caption: 'c',
        data: { a: 1 },
        leaseExpiresAt: 5,
      },
    });
    for (const message of [
      'queued\n1\nr1\n5\nnot a value',
      'queued\n1\nr1\n5\n1\n\n5\n\n{\n',
      '',
      'hello',
      'queued\n1\nr1',
      'bogus\n1\nr1\n5\n1\n\n5\n\n\n',
      'queued\nx\nr1\n5\n1\n\n5\n\n\n',
      'queued\n1\nr1\n5\n1\n\n\n\n',
    ]) {
      expect(() => decodeRunEvent(message, scope)).toThrow(ActiveRunsError);
    }
  });
});

describe('RunEventHub', () => {
  it('delivers every change of a scope in order, with consecutive seq and the runs the store returned', async () => {
    const store = h.store();
    const hub = hubOn(h.client);
    const rec = recorder();
    await hub.subscribe(channelOf(store, scope), scope, rec.handler);
    // the subscription is live once subscribe resolves, and the handler was told so first
    expect(rec.events).toEqual([{ type: 'gap', scope, reason: 'subscribed' }]);

    const queued = await store.enqueue(scope, {
      id: 'run-1',
      source: 'api',
      caption: 'waiting',
      data: { model: 'gpt', tags: [] },
    });
    const other = await store.enqueue(scope, { id: 'run-2' });
    const started = await store.start(scope, 'run-1');
    const progressed = await store.progress(scope, 'run-1', { caption: 'half way \u2713' });
    const beat = await store.heartbeat(scope, 'run-1', { leaseMs: 60_000 });
    const ended = await store.end(scope, 'run-1');
    expect(ended).toEqual(beat);
    await until('the ended event', () => rec.changes().some((e) => e.type === 'ended'));

    expect(rec.events.slice(1)).toEqual([
      { type: 'queued', scope, seq: 1, id: 'run-1', run: queued },
      { type: 'queued', scope, seq: 2, id: 'run-2', run: other },
      { type: 'started', scope, seq: 3, id: 'run-1', run: started },
      { type: 'progress', scope, seq: 4, id: 'run-1', run: progressed },
      // a heartbeat: the new deadline only, outside the sequence (the seq of the change before it)
      { type: 'heartbeat', scope, seq: 4, id: 'run-1', leaseExpiresAt: beat.leaseExpiresAt },
      { type: 'ended', scope, seq: 5, id: 'run-1', run: ended },
    ]);
  });

  it('keeps seq consecutive and in order under concurrent writes', async () => {
    const store = h.store();
    const hub = hubOn(h.client);
    const rec = recorder();
    await hub.subscribe(channelOf(store, scope), scope, rec.handler);
    await store.enqueue(scope, { id: 'r' });
    await store.start(scope, 'r');
    const n = 100;
    await Promise.all(
      Array.from({ length: n }, (_, i) => store.progress(scope, 'r', { data: { step: i } })),
    );
    await until(`${n + 2} events`, () => rec.changes().length === n + 2);
    expect(rec.changes().map((e) => e.seq)).toEqual(Array.from({ length: n + 2 }, (_, i) => i + 1));
    expect(rec.gaps()).toEqual(['subscribed']);
    // the last event is the state that stayed
    expect(rec.changes().at(-1)!.run).toEqual(await store.get(scope, 'r'));
  });

  it('does not mix scopes', async () => {
    const store = h.store();
    const hub = hubOn(h.client);
    const a: Scope = { workspaceId: 'w', projectId: 'p1' };
    const b: Scope = { workspaceId: 'w', projectId: 'p10' };
    const c: Scope = { workspaceId: 'w', projectId: 'p' }; // nobody listens
    const recA = recorder();
    const recB = recorder();
    await hub.subscribe(channelOf(store, a), a, recA.handler);
    await hub.subscribe(channelOf(store, b), b, recB.handler);

    await store.enqueue(a, { id: 'a1' });
    await store.enqueue(b, { id: 'b1' });
    await store.enqueue(c, { id: 'c1' });
    await store.enqueue(a, { id: 'a2' });
    await store.enqueue(b, { id: 'b2' });
    await store.end(c, 'c1');
    await store.end(a, 'a1');
    await store.end(b, 'b1');
    await until('both fences', () =>
      [recA, recB].every((r) => r.changes().some((e) => e.type === 'ended')),
    );

    expect(recA.changes().map((e) => [e.type, e.id, e.seq, e.scope])).toEqual([
      ['queued', 'a1', 1, a],
      ['queued', 'a2', 2, a],
      ['ended', 'a1', 3, a],
    ]);
    expect(recB.changes().map((e) => [e.type, e.id, e.seq, e.scope])).toEqual([
      ['queued', 'b1', 1, b],
      ['queued', 'b2', 2, b],
      ['ended', 'b1', 3, b],
    ]);
  });

  it('publishes nothing for a write that fails or changes nothing', async () => {
    const store = h.store();
    const hub = hubOn(h.client);
    const rec = recorder();
    await hub.subscribe(channelOf(store, scope), scope, rec.handler);
    const queued = await store.enqueue(scope, { id: 'r1', caption: 'c' });

    const failures = await Promise.allSettled([
      store.start(scope, 'missing'),
      store.progress(scope, 'missing', { caption: 'x' }),
      store.heartbeat(scope, 'missing'),
      store.end(scope, 'missing'),
      store.enqueue(scope, { id: 'r1', caption: 'different' }),
      store.enqueue(scope, { id: 'bad id' }),
      store.progress(scope, 'r1', { caption: 'x'.repeat(10_000) }),
    ]);
    expect(
      failures.map((f) => (f.status === 'rejected' ? (f.reason as ActiveRunsError).code : 'ok')),
    ).toEqual([
      'NOT_FOUND',
      'NOT_FOUND',
      'NOT_FOUND',
      'NOT_FOUND',
      'CONFLICT',
      'INVALID_ARGUMENT',
      'PAYLOAD_TOO_LARGE',
    ]);
    // the same enqueue again is answered with the active run: no change, no event
    expect(await store.enqueue(scope, { id: 'r1', caption: 'c' })).toEqual(queued);

    const ended = await store.end(scope, 'r1'); // fence: the next event of the scope
    await until('the ended event', () => rec.changes().some((e) => e.type === 'ended'));
    expect(rec.events).toEqual([
      { type: 'gap', scope, reason: 'subscribed' },
      { type: 'queued', scope, seq: 1, id: 'r1', run: queued },
      { type: 'ended', scope, seq: 2, id: 'r1', run: ended },
    ]);
  });

  it('shares one subscription per channel and releases it with the last handler', async () => {
    const store = h.store();
    const hub = hubOn(h.client);
    const channel = channelOf(store, scope);
    const first = recorder();
    const second = recorder();
    const stopFirst = await hub.subscribe(channel, scope, first.handler);
    const stopSecond = await hub.subscribe(channel, scope, second.handler);
    expect(await subscribersOf(h.client, channel)).toBe(1);

    await stopFirst();
    expect(await subscribersOf(h.client, channel)).toBe(1);
    await store.enqueue(scope, { id: 'r1' });
    await until('the event on the remaining handler', () => second.changes().length === 1);
    expect(first.changes()).toEqual([]);

    await stopSecond();
    expect(await subscribersOf(h.client, channel)).toBe(0);
    expect(hub.channelCount).toBe(0);
    await stopSecond(); // idempotent
    await stopFirst();
    expect(await subscribersOf(h.client, channel)).toBe(0);

    // subscribing again works
    const third = recorder();
    const stopThird = await hub.subscribe(channel, scope, third.handler);
    expect(await subscribersOf(h.client, channel)).toBe(1);
    await store.end(scope, 'r1');
    await until('the event after re-subscribing', () => third.changes().length === 1);
    expect(third.changes()[0]).toMatchObject({ type: 'ended', id: 'r1', seq: 2 });
    await stopThird();
    expect(await subscribersOf(h.client, channel)).toBe(0);
  });

  it('releases the channel when the last handler leaves while subscribing', async () => {
    const store = h.store();
    const hub = hubOn(h.client);
    const channel = channelOf(store, scope);
    const controller = new AbortController();
    const iterator = hub.events(channel, scope, { signal: controller.signal });
    controller.abort(); // before Redis confirmed the subscription
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    await until('the channel to be released', async () => {
      return hub.channelCount === 0 && (await subscribersOf(h.client, channel)) === 0;
    });
  });

  it('tells handlers when the sequence jumps or restarts', async () => {
    const store = h.store();
    const hub = hubOn(h.client);
    const rec = recorder();
    const keys = scopeKeys(store.prefix, parseScope(scope));
    await hub.subscribe(keys.events, scope, rec.handler);
    await store.enqueue(scope, { id: 'r1' });
    await until('the first event', () => rec.changes().length === 1);

    // as if three events had been published while this handler could not receive them
    await h.client.hincrby(keys.meta, 'seq', 3);
    await store.progress(scope, 'r1', { caption: 'a' });
    // as if the scope's keys had expired and its counter restarted
    await h.client.hdel(keys.meta, 'seq');
    await store.progress(scope, 'r1', { caption: 'b' });
    await until('both progress events', () => rec.changes().length === 3);

    expect(
      rec.events.map((e) => (e.type === 'gap' ? `gap:${e.reason}` : `${e.type}:${e.seq}`)),
    ).toEqual([
      'gap:subscribed',
      'queued:1',
      'gap:missed',
      'progress:5',
      'gap:reset',
      'progress:1',
    ]);
  });

  it('keeps delivering to other handlers when one throws, and logs it', async () => {
    const store = h.store();
    const warnings: string[] = [];
    const hub = hubOn(h.client, {
      logger: { warn: (_object, message) => warnings.push(message) },
    });
    const channel = channelOf(store, scope);
    await hub.subscribe(channel, scope, (event) => {
      if (event.type !== 'gap') throw new Error('boom');
    });
    await hub.subscribe(channel, scope, async (event) => {
      if (event.type !== 'gap') throw new Error('async boom');
    });
    const rec = recorder();
    await hub.subscribe(channel, scope, rec.handler);
    await store.enqueue(scope, { id: 'r1' });
    await store.end(scope, 'r1');
    await until('both events', () => rec.changes().length === 2);
    await until('the warnings', () => warnings.length === 4);
    expect(new Set(warnings)).toEqual(new Set(['active-runs: an event handler failed']));
  });

  describe('events() iterator', () => {
    it('yields a subscribed gap, then the changes, and ends on abort', async () => {
      const store = h.store();
      const hub = hubOn(h.client);
      const channel = channelOf(store, scope);
      const controller = new AbortController();
      const iterator = hub.events(channel, scope, { signal: controller.signal });
      expect(await iterator.next()).toEqual({
        value: { type: 'gap', scope, reason: 'subscribed' },
        done: false,
      });
      expect(await subscribersOf(h.client, channel)).toBe(1);

      const seen: RunEvent[] = [];
      const consumed = (async () => {
        for await (const event of iterator) seen.push(event);
      })();
      const queued = await store.enqueue(scope, { id: 'r1' });
      const ended = await store.end(scope, 'r1');
      await until('two events', () => seen.length === 2);
      expect(seen).toEqual([
        { type: 'queued', scope, seq: 1, id: 'r1', run: queued },
        { type: 'ended', scope, seq: 2, id: 'r1', run: ended },
      ]);

      controller.abort(); // ends the pending next() and the loop
      await consumed;
      await until('the channel to be released', async () => {
        return (await subscribersOf(h.client, channel)) === 0;
      });
      expect(await iterator.next()).toEqual({ value: undefined, done: true });
    });

    it('releases its subscription when the loop breaks', async () => {
      const store = h.store();
      const hub = hubOn(h.client);
      const channel = channelOf(store, scope);
      for await (const event of hub.events(channel, scope)) {
        expect(event).toEqual({ type: 'gap', scope, reason: 'subscribed' });
        break;
      }
      await until('the channel to be released', async () => {
        return (await subscribersOf(h.client, channel)) === 0;
      });
    });

    it('does not subscribe when the signal is already aborted', async () => {
      const store = h.store();
      const hub = hubOn(h.client);
      const iterator = hub.events(channelOf(store, scope), scope, { signal: AbortSignal.abort() });
      expect(await iterator.next()).toEqual({ value: undefined, done: true });
      expect(hub.channelCount).toBe(0);
    });

    it('replaces what a lagging consumer did not read with one overflow gap', async () => {
      const store = h.store();
      const hub = hubOn(h.client);
      const channel = channelOf(store, scope);
      const iterator = hub.events(channel, scope, { bufferSize: 3 });
      const fence = recorder();
      await hub.subscribe(channel, scope, fence.handler);
      expect(await iterator.next()).toMatchObject({ value: { type: 'gap', reason: 'subscribed' } });

      await store.enqueue(scope, { id: 'r1' });
      await store.start(scope, 'r1');
      for (let i = 0; i < 5; i++) await store.progress(scope, 'r1', { data: { i } });
      // the fence handler is served in the same loop as the iterator: when it has the last event,
      // the iterator has been offered every event too
      await until('7 events', () => fence.changes().length === 7);

      const read: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { value } = await iterator.next();
        const event = value as RunEvent;
        read.push(event.type === 'gap' ? `gap:${event.reason}` : `${event.type}:${event.seq}`);
      }
      // 7 events into a buffer of 3 (the gap takes a slot): [1,2,3], 4 -> [gap,4], 5 -> [gap,4,5],
      // 6 -> [gap,6], 7 -> [gap,6,7]
      expect(read).toEqual(['gap:overflow', 'progress:6', 'progress:7']);

      // and it goes on
      await store.end(scope, 'r1');
      expect(await iterator.next()).toMatchObject({ value: { type: 'ended', seq: 8 } });
      await iterator.return!();
    });

    it('ends on close(), and the hub refuses new subscriptions', async () => {
      const store = h.store();
      const hub = hubOn(h.client);
      const channel = channelOf(store, scope);
      const iterator = hub.events(channel, scope);
      await iterator.next(); // subscribed
      const pending = iterator.next();
      await hub.close();
      expect(await pending).toEqual({ value: undefined, done: true });
      await expect(hub.subscribe(channel, scope, () => {})).rejects.toMatchObject({
        code: 'REDIS_UNAVAILABLE',
      });
      const late = hub.events(channel, scope);
      await expect(late.next()).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE' });
      // ioredis closes a Cluster's sharded subscriber sockets without waiting for them to go
      await until(
        'the subscription to go',
        async () => (await subscribersOf(h.client, channel)) === 0,
      );
      await hub.close(); // idempotent
    });
  });

  it('refuses a Cluster client without sharded pub/sub', () => {
    if (!(h.client instanceof Cluster)) return;
    expect(() => new RunEventHub(h.client, { sharded: false })).toThrow(ActiveRunsError);
  });
});

// Connection counting and killing: on a redis-server of this file's own (standalone), so nothing
// else's connections are counted or killed.
describe.runIf(!onCluster)('RunEventHub connection (own standalone server)', () => {
  let server: RedisServerHandle;
  let client: Redis;
  let admin: Redis;
  const prefixes: string[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    client = connect(server.url);
    admin = connect(server.url);
  });
  afterAll(async () => {
    for (const prefix of prefixes) await deletePrefix(admin, prefix);
    await client.quit();
    await admin.quit();
    await server.stop();
  });

  function ownStore() {
    const prefix = uniquePrefix('events');
    prefixes.push(prefix);
    return createActiveRunStore({ redis: client, prefix });
  }

  it('serves 1000 subscriptions over one connection', async () => {
    const store = ownStore();
    const before = (await clientList(admin)).length;
    const hub = hubOn(client, { connectionName: 'events-1000' });
    const shared = recorder();
    const own = Array.from({ length: 500 }, () => recorder());
    const scopes = own.map((_, i) => ({ workspaceId: 'w', projectId: `p${i}` }));
    await Promise.all([
      ...Array.from({ length: 500 }, () =>
        hub.subscribe(channelOf(store, scope), scope, shared.handler),
      ),
      ...own.map((rec, i) => hub.subscribe(channelOf(store, scopes[i]!), scopes[i]!, rec.handler)),
    ]);

    const clients = await clientList(admin);
    expect(clients.length).toBe(before + 1);
    const subscriber = clients.filter((c) => c.name === 'events-1000');
    expect(subscriber).toHaveLength(1);
    expect(subscriber[0]!.sub).toBe('501'); // channels: 1 shared + 500 own

    await store.enqueue(scope, { id: 'r1' });
    await store.enqueue(scopes[499]!, { id: 'r1' });
    await until('the event on all 500 shared handlers', () => shared.changes().length === 500);
    await until('the event on its own handler', () => own[499]!.changes().length === 1);
    expect(own.slice(0, 499).every((rec) => rec.changes().length === 0)).toBe(true);
  });

  it('re-subscribes by itself after its connection is killed, and tells handlers to refetch', async () => {
    const store = ownStore();
    const hub = hubOn(client, { connectionName: 'events-kill' });
    const channel = channelOf(store, scope);
    const rec = recorder();
    await hub.subscribe(channel, scope, rec.handler);
    await store.enqueue(scope, { id: 'r1' });
    await until('the first event', () => rec.changes().length === 1);
    const [victim] = (await clientList(admin)).filter((c) => c.name === 'events-kill');

    expect(await admin.call('CLIENT', 'KILL', 'ID', victim!.id!)).toBe(1);
    await until('the reconnected gap', () => rec.gaps().includes('reconnected'));
    // ioredis restored the subscription on a new connection before the gap was delivered
    const [replacement] = (await clientList(admin)).filter((c) => c.name === 'events-kill');
    expect(replacement!.id).not.toBe(victim!.id);
    expect(replacement!.sub).toBe('1');
    expect(await subscribersOf(admin, channel)).toBe(1);

    // a refetch now sees the state, and later events arrive
    expect(await store.get(scope, 'r1')).not.toBeNull();
    const started = await store.start(scope, 'r1');
    await until('the event after the reconnect', () => rec.changes().length === 2);
    expect(rec.changes()[1]).toEqual({ type: 'started', scope, seq: 2, id: 'r1', run: started });
    expect(rec.gaps()).toEqual(['subscribed', 'reconnected']);

    // CLIENT KILL TYPE pubsub too
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await until('the second reconnected gap', () => rec.gaps().length === 3);
    await store.end(scope, 'r1');
    await until('the ended event', () => rec.changes().length === 3);
    expect(rec.gaps()).toEqual(['subscribed', 'reconnected', 'reconnected']);
  });

  it('tells handlers and ends iterators when the connection ends for good', async () => {
    const store = ownStore();
    const oneShot = connect(server.url);
    oneShot.options.retryStrategy = () => null; // duplicated: the subscriber never reconnects
    try {
      const hub = hubOn(oneShot, { connectionName: 'events-oneshot' });
      const channel = channelOf(store, scope);
      const rec = recorder();
      await hub.subscribe(channel, scope, rec.handler);
      const iterator = hub.events(channel, scope);
      expect(await iterator.next()).toMatchObject({ value: { reason: 'subscribed' } });

      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await until('the disconnected gap', () => rec.gaps().includes('disconnected'));
      expect(await iterator.next()).toEqual({
        value: { type: 'gap', scope, reason: 'disconnected' },
        done: false,
      });
      expect(await iterator.next()).toEqual({ value: undefined, done: true });
      expect(hub.channelCount).toBe(0);

      // subscribing again opens a new connection
      const again = recorder();
      await hub.subscribe(channel, scope, again.handler);
      await store.enqueue(scope, { id: 'r1' });
      await until('the event on the new connection', () => again.changes().length === 1);
      expect(rec.changes()).toEqual([]);
    } finally {
      await oneShot.quit();
    }
  });

  it('close() quits its connection', async () => {
    const hub = hubOn(client, { connectionName: 'events-close' });
    const store = ownStore();
    await hub.subscribe(channelOf(store, scope), scope, () => {});
    expect((await clientList(admin)).filter((c) => c.name === 'events-close')).toHaveLength(1);
    await hub.close();
    await until('the connection to go', async () => {
      return (await clientList(admin)).every((c) => c.name !== 'events-close');
    });
  });
});

// On the cluster project: the scripts SPUBLISH on the scope's shard and the hub receives through
// a Cluster client's sharded subscribers (one connection per master).
describe.runIf(onCluster)('RunEventHub on Redis Cluster (sharded pub/sub)', () => {
  const cluster = () => h.client as Cluster;

  /** The hub's sharded subscribers (named `ioredis-cluster(ssubscriber):<name>`), or all its connections. */
  async function namedOnMasters(name: string, all = false): Promise<Record<string, string>[]> {
    const out: Record<string, string>[] = [];
    for (const node of cluster().nodes('master')) {
      for (const c of await clientList(node)) {
        if (c.name === `ioredis-cluster(ssubscriber):${name}` || (all && c.name === name))
          out.push({ ...c, node: `${node.options.host}:${node.options.port}` });
      }
    }
    return out;
  }

  it('serves 1000 subscriptions on every shard with one subscriber connection per master', async () => {
    const store = h.store();
    const masters = cluster().nodes('master').length;
    const scopes = await h.scopesOnDifferentShards(masters, 'ev');
    const name = `ev1000-${uniquePrefix('x').slice(-6)}`;
    const hub = hubOn(h.client, { connectionName: name });
    const recs = scopes.map(() => recorder());
    const extra = Array.from({ length: 1000 - masters }, (_, i) => ({
      workspaceId: 'many',
      projectId: `p${i}`,
    }));
    await Promise.all([
      ...scopes.map((s, i) => hub.subscribe(channelOf(store, s), s, recs[i]!.handler)),
      ...extra.map((s) => hub.subscribe(channelOf(store, s), s, () => {})),
    ]);

    const subscribers = await namedOnMasters(name);
    expect(subscribers).toHaveLength(masters);
    expect(new Set(subscribers.map((c) => c.node)).size).toBe(masters);
    expect(subscribers.reduce((n, c) => n + Number(c.ssub), 0)).toBe(1000);
    // plus the one command connection the duplicated Cluster client keeps (its ready check)
    expect(await namedOnMasters(name, true)).toHaveLength(masters + 1);

    // every shard's scripts SPUBLISH, and every shard's event arrives
    const runs = await Promise.all(scopes.map((s) => store.enqueue(s, { id: 'r1' })));
    await until('an event from every shard', () => recs.every((r) => r.changes().length === 1));
    recs.forEach((rec, i) => {
      expect(rec.changes()[0]).toEqual({
        type: 'queued',
        scope: scopes[i],
        seq: 1,
        id: 'r1',
        run: runs[i],
      });
    });

    await hub.close();
    await until(
      'its connections to go',
      async () => (await namedOnMasters(name, true)).length === 0,
    );
  });

  it('re-subscribes after its shard subscriber is killed, and tells handlers to refetch', async () => {
    const store = h.store();
    const name = `evkill-${uniquePrefix('x').slice(-6)}`;
    const hub = hubOn(h.client, { connectionName: name });
    const channel = channelOf(store, scope);
    const rec = recorder();
    await hub.subscribe(channel, scope, rec.handler);
    await store.enqueue(scope, { id: 'r1' });
    await until('the first event', () => rec.changes().length === 1);

    const victim = (await namedOnMasters(name)).find((c) => c.ssub === '1');
    expect(victim).toBeDefined();
    const node = cluster()
      .nodes('master')
      .find((n) => `${n.options.host}:${n.options.port}` === victim!.node)!;
    expect(await node.call('CLIENT', 'KILL', 'ID', victim!.id!)).toBe(1);

    await until('the reconnected gap', () => rec.gaps().includes('reconnected'));
    expect(await subscribersOf(h.client, channel)).toBe(1);
    const started = await store.start(scope, 'r1');
    await until('the event after the reconnect', () => rec.changes().length === 2);
    expect(rec.changes()[1]).toEqual({ type: 'started', scope, seq: 2, id: 'r1', run: started });
    expect(rec.gaps()).toEqual(['subscribed', 'reconnected']);
  });

  /** The hub's Cluster client and the sharded subscriber connection ioredis routes `channel` to. */
  function hubInternals(hub: RunEventHub, channel: string) {
    const sub = (hub as unknown as { sub: Cluster }).sub;
    const group = (
      sub as unknown as {
        shardedSubscribers: {
          channels: Map<number, string[]>;
          getResponsibleSubscriber(slot: number): { getInstance(): Redis };
        };
      }
    ).shardedSubscribers;
    return {
      sub,
      instance: () => group.getResponsibleSubscriber(calculateSlot(channel)).getInstance(),
      restoreEntries: () => [...group.channels.values()].reduce((n, list) => n + list.length, 0),
    };
  }

  it('re-subscribes by itself when its shard drops the subscription with no topology change, and tells handlers to refetch', async () => {
    // what a node does to its sharded subscribers when it loses the slot (failover, resharding),
    // while ioredis's slot map stays the same: an unrequested SUNSUBSCRIBE on the connection
    const store = h.store();
    const hub = hubOn(h.client);
    const channel = channelOf(store, scope);
    const rec = recorder();
    await hub.subscribe(channel, scope, rec.handler);
    const { instance } = hubInternals(hub, channel);
    const before = instance();
    await before.sunsubscribe(channel);

    await until('the reconnected gap', () => rec.gaps().includes('reconnected'));
    expect(instance()).toBe(before); // same connection, subscribed again by the hub
    expect(await subscribersOf(h.client, channel)).toBe(1);
    const run = await store.enqueue(scope, { id: 'r1' });
    await until('the event after the re-subscription', () => rec.changes().length === 1);
    expect(rec.changes()[0]).toEqual({ type: 'queued', scope, seq: 1, id: 'r1', run });
    expect(rec.gaps()).toEqual(['subscribed', 'reconnected']);
  });

  it('a burst of subscribersReady with nothing lost: no gap, no growth of the restore list', async () => {
    const store = h.store();
    const hub = hubOn(h.client);
    const channel = channelOf(store, scope);
    const rec = recorder();
    await hub.subscribe(channel, scope, rec.handler);
    const { sub, restoreEntries } = hubInternals(hub, channel);
    const entries = restoreEntries();
    for (let i = 0; i < 50; i++) sub.emit('subscribersReady');
    await new Promise((r) => setTimeout(r, 1_500)); // a periodic check included
    const run = await store.enqueue(scope, { id: 'r1' });
    await until('the event', () => rec.changes().length === 1);
    expect(rec.changes()[0]).toEqual({ type: 'queued', scope, seq: 1, id: 'r1', run });
    expect(rec.gaps()).toEqual(['subscribed']);
    expect(restoreEntries()).toBe(entries);
  });
});
