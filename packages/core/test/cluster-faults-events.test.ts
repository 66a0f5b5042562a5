import {
  connectCluster,
  deletePrefix,
  type RedisClusterHandle,
  type RedisClusterNode,
  startRedisCluster,
  uniquePrefix,
} from '@active-runs/test-utils';
import calculateSlot from 'cluster-key-slot';
import type { Cluster, ClusterOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ActiveRun,
  ActiveRunStore,
  RunChangeEvent,
  RunEvent,
  RunGapReason,
  RunHeartbeatEvent,
  Scope,
} from '../src/index.js';
import { createActiveRunStore, isActiveRunsError, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { sleep } from './harness.js';

/*
 * Live updates while the cluster changes under a viewer (3 masters + 3 replicas started here).
 *
 * A viewer subscribes through the store (`store.subscribe`) and follows the README's one rule:
 * on a gap, refetch (`list`); on a change, apply it. A writer keeps enqueuing, starting and ending
 * runs in the viewer's scope while one fault hits the master that owns the scope's slot. Checks:
 * - events of writes made after the fault still arrive (a marker run enqueued at the end);
 * - no event is missed *silently*: every seq the viewer did not get is followed by a gap notice
 *   (each write script publishes exactly one event with seq + 1, so the scope's final seq tells
 *   which ones it should have had);
 * - what the viewer shows at the end equals `list()`.
 * Timings are printed, not asserted.
 */

let cluster: RedisClusterHandle;
let client: Cluster;
const prefixes: string[] = [];
const stores: ActiveRunStore[] = [];
const clients: Cluster[] = [];

/** The client options the README recommends (slot map re-read every second). */
const CLIENT_OPTIONS: ClusterOptions = {
  slotsRefreshInterval: 1_000,
  retryDelayOnFailover: 200,
  retryDelayOnClusterDown: 200,
  retryDelayOnTryAgain: 100,
  retryDelayOnMoved: 0,
  maxRedirections: 64,
  redisOptions: { commandTimeout: 5_000 },
};

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  client = connectCluster(cluster.startupNodes, CLIENT_OPTIONS);
});

afterAll(async () => {
  for (const store of stores) await store.close().catch(() => {});
  for (const prefix of prefixes) await deletePrefix(client, prefix).catch(() => {});
  client?.disconnect();
  for (const c of clients) c.disconnect();
  await cluster?.stop();
});

/** A store on the shared client, or on its own client with these options. */
function newStore(options?: ClusterOptions): ActiveRunStore {
  const prefix = uniquePrefix('fevents');
  prefixes.push(prefix);
  let redis = client;
  if (options) {
    redis = connectCluster(cluster.startupNodes, { ...CLIENT_OPTIONS, ...options });
    clients.push(redis);
  }
  const store = createActiveRunStore({ redis, prefix });
  stores.push(store);
  return store;
}

const tagSlot = (scope: Scope) => calculateSlot(`${scope.workspaceId}:${scope.projectId}`);

/** A scope whose slot is in [first, last]. */
function scopeInSlots(label: string, first: number, last = first): Scope {
  for (let i = 0; i < 2_000_000; i++) {
    const scope = { workspaceId: `${label}${i}`, projectId: 'p' };
    const slot = tagSlot(scope);
    if (slot >= first && slot <= last) return scope;
  }
  throw new Error(`no scope in slots ${first}-${last}`);
}

async function listAll(store: ActiveRunStore, scope: Scope): Promise<ActiveRun[]> {
  const out: ActiveRun[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list(scope, { limit: 500, cursor });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

interface Received {
  /** ms since the viewer subscribed */
  at: number;
  event: RunEvent;
}

/**
 * A viewer as the README describes it: applies changes to its model; on a gap, refetches the
 * list, buffering the changes that arrive meanwhile and applying them on top of the snapshot.
 */
async function startViewer(store: ActiveRunStore, scope: Scope) {
  const t0 = performance.now();
  const log: Received[] = [];
  let model = new Map<string, ActiveRun>();
  let buffer: (RunChangeEvent | RunHeartbeatEvent)[] | null = null;
  let dirty = false;
  let refetching: Promise<void> | undefined;
  let refetches = 0;

  const apply = (e: RunChangeEvent | RunHeartbeatEvent) => {
    if (e.type === 'heartbeat') {
      const run = model.get(e.id);
      if (run) model.set(e.id, { ...run, leaseExpiresAt: e.leaseExpiresAt });
    } else if (e.type === 'ended' || e.type === 'expired') model.delete(e.id);
    else model.set(e.id, e.run as ActiveRun);
  };
  const refetchLoop = async () => {
    while (dirty) {
      dirty = false;
      buffer = [];
      try {
        const snapshot = await listAll(store, scope);
        refetches++;
        model = new Map(snapshot.map((r) => [r.id, r]));
        for (const e of buffer) apply(e);
      } catch {
        dirty = true; // a read failed during the fault: try again
        await sleep(200);
      }
    }
    buffer = null;
  };
  const unsubscribe = await store.subscribe(scope, (event) => {
    log.push({ at: performance.now() - t0, event });
    if (event.type === 'gap') {
      dirty = true;
      refetching ??= refetchLoop().finally(() => {
        refetching = undefined;
      });
    } else if (buffer) buffer.push(event);
    else apply(event);
  });
  return {
    t0,
    log,
    now: () => performance.now() - t0,
    unsubscribe,
    model: () => model,
    refetches: () => refetches,
    idle: async () => {
      while (refetching) await refetching;
    },
    changes: () =>
      log.filter((r): r is Received & { event: RunChangeEvent } => r.event.type !== 'gap'),
    gaps: () =>
      log
        .filter((r) => r.event.type === 'gap')
        .map((r) => ({ at: r.at, reason: (r.event as { reason: RunGapReason }).reason })),
  };
}
type Viewer = Awaited<ReturnType<typeof startViewer>>;

/** Writes in one scope: enqueue, start, end; every third run stays. No app retries. */
function startWriter(store: ActiveRunStore, scope: Scope, t0: number) {
  let stopped = false;
  let writes = 0;
  const errors: Record<string, number> = {};
  const acks: number[] = [];
  const op = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      writes++;
      acks.push(performance.now() - t0);
    } catch (error) {
      const code = isActiveRunsError(error) ? error.code : 'UNKNOWN';
      const message = error instanceof Error ? error.message : String(error);
      const kind = `${code}: ${message.replace(/\d+/g, 'N').slice(0, 80)}`;
      errors[kind] = (errors[kind] ?? 0) + 1;
    }
  };
  const running = (async () => {
    for (let n = 0; !stopped; n++) {
      const id = `run-${n}`;
      await op(() => store.enqueue(scope, { id, source: n % 2 ? 'api' : 'web', data: { n } }));
      await op(() => store.start(scope, id));
      if (n % 3 !== 0) await op(() => store.end(scope, id));
      await sleep(3);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await running;
      return { writes, errors, acks };
    },
  };
}

/** Longest interval without an entry in sorted times within [from, to]. */
function longestSilence(times: number[], from: number, to: number): number {
  let last = from;
  let longest = 0;
  for (const t of times) {
    if (t < from || t > to) continue;
    longest = Math.max(longest, t - last);
    last = t;
  }
  return Math.round(Math.max(longest, to - last));
}

/**
 * Missed seqs in (base, final], and those of them that no later gap notice covers: a missed
 * event is covered when a gap arrives after the last received change with a smaller seq (the
 * refetch it triggers then reads a state that includes the missed write).
 */
function missedSeqs(viewer: Viewer, base: number, final: number) {
  const received = new Set(viewer.changes().map((r) => r.event.seq));
  const missed: number[] = [];
  const silent: number[] = [];
  for (let seq = base + 1; seq <= final; seq++) {
    if (received.has(seq)) continue;
    missed.push(seq);
    let lastBefore = -1;
    viewer.log.forEach((r, i) => {
      if (r.event.type !== 'gap' && r.event.seq < seq) lastBefore = i;
    });
    const covered = viewer.log.some((r, i) => i > lastBefore && r.event.type === 'gap');
    if (!covered) silent.push(seq);
  }
  return { missed, silent };
}

const ranges = (seqs: number[]) => {
  const out: string[] = [];
  for (let i = 0; i < seqs.length; ) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
    out.push(i === j ? `${seqs[i]}` : `${seqs[i]}-${seqs[j]}`);
    i = j + 1;
  }
  return out.join(',') || 'none';
};

/** The Cluster client the store's event hub duplicated (its sharded subscriber group). */
const hubClient = (store: ActiveRunStore) =>
  (store as unknown as { hub?: { sub?: Cluster } }).hub?.sub;

/**
 * What the hub's own Cluster client did, for the printout (diagnostics only): each kind of
 * notice with its count and first / last time (a dead node is retried every ~50 ms).
 */
function watchHubClient(sub: Cluster | undefined, now: () => number): () => string {
  const seen = new Map<string, { n: number; first: number; last: number }>();
  const note = (what: string) => {
    const t = Math.round(now());
    const entry = seen.get(what);
    if (entry) {
      entry.n++;
      entry.last = t;
    } else seen.set(what, { n: 1, first: t, last: t });
  };
  sub?.on('subscribersReady', () => note('subscribersReady'));
  sub?.on('-subscriber', () => note('-subscriber'));
  sub?.on('+subscriber', () => note('+subscriber'));
  sub?.on('nodeError', (error: Error) =>
    note(`nodeError "${error.message.replace(/ If you can.*Last reply:/, '').slice(0, 60)}"`),
  );
  return () =>
    [...seen]
      .map(([what, { n, first, last }]) =>
        n === 1 ? `${what} @${first}ms` : `${what} x${n} @${first}..${last}ms`,
      )
      .join('; ') || 'nothing';
}

/** Channel entries in ioredis's list of sharded channels to restore (it does not deduplicate). */
function groupChannelEntries(sub: Cluster | undefined): number {
  const group = (sub as unknown as { shardedSubscribers?: { channels: Map<number, string[]> } })
    ?.shardedSubscribers;
  let n = 0;
  for (const list of group?.channels.values() ?? []) n += list.length;
  return n;
}

async function shardSubscribers(node: RedisClusterNode, channel: string): Promise<number> {
  const reply = (await cluster.command(node, 'PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

interface Outcome {
  /** The marker written after the fault reached the viewer (or it was told it is cut off). */
  resumed: boolean;
  missed: number[];
  silent: number[];
  modelMatches: boolean;
  /** Gaps of the control viewer (a scope on another master), if any. */
  controlGaps: number;
  /** Gaps of the viewer after its `subscribed` one. */
  gaps: number;
  /** Entries in ioredis's list of sharded channels to restore, at the end. */
  channelEntries: number;
}

interface ScenarioOptions {
  /** Options of the store's own client (default: the shared client, README options). */
  clientOptions?: ClusterOptions;
  /** A second viewer, of a scope on a master the fault does not touch. */
  control?: Scope;
  /** How long to wait for the marker's event. @default 5000 */
  markerWaitMs?: number;
}

/**
 * Subscribes a viewer, runs the writer, injects `fault` (it returns the scope slot's owner
 * afterwards), writes a marker run, then prints and returns what the viewer saw.
 */
async function scenario(
  name: string,
  scope: Scope,
  fault: (hub: Cluster | undefined) => Promise<RedisClusterNode>,
  options: ScenarioOptions = {},
): Promise<Outcome> {
  const store = newStore(options.clientOptions);
  const keys = scopeKeys(store.prefix, parseScope(scope));
  const viewer = await startViewer(store, scope);
  const control = options.control ? await startViewer(store, options.control) : undefined;
  const hub = hubClient(store);
  const hubNotes = watchHubClient(hub, viewer.now);
  const base = Number((await client.hget(keys.meta, 'seq')) ?? 0);
  const writer = startWriter(store, scope, viewer.t0);
  await sleep(1_000);

  const faultAt = viewer.now();
  const owner = await fault(hub);
  const faultDoneAt = viewer.now();
  await sleep(1_500);
  const load = await writer.stop();
  const loadEnd = viewer.now();

  // a write after the fault: its event must arrive, unless the viewer was told it is cut off
  const markerAt = viewer.now();
  await store.enqueue(scope, { id: 'marker' });
  if (options.control) await store.enqueue(options.control, { id: 'marker' });
  const deadline = Date.now() + (options.markerWaitMs ?? 5_000);
  const disconnected = () => viewer.gaps().some((g) => g.reason === 'disconnected');
  while (
    Date.now() < deadline &&
    !disconnected() &&
    !viewer.changes().some((r) => r.event.id === 'marker')
  ) {
    await sleep(10);
  }
  const marker = viewer.changes().find((r) => r.event.id === 'marker');
  const final = Number(await client.hget(keys.meta, 'seq'));
  // anything still in flight (a last reconnected gap) settles
  await sleep(300);
  await viewer.idle();
  await control?.idle();

  const { missed, silent } = missedSeqs(viewer, base, final);
  const byId = (a: ActiveRun, b: ActiveRun) => a.id.localeCompare(b.id);
  const stored = (await listAll(store, scope)).sort(byId);
  const shown = [...viewer.model().values()].sort(byId);
  const modelMatches = JSON.stringify(shown) === JSON.stringify(stored);
  const changeTimes = viewer.changes().map((r) => r.at);
  const firstAfterFault = changeTimes.find((t) => t > faultAt);
  const firstAfterDone = changeTimes.find((t) => t > faultDoneAt);
  const subsOnOwner = await shardSubscribers(owner, keys.events);
  const r = Math.round;
  const gaps = viewer.gaps().map((g) => `${g.reason}@${r(g.at - faultAt)}ms`);
  const gapText =
    gaps.length > 6
      ? `${gaps.length}: ${gaps.slice(0, 3).join(',')} ... ${gaps.slice(-2).join(',')}`
      : gaps.join(',');

  console.log(
    `[cluster-faults-events] ${name}: fault took ${r(faultDoneAt - faultAt)}ms; writes acked=${load.writes}, write errors=${JSON.stringify(load.errors)}; ` +
      `events received=${viewer.changes().length} of ${final - base} published (seq ${base + 1}-${final}), missed=${missed.length} [${ranges(missed)}], SILENTLY missed=${silent.length} [${ranges(silent)}]; ` +
      `gaps (ms from fault start) ${gapText}; refetches=${viewer.refetches()}; ` +
      `longest time without events=${longestSilence(changeTimes, faultAt - 500, loadEnd)}ms (writer's longest pause ${longestSilence(load.acks, faultAt - 500, loadEnd)}ms); ` +
      `first event after fault start +${firstAfterFault === undefined ? 'none' : r(firstAfterFault - faultAt)}ms, after fault done +${firstAfterDone === undefined ? 'none' : r(firstAfterDone - faultDoneAt)}ms; ` +
      `marker event ${marker ? `after ${r(marker.at - markerAt)}ms` : 'NEVER ARRIVED'}; viewer shows ${shown.length} runs, list() ${stored.length}, equal=${modelMatches}; ` +
      `SHARDNUMSUB of the channel on its owner ${owner.port}=${subsOnOwner}`,
  );
  if (control) {
    console.log(
      `[cluster-faults-events] ${name}: control viewer (scope on another master): ${control.gaps().length} gaps (${[...new Set(control.gaps().map((g) => g.reason))].join(',')}), refetches=${control.refetches()}, marker ${control.changes().some((e) => e.event.id === 'marker') ? 'arrived' : 'missing'}`,
    );
  }
  console.log(
    `[cluster-faults-events] ${name}: hub client (ms since subscribe): ${hubNotes()}; ioredis channel entries to restore=${groupChannelEntries(hub)} for ${control ? 2 : 1} channel(s)`,
  );
  const channelEntries = groupChannelEntries(hub);
  await viewer.unsubscribe();
  await control?.unsubscribe();
  return {
    gaps: viewer.gaps().filter((g) => g.reason !== 'subscribed').length,
    channelEntries,
    resumed: marker !== undefined || disconnected(),
    missed,
    silent,
    modelMatches,
    controlGaps: control?.gaps().length ?? 0,
  };
}

/** Resolves on the client's next slot-map refresh (bounded). */
function nextRefresh(sub: Cluster, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sub.off('refresh', done);
      resolve(false);
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    sub.once('refresh', done);
  });
}

function expectNoSilentLoss(outcome: Outcome): void {
  expect(outcome.resumed).toBe(true);
  expect(outcome.silent).toEqual([]);
  expect(outcome.modelMatches).toBe(true);
  // a few gaps per recovery, not one per ioredis subscriber rebuild
  expect(outcome.gaps).toBeLessThanOrEqual(6);
}

describe('live updates through cluster faults (3 masters + 3 replicas)', () => {
  it('manual failover of the scope master: events resume, no change is missed silently', async () => {
    const scope = scopeInSlots('fo-', 0, 16383);
    const owner = await cluster.masterOfSlot(tagSlot(scope));
    const [replica] = await cluster.replicasOf(owner);
    expect(replica).toBeDefined();
    const outcome = await scenario('failover', scope, async () => {
      await cluster.failover(replica!);
      return cluster.masterOfSlot(tagSlot(scope));
    });
    expect(replica!.role).toBe('master');
    expectNoSilentLoss(outcome);
  });

  it('resharding the scope slot to another master: events resume, no change is missed silently', async () => {
    const [from, to] = (await cluster.masters()) as [RedisClusterNode, RedisClusterNode];
    // redis-cli moves the source's lowest slots first: put the scope in the lowest one
    const first = Math.min(...from.slots.map(([a]) => a));
    const scope = scopeInSlots('rs-', first);
    const outcome = await scenario('reshard', scope, async () => {
      await cluster.reshard({ from, to, slots: 1 });
      const owner = await cluster.masterOfSlot(first);
      expect(owner.id).toBe(to.id);
      return owner;
    });
    expectNoSilentLoss(outcome);
  });

  // BUG (events.ts relies on ioredis noticing the topology change): ioredis ignores the
  // SUNSUBSCRIBE that Redis pushes when the slot leaves the node, and with its default options
  // (no slotsRefreshInterval) the hub's client never re-reads the slot map: it stays on the old
  // node, unsubscribed, and the viewer gets neither events nor a gap. Fails today.
  it('manual failover with ioredis default slot refresh (none): the viewer gets events or a gap', async () => {
    const scope = scopeInSlots('fo-default-', 0, 16383);
    const owner = await cluster.masterOfSlot(tagSlot(scope));
    const [replica] = await cluster.replicasOf(owner);
    expect(replica).toBeDefined();
    const outcome = await scenario(
      'failover, client without slotsRefreshInterval',
      scope,
      async () => {
        await cluster.failover(replica!);
        return cluster.masterOfSlot(tagSlot(scope));
      },
      { clientOptions: { slotsRefreshInterval: 0 }, markerWaitMs: 3_000 },
    );
    expectNoSilentLoss(outcome);
  });

  // BUG: same cause, with the README's client options. A failover and a failback (or a slot
  // moved away and back) between two slot-map refreshes: the map ioredis reads next is the one
  // it had, so it resubscribes nothing, while the node unsubscribed the hub when it lost the slot.
  // The viewer is deaf for good, with no gap. Deterministic here with a 5 s refresh interval; with
  // 1 s it is a race. Fails today.
  it('failover and failback between two slot-map refreshes: the viewer gets events or a gap', async () => {
    const scope = scopeInSlots('fo-back-', 0, 16383);
    const owner = await cluster.masterOfSlot(tagSlot(scope));
    const [replica] = await cluster.replicasOf(owner);
    expect(replica).toBeDefined();
    let refreshedBetween = false;
    const outcome = await scenario(
      'failover + failback, slotsRefreshInterval 5000',
      scope,
      async (hub) => {
        // start right after a refresh, so both failovers fit before the next one
        await nextRefresh(hub!, 6_000);
        const began = Date.now();
        let refreshes = 0;
        const count = () => refreshes++;
        hub!.on('refresh', count);
        await cluster.failover(replica!);
        await cluster.failover(owner);
        hub!.off('refresh', count);
        refreshedBetween = refreshes > 0;
        console.log(
          `[cluster-faults-events] failover + failback took ${Date.now() - began}ms, hub refreshed its slot map ${refreshes} times meanwhile`,
        );
        // the next refresh sees the same map as before
        await nextRefresh(hub!, 6_000);
        return cluster.masterOfSlot(tagSlot(scope));
      },
      { clientOptions: { slotsRefreshInterval: 5_000 }, markerWaitMs: 2_000 },
    );
    expect(owner.role).toBe('master');
    // The scenario was built so that the client's periodic refresh does not run between the
    // failover and the failback; the hub now refreshes the map itself when it sees its
    // subscription dropped, so a refresh in between is expected and only printed.
    console.log(`[cluster-faults-events] refreshed between: ${refreshedBetween}`);
    expectNoSilentLoss(outcome);
  });

  // BUG: a subscribe while the hub's slot map is stale (up to slotsRefreshInterval after a slot
  // moved, forever without one) goes to the old owner, which answers MOVED; ioredis
  // (DataHandler.returnError) then drops the SSUBSCRIBE command without settling it, so
  // `store.subscribe` never resolves and its handler never gets anything (ioredis does subscribe
  // the channel on the new owner after the refresh the MOVED triggers, but the hub still waits for
  // the dropped reply). Here with the README's client options: a 1-slot reshard right after the
  // hub's client refreshed its slot map, then a subscribe. Fails today.
  it('subscribing to a scope whose slot just moved resolves and delivers its events', async () => {
    const store = newStore();
    const [from, to, third] = (await cluster.masters()) as [
      RedisClusterNode,
      RedisClusterNode,
      RedisClusterNode,
    ];
    // the hub exists (another viewer) and has read the slot map
    const other = await startViewer(store, scopeInSlots('sub-other-', ...third.slots[0]!));
    const lowest = Math.min(...from.slots.map(([a]) => a));
    const scope = scopeInSlots('sub-moved-', lowest);
    await nextRefresh(hubClient(store)!, 3_000);
    const moveBegan = performance.now();
    await cluster.cli([
      '--cluster',
      'reshard',
      `${from.host}:${from.port}`,
      '--cluster-from',
      from.id,
      '--cluster-to',
      to.id,
      '--cluster-slots',
      '1',
      '--cluster-yes',
    ]);
    const began = performance.now();
    const received: RunEvent[] = [];
    const subscribed = store.subscribe(scope, (e) => {
      received.push(e);
    });
    const result = await Promise.race([
      subscribed.then(() => `resolved after ${Math.round(performance.now() - began)}ms`),
      sleep(5_000).then(() => undefined),
    ]);
    await store.enqueue(scope, { id: 'r1' });
    await sleep(500);
    await cluster.waitUntilHealthy();
    const owner = await cluster.masterOfSlot(lowest);
    console.log(
      `[cluster-faults-events] subscribe right after a slot move (reshard took ${Math.round(began - moveBegan)}ms): ${result ?? 'STILL PENDING after 5000ms'}; ` +
        `handler received ${JSON.stringify(received.map((e) => (e.type === 'gap' ? `gap:${e.reason}` : `${e.type}:${e.seq}`)))}; ` +
        `SHARDNUMSUB of the channel on the new owner=${await shardSubscribers(owner, scopeKeys(store.prefix, parseScope(scope)).events)}; ` +
        `the other viewer got gaps ${JSON.stringify(other.gaps().map((g) => g.reason))}`,
    );
    await other.unsubscribe();
    expect(owner.id).toBe(to.id);
    expect(result).toBeDefined();
    expect(received.map((e) => e.type)).toEqual(['gap', 'queued']);
  });

  it('the scope master killed (SIGKILL): events resume after promotion, no change is missed silently', async () => {
    const scope = scopeInSlots('kill-', 0, 16383);
    const victim = await cluster.masterOfSlot(tagSlot(scope));
    expect(await cluster.replicasOf(victim)).toHaveLength(1);
    const other = (await cluster.masters()).find((m) => m.id !== victim.id)!;
    const outcome = await scenario(
      'kill',
      scope,
      async () => {
        await cluster.kill(victim);
        return cluster.waitForPromotion(victim);
      },
      { control: scopeInSlots('kill-control-', ...other.slots[0]!) },
    );
    expectNoSilentLoss(outcome);
    // the shard that did not fail keeps its subscription: its viewer is not asked to refetch
    expect(outcome.controlGaps).toBeLessThanOrEqual(1);
    // ioredis's restore list does not grow with every recovery (2 channels)
    expect(outcome.channelEntries).toBeLessThanOrEqual(2);
  });
});
