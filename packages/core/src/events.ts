/**
 * Live updates: change events of a scope, fanned out from one Redis subscriber per process.
 *
 * ## Mechanism: Redis pub/sub (classic on a standalone Redis, sharded on Redis Cluster)
 *
 * Every write script publishes its event itself (`PUBLISH`, or `SPUBLISH` on a Cluster) in the
 * same atomic script as the change: there is no event for a change that did not happen (a failed
 * or no-op call publishes nothing) and no change without its event. The event carries the run's
 * new state, so a viewer applies it without a read; a `heartbeat` carries only the new lease
 * deadline. A script publishes only while someone listens to the channel on its node (`PUBSUB
 * NUMSUB` / `SHARDNUMSUB`): a message no one receives would still be copied to every replica.
 *
 * Pub/sub is fire-and-forget: a message is delivered to the connections subscribed at that moment
 * and to no one else. That is the contract the design asks for ("a viewer that reconnects
 * refetches"), so the hub never tries to replay; it makes losses visible instead:
 * - every event carries the scope's sequence number (`seq`, +1 per event; a heartbeat carries the
 *   current one and is not checked against it); a handler receives a
 *   `gap` notice when the sequence jumps (`missed`) or goes backwards (`reset`: the scope's meta
 *   hash expired with the scope and the counter restarted);
 * - after the subscriber connection is re-established, every handler receives a `reconnected`
 *   gap, delivered only once the subscriptions are confirmed again, so a refetch triggered by it
 *   sees every change whose event was lost;
 * - the first thing every handler receives is a `subscribed` gap, once its subscription is live:
 *   a viewer loads its initial state then. So a consumer has one rule: on a gap, refetch; on a
 *   change, apply it. Events are delivered in publish order per scope, so applying them in order
 *   after a refetch converges on the stored state.
 *
 * Why not streams (`XADD` in the script, `XREAD` by viewers): they would make events replayable,
 * but every write would also append to (and trim) a stream key that is replicated and persisted
 * even when nobody watches, a blocking `XREAD` holds a connection per read and, on a Cluster,
 * can only read keys of one slot per call (one blocked connection per slot with viewers, or
 * polling). Viewers refetch on any gap anyway, so replay buys nothing the gap notices do not.
 *
 * Why sharded pub/sub on a Cluster: a classic `PUBLISH` is broadcast over the cluster bus to every
 * node, so its cost grows with the cluster; `SPUBLISH` stays inside the shard that owns the
 * channel's slot. The channel `<prefix>:{w:p}:events` carries the scope's hash tag, so it lives
 * in the same slot as the keys the script writes, which is what lets the script `SPUBLISH` it.
 * The hub subscribes through ioredis's sharded subscriber group (`shardedSubscribers: true` on a
 * duplicate of the store's Cluster client): one subscriber connection per master, because a
 * sharded message is only delivered by the shard that owns it; ioredis routes `SSUBSCRIBE` by
 * slot.
 *
 * ## Keeping sharded subscriptions alive (Cluster)
 *
 * ioredis (5.9) re-subscribes only when its periodic slot refresh sees a *changed* slot map, and
 * that is not enough: when a node loses a slot (failover, resharding), Redis drops the sharded
 * subscriptions of that slot and pushes a `SUNSUBSCRIBE` to the subscriber, which ioredis treats
 * as a stray reply (a "Command queue state error" `nodeError`) and otherwise ignores. Without
 * `slotsRefreshInterval` it never re-reads the map; with one, a failover and failback between two
 * refreshes leave the same map, and nothing is re-subscribed. And an `SSUBSCRIBE` that meets a
 * `MOVED` (sent on a stale map) is dropped by ioredis without being settled. So the hub does not
 * trust ioredis to restore its subscriptions; it checks them itself:
 * - each channel remembers the subscriber connection (`holder`) on which Redis confirmed it;
 * - a check compares, for every channel, that holder with the connection ioredis now routes the
 *   channel's slot to, and looks the channel up in that connection's own subscription set (which
 *   ioredis keeps from Redis's replies, including the pushed `SUNSUBSCRIBE`). A different
 *   connection (ioredis rebuilt it after a failover or a new slot map), a closed one or a missing
 *   channel means the subscription is gone: the channel is marked lost (its `lastSeq` cleared);
 * - the check is local (no Redis call, a hash lookup per channel), so it runs on every hint and
 *   on a timer: at once on a `nodeError` mentioning `sunsubscribe` (the pushed unsubscribe), on
 *   every `subscribersReady`, and every {@link CHECK_INTERVAL_MS} ms as a backstop for a signal
 *   missed (a push that ioredis matched with a pending command instead of reporting it);
 * - recovery re-reads the slot map (`refreshSlotsCache`: the loss usually means it is stale),
 *   then sends `SSUBSCRIBE` itself, straight on the subscriber connection that owns the slot,
 *   whatever ioredis decided, bounded by a timeout, retried with backoff (up to 1 s) until it is
 *   confirmed. Confirmed means: in that connection's set, and its node says it serves the slot as
 *   a master (`ROLE`, and a read of the slot without `MOVED`, asked on the store client's
 *   connection to it). The refreshed map may come from a node that has not heard of a failover
 *   yet, and a demoted master, now a replica of the new one, accepts the `SSUBSCRIBE` but misses
 *   the new master's messages: without this check the gap came first and the losses after it went
 *   unnoticed. The holders' nodes are asked again 300 ms and 1.3 s after a recovery; one that no
 *   longer serves the slot means lost again (another gap once back).
 *   Only once confirmed does each handler of that channel get its one `reconnected` gap, so its
 *   refetch sees every change whose event was lost. Sending on the connection itself does not
 *   append the channel again to ioredis's own list of channels to restore (the Cluster's
 *   `ssubscribe` does, without deduplication);
 * - recoveries are coalesced: one pass in flight, at most one more queued; a storm of
 *   `subscribersReady` (ioredis rebuilds a dead master's subscriber every ~60 ms until its replica
 *   is promoted) costs one refresh and one send per pass, and each handler gets one gap per
 *   channel loss, when the channel is back, not one per rebuild. Channels on untouched shards keep
 *   their holder and get no gap;
 * - a first subscription is confirmed the same way: its `SSUBSCRIBE` goes through the Cluster
 *   (ioredis routes it and records the channel), and if no confirmation came (a `MOVED` dropped
 *   it), the recovery pass re-sends it; `subscribe()` rejects with `TIMEOUT` (or
 *   `REDIS_UNAVAILABLE`) after the client's `commandTimeout` (5 s without one) instead of hanging;
 * - the hub's client re-reads the slot map every 5 s at least (`slotsRefreshInterval`, the
 *   client's own value if shorter), so a slot that leaves a node without any push is still noticed.
 * Why not ask Redis (`PUBSUB SHARDNUMSUB` on each owner) instead: it counts every process's
 * subscribers, not this connection's, costs a round trip per channel and shard, and the
 * pushed `SUNSUBSCRIBE` already keeps ioredis's per-connection set exact.
 *
 * Connections: one hub = one subscriber connection, created on the first subscribe and shared by
 * every subscription (on a Cluster: one subscriber per master, plus the one command connection
 * the duplicated Cluster client keeps); each channel is subscribed once, however many handlers
 * watch it, and unsubscribed when the last one leaves.
 *
 * Replication is asynchronous: an event can announce a write that a failover then loses. The
 * failover also takes down the shard's subscriber, so handlers get a `reconnected` gap and the
 * refetch shows what survived.
 *
 * @module
 */
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import type { ActiveRun } from './codec.js';
import { decodeRun } from './codec.js';
import { ActiveRunsError, fromRedisError } from './errors.js';
import type { Scope } from './keys.js';
import type { ActiveRunsLogger } from './logger.js';
import { silentLogger } from './logger.js';
import type { RedisLike } from './schemas.js';

/**
 * Kinds of change a write script publishes. Each carries the run, except `heartbeat`, which
 * carries only the run's new lease deadline (nothing else changed).
 */
export type RunChangeType = 'queued' | 'started' | 'progress' | 'heartbeat' | 'ended' | 'expired';

const CHANGE_TYPES: ReadonlySet<string> = new Set<RunChangeType>([
  'queued',
  'started',
  'progress',
  'heartbeat',
  'ended',
  'expired',
]);

/**
 * A change of one run, published by the script that made it. For `ended` and `expired`, `run` is
 * the run's last state (it is no longer active).
 */
export interface RunChangeEvent<TData = unknown> {
  type: Exclude<RunChangeType, 'heartbeat'>;
  /** The scope, as passed to `subscribe`. */
  scope: Scope;
  /** The scope's event sequence number: +1 per event of the scope. */
  seq: number;
  /** The run's id. */
  id: string;
  /** The run's state after the change. */
  run: ActiveRun<TData>;
}

/**
 * Why a handler may have missed changes; on any of them, refetch (`list`, `counts`).
 * - `subscribed`: the subscription is live (first notice of every handler): load the initial state.
 * - `missed`: the scope's sequence jumped forward: some events were not delivered.
 * - `reset`: the sequence went backwards or repeated (the scope's counter restarted after its
 *   keys expired).
 * - `reconnected`: the subscriber connection was lost and is subscribed again.
 * - `overflow`: an `events()` iterator fell more than `bufferSize` events behind; the events it
 *   had not read yet were dropped.
 * - `disconnected`: the subscriber connection ended for good (ioredis gave up reconnecting); no
 *   more events follow: subscribe again.
 */
export type RunGapReason =
  | 'subscribed'
  | 'missed'
  | 'reset'
  | 'reconnected'
  | 'overflow'
  | 'disconnected';

/** The handler may have missed changes of the scope: refetch. */
export interface RunGapEvent {
  type: 'gap';
  scope: Scope;
  reason: RunGapReason;
}

/**
 * A run's lease was renewed (`heartbeat`): only its `leaseExpiresAt` changed. Heartbeats do not
 * advance the scope's sequence (a lost one leaves only a deadline a few seconds stale, which the
 * next one corrects), so `seq` is that of the scope's last change before it.
 */
export interface RunHeartbeatEvent {
  type: 'heartbeat';
  /** The scope, as passed to `subscribe`. */
  scope: Scope;
  /** The scope's sequence number of the last change before this heartbeat. */
  seq: number;
  /** The run's id. */
  id: string;
  /** The run's new lease deadline (ms since the epoch, Redis clock). */
  leaseExpiresAt: number;
}

/** What a handler or an `events()` iterator receives. Treat it as read-only (it is shared). */
export type RunEvent<TData = unknown> = RunChangeEvent<TData> | RunHeartbeatEvent | RunGapEvent;

/** Receives the events of one scope. Errors (thrown or rejected) are logged and ignored. */
export type RunEventHandler<TData = unknown> = (event: RunEvent<TData>) => void | Promise<void>;

/** Stops a subscription; resolves once the channel is released if it was the last handler. */
export type Unsubscribe = () => Promise<void>;

/**
 * Decodes a published message `kind \n seq \n id \n leaseScore \n value` (value: see codec.ts;
 * for a heartbeat, the new lease deadline).
 * @throws ActiveRunsError `INTERNAL` when the message is not an event of this library.
 */
export function decodeRunEvent<TData = unknown>(
  message: string,
  scope: Scope,
): RunChangeEvent<TData> | RunHeartbeatEvent {
  const a = message.indexOf('\n');
  const b = a < 0 ? -1 : message.indexOf('\n', a + 1);
  const c = b < 0 ? -1 : message.indexOf('\n', b + 1);
  const d = c < 0 ? -1 : message.indexOf('\n', c + 1);
  const type = a < 0 ? '' : message.slice(0, a);
  const seq = Number(message.slice(a + 1, b));
  const minSeq = type === 'heartbeat' ? 0 : 1;
  if (d < 0 || !CHANGE_TYPES.has(type) || !Number.isSafeInteger(seq) || seq < minSeq) {
    throw new ActiveRunsError(
      'INTERNAL',
      `not a run event: ${JSON.stringify(message.slice(0, 80))}`,
    );
  }
  const id = message.slice(b + 1, c);
  const value = message.slice(d + 1);
  if (type === 'heartbeat') {
    const leaseExpiresAt = Number(value);
    if (!Number.isSafeInteger(leaseExpiresAt)) {
      throw new ActiveRunsError('INTERNAL', `malformed heartbeat event of run ${id}`);
    }
    return { type, scope, seq, id, leaseExpiresAt };
  }
  let run: ActiveRun<TData>;
  try {
    if (value.split('\n', 6).length !== 6) throw new Error('the run value has fewer than 6 parts');
    run = decodeRun<TData>(id, value);
  } catch (error) {
    throw new ActiveRunsError('INTERNAL', `malformed run in event of run ${id}`, { cause: error });
  }
  return { type: type as RunChangeEvent['type'], scope, seq, id, run };
}

/** Options of {@link RunEventHub}. */
export interface RunEventHubOptions {
  /**
   * Sharded pub/sub (`SSUBSCRIBE`): must match how the store publishes, which is `SPUBLISH` on a
   * Cluster and `PUBLISH` on a standalone Redis, so pass `client.isCluster`. Required (and the
   * only choice) on a Cluster.
   */
  sharded: boolean;
  /** Where warnings (handler errors, lost connections, malformed messages) go. */
  logger?: ActiveRunsLogger;
  /**
   * Default `bufferSize` of `events()` iterators.
   * @default 1000
   */
  bufferSize?: number;
  /**
   * `CLIENT SETNAME` of the subscriber connection, to find it in `CLIENT LIST` (on a Cluster the
   * subscribers are named `ioredis-cluster(ssubscriber):<connectionName>`).
   * @default 'active-runs-events'
   */
  connectionName?: string;
}

/** Options of {@link RunEventHub.events}. */
export interface RunEventIteratorOptions {
  /** Ends the iterator (and its subscription) when aborted. */
  signal?: AbortSignal;
  /**
   * Events buffered for a consumer that reads slower than they arrive. When one more arrives, the
   * unread ones are dropped and replaced by one `overflow` gap (then buffering resumes): a
   * consumer that lags refetches instead of working through stale events, and memory stays bounded.
   * @default the hub's bufferSize (1000)
   */
  bufferSize?: number;
}

interface Entry {
  readonly handler: RunEventHandler<never>;
  readonly scope: Scope;
  /** Receives events (false until its subscription is confirmed). */
  active: boolean;
  attached: boolean;
  /** Called when the hub stops delivering to it for good (close, connection ended). */
  readonly end?: () => void;
}

interface ChannelState {
  readonly channel: string;
  readonly scope: Scope;
  readonly entries: Set<Entry>;
  /** Seq of the last event seen on this channel; undefined after a (re)subscription. */
  lastSeq: number | undefined;
  /** Resolves when Redis confirmed the (S)SUBSCRIBE. */
  ready: Promise<unknown>;
  /** Cluster: the channel's slot. */
  readonly slot: number;
  /**
   * Cluster: the sharded subscriber connection on which Redis confirmed the subscription;
   * undefined until then, and again once the subscription is found gone.
   */
  holder: object | undefined;
  /** Cluster: the subscription was live, then lost: handlers get `reconnected` once it is back. */
  lost: boolean;
  /** Cluster: settles `ready` of a first subscription (undefined once settled). */
  settle: ((error?: unknown) => void) | undefined;
  /** Cluster: the last error of a (re)subscription attempt. */
  lastError: unknown;
  /** Cluster: `host:port` of the node that held the subscription when it was confirmed. */
  holderNode: string | undefined;
}

type Subscriber = Redis | Cluster;

/** How often the hub checks its sharded subscriptions (a local check, no Redis call). */
export const CHECK_INTERVAL_MS = 1_000;
/** Bound of one re-subscription attempt, and of a slot-map refresh it waits for. */
const ATTEMPT_TIMEOUT_MS = 1_000;
/** When the holders are asked again after a recovery (ms after it, then after the previous). */
const VERIFY_DELAYS_MS = [300, 1_000];
/** Longest slot-map refresh interval of the hub's Cluster client. */
const MAX_SLOTS_REFRESH_MS = 5_000;

/** What the hub reads of ioredis's (5.x) sharded subscriber group; internals, checked at runtime. */
interface SubscriberGroupLike {
  clusterSlots: string[][];
  shardedSubscribers: Map<string, { getInstance(): Redis | null }>;
}

/**
 * One subscriber connection per process (per hub), fanned out to any number of handlers.
 *
 * ```ts
 * const hub = new RunEventHub(redis, { sharded: redis.isCluster });
 * const stop = await hub.subscribe(keys.events, scope, (event) => {
 *   if (event.type === 'gap') refetch(); // also the first notice: load the initial state
 *   else apply(event.run);
 * });
 * ```
 */
export class RunEventHub {
  private readonly client: RedisLike;
  private readonly sharded: boolean;
  private readonly logger: ActiveRunsLogger;
  private readonly bufferSize: number;
  private readonly connectionName: string;
  private readonly channels = new Map<string, ChannelState>();
  private sub: Subscriber | undefined;
  /** The subscriber was ready at least once (standalone). */
  private wasReady = false;
  private closed = false;
  /** Cluster: how long `subscribe` waits for Redis's confirmation. */
  private readonly subscribeTimeoutMs: number;
  /** Cluster: the periodic subscription check. */
  private checkTimer: ReturnType<typeof setInterval> | undefined;
  /** Cluster: the recovery pass in flight, and whether another one is asked for. */
  private recovering: Promise<void> | undefined;
  private recoverAgain = false;
  /** Cluster: a re-verification of the holders is scheduled (after a recovery). */
  private verifyScheduled = false;

  /**
   * @param client the store's ioredis `Redis` or `Cluster` client; the hub never subscribes on it
   * (a subscribed connection can run nothing else), it duplicates it.
   */
  constructor(client: RedisLike, options: RunEventHubOptions) {
    if (typeof (client as unknown as { duplicate?: unknown }).duplicate !== 'function') {
      throw new ActiveRunsError(
        'INVALID_ARGUMENT',
        'client must be an ioredis Redis or Cluster client (it is duplicated for the subscriber).',
        { details: { field: 'client' } },
      );
    }
    if (client.isCluster && !options.sharded) {
      throw new ActiveRunsError(
        'INVALID_ARGUMENT',
        'options.sharded must be true on a Cluster: the store publishes with SPUBLISH there.',
        { details: { field: 'options.sharded' } },
      );
    }
    const bufferSize = options.bufferSize ?? 1000;
    checkBufferSize(bufferSize, 'options.bufferSize');
    this.client = client;
    this.sharded = options.sharded;
    this.logger = options.logger ?? silentLogger;
    this.bufferSize = bufferSize;
    this.connectionName = options.connectionName ?? 'active-runs-events';
    const commandTimeout = client.isCluster
      ? (client as unknown as Cluster).options.redisOptions?.commandTimeout
      : (client as unknown as Redis).options?.commandTimeout;
    this.subscribeTimeoutMs =
      typeof commandTimeout === 'number' && commandTimeout > 0
        ? Math.max(commandTimeout, ATTEMPT_TIMEOUT_MS)
        : 5_000;
  }

  /** Channels currently subscribed (or being subscribed), for metrics and tests. */
  get channelCount(): number {
    return this.channels.size;
  }

  /**
   * Calls `handler` with every event published on `channel` (the scope's `keys.events`) from now
   * on. Resolves once the subscription is live, right after the handler received its `subscribed`
   * gap: load the initial state after that, not before, or a change could fall in between.
   * @returns a function that stops this subscription (idempotent).
   * @throws ActiveRunsError `REDIS_UNAVAILABLE` / `TIMEOUT` when Redis did not confirm it.
   */
  async subscribe<TData = unknown>(
    channel: string,
    scope: Scope,
    handler: RunEventHandler<TData>,
  ): Promise<Unsubscribe> {
    return this.attach(channel, scope, handler as RunEventHandler<never>, undefined);
  }

  /**
   * The events of `channel` as an async iterator: first a `subscribed` gap once the subscription
   * is live, then changes and gaps. Ends when `signal` aborts, when the loop breaks (`return()`),
   * on `close()`, or after a `disconnected` gap; its subscription is released then.
   *
   * Bounded: a consumer that falls `bufferSize` events behind loses the unread ones, which are
   * replaced by one `overflow` gap (it should refetch), and the iterator goes on.
   * A subscription failure rejects the first pending `next()`.
   */
  events<TData = unknown>(
    channel: string,
    scope: Scope,
    options: RunEventIteratorOptions = {},
  ): AsyncIterableIterator<RunEvent<TData>> {
    const bufferSize = options.bufferSize ?? this.bufferSize;
    checkBufferSize(bufferSize, 'options.bufferSize');
    const iterator = new EventIterator<TData>(bufferSize, options.signal);
    if (!iterator.finished) {
      this.attach(
        channel,
        scope,
        ((event: RunEvent<TData>) => iterator.push(event)) as RunEventHandler<never>,
        () => iterator.finish(true),
      ).then(
        (unsubscribe) => iterator.setUnsubscribe(unsubscribe),
        (error: unknown) => iterator.fail(error),
      );
    }
    return iterator;
  }

  /**
   * Stops every subscription, ends the iterators and quits the subscriber connection (the hub
   * created it). Idempotent; `subscribe` fails afterwards.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopChecks();
    const states = [...this.channels.values()];
    this.channels.clear();
    for (const state of states) {
      state.settle?.(new ActiveRunsError('REDIS_UNAVAILABLE', 'subscribe: the event hub closed.'));
      for (const entry of state.entries) {
        entry.attached = false;
        entry.active = false;
        entry.end?.();
      }
    }
    const sub = this.sub;
    this.sub = undefined;
    if (sub) await quit(sub);
  }

  private async attach(
    channel: string,
    scope: Scope,
    handler: RunEventHandler<never>,
    end: (() => void) | undefined,
  ): Promise<Unsubscribe> {
    if (this.closed) {
      throw new ActiveRunsError('REDIS_UNAVAILABLE', 'the event hub is closed; create a new one.');
    }
    const sub = this.connection();
    let state = this.channels.get(channel);
    if (!state) {
      const created: ChannelState = {
        channel,
        scope,
        entries: new Set(),
        lastSeq: undefined,
        ready: Promise.resolve(),
        slot: this.client.isCluster ? calculateSlot(channel) : 0,
        holder: undefined,
        lost: false,
        settle: undefined,
        lastError: undefined,
        holderNode: undefined,
      };
      this.channels.set(channel, created);
      created.ready = this.client.isCluster
        ? this.subscribeOnCluster(sub as Cluster, created)
        : this.sendSubscribe(sub, [channel]);
      state = created;
    }
    const entry: Entry = { handler, scope, active: false, attached: true, end };
    state.entries.add(entry);
    try {
      await state.ready;
    } catch (error) {
      state.entries.delete(entry);
      entry.attached = false;
      if (this.channels.get(channel) === state) {
        // the subscription failed for every handler waiting on it; the next subscribe retries
        this.channels.delete(channel);
        // it may still succeed late (a timeout): do not leave it subscribed in Redis
        if (!this.closed && this.sub === sub) {
          withTimeout(this.sendUnsubscribe(sub, channel), this.subscribeTimeoutMs).catch(() => {});
        }
      }
      throw fromRedisError(error, 'subscribe', false);
    }
    const release: Unsubscribe = async () => {
      if (!entry.attached) return;
      entry.attached = false;
      entry.active = false;
      state.entries.delete(entry);
      if (state.entries.size > 0 || this.channels.get(channel) !== state) return;
      this.channels.delete(channel);
      if (this.closed || this.sub !== sub) return;
      try {
        await withTimeout(this.sendUnsubscribe(sub, channel), this.subscribeTimeoutMs);
      } catch (error) {
        this.logger.warn?.(
          { err: error, channel },
          'active-runs: unsubscribing from the events channel failed',
        );
      }
    };
    if (!entry.attached) {
      // the hub closed, or its connection ended, while Redis confirmed the subscription
      throw new ActiveRunsError('REDIS_UNAVAILABLE', 'subscribe: the event hub stopped meanwhile.');
    }
    entry.active = true;
    this.deliver(entry, { type: 'gap', scope, reason: 'subscribed' });
    return release;
  }

  /** The subscriber connection, created on first use. */
  private connection(): Subscriber {
    if (this.sub) return this.sub;
    const sub = this.client.isCluster
      ? duplicateCluster(this.client as unknown as Cluster, this.connectionName)
      : (this.client as unknown as Redis).duplicate({
          connectionName: this.connectionName,
          // the hub relies on these (a client may have turned them off for its own commands)
          enableOfflineQueue: true,
          autoResubscribe: true,
          autoResendUnfulfilledCommands: true,
        });
    this.sub = sub;
    this.wasReady = false;
    const onMessage = (channel: string, message: string) => this.onMessage(channel, message);
    sub.on(this.sharded ? 'smessage' : 'message', onMessage);
    sub.on('error', (error: unknown) => {
      this.logger.warn?.({ err: error }, 'active-runs: event subscriber connection error');
    });
    sub.on('end', () => this.onEnded(sub));
    if (this.client.isCluster) {
      const cluster = sub as Cluster;
      // ioredis's sharded subscriber group: a lost subscriber ends, the cluster refreshes its slots
      // and starts a new one, then emits subscribersReady (also after slot moves); which channels
      // that touched, the check tells (without ioredis's internals: all of them)
      cluster.on('subscribersReady', () => this.check(cluster, !subscriberGroup(cluster)));
      // the SUNSUBSCRIBE Redis pushes when the node lost the channel's slot (see the module doc)
      cluster.on('nodeError', (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        if (!/sunsubscribe/i.test(message)) return;
        this.logger.debug?.({ err: error }, 'active-runs: a shard dropped sharded subscriptions');
        this.check(cluster);
      });
      this.checkTimer = setInterval(() => this.check(cluster), CHECK_INTERVAL_MS);
      this.checkTimer.unref?.();
    } else {
      // ioredis reconnects by itself and re-subscribes (autoResubscribe) before emitting ready
      sub.on('close', () => {
        if (this.sub !== sub || this.closed) return;
        for (const state of this.channels.values()) state.lastSeq = undefined;
      });
      sub.on('ready', () => {
        if (this.sub !== sub) return;
        if (!this.wasReady) {
          this.wasReady = true;
          return;
        }
        void this.afterReconnect(sub);
      });
    }
    return sub;
  }

  /**
   * After a reconnect (standalone): subscribe every channel again (idempotent in Redis; ioredis
   * already did, but its replies are the proof) and only then tell every handler to refetch, so
   * the refetch cannot run before the subscription is back. (Cluster: see {@link check}.)
   */
  private async afterReconnect(sub: Subscriber): Promise<void> {
    const channels = [...this.channels.keys()];
    if (channels.length === 0) return;
    this.logger.info?.(
      { channels: channels.length },
      'active-runs: event subscriber reconnected; handlers will refetch',
    );
    try {
      await this.sendSubscribe(sub, channels);
    } catch (error) {
      this.logger.warn?.(
        { err: error, channels: channels.length },
        'active-runs: re-subscribing to events channels after a reconnect failed',
      );
    }
    if (this.closed || this.sub !== sub) return;
    for (const state of this.channels.values()) {
      this.deliverAll(state, { type: 'gap', scope: state.scope, reason: 'reconnected' });
    }
  }

  /**
   * Cluster: the first subscription of a channel. Sent through the Cluster (ioredis routes it by
   * slot and records the channel); settled by {@link confirm}, here or from a recovery pass that
   * re-sends it (a `MOVED` makes ioredis drop it unsettled); rejected after subscribeTimeoutMs.
   */
  private subscribeOnCluster(sub: Cluster, state: ChannelState): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = (error?: unknown) => {
        clearTimeout(timer);
        if (state.settle === settle) state.settle = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
      const timer = setTimeout(() => {
        if (state.settle !== settle) return;
        const cause = state.lastError;
        settle(
          cause === undefined
            ? new ActiveRunsError(
                'TIMEOUT',
                `subscribe: Redis did not confirm the subscription within ${this.subscribeTimeoutMs}ms (a failover or a slot move?); retry.`,
              )
            : fromRedisError(cause, 'subscribe', false),
        );
      }, this.subscribeTimeoutMs);
      state.settle = settle;
      sub.ssubscribe(state.channel).then(
        async () => {
          if (!(await this.confirm(sub, [state]))) this.recover(sub);
        },
        (error: unknown) => {
          state.lastError = error;
          this.recover(sub);
        },
      );
    });
  }

  /**
   * Cluster: the connection that holds the channel's subscription now, if Redis confirmed it
   * there: the subscriber ioredis routes the slot to, ready, with the channel in its own
   * subscription set. Without ioredis's internals (another version): the Cluster itself.
   */
  private holderOf(sub: Cluster, state: ChannelState): object | undefined {
    const group = subscriberGroup(sub);
    if (!group) return sub;
    const redis = instanceFor(group, state.slot);
    if (redis?.status !== 'ready') return undefined;
    return isSubscribed(redis, state.channel) ? redis : undefined;
  }

  /**
   * Cluster: Redis answered a (re)subscription of these channels (all of one slot); if they hold,
   * record where, settle a first subscribe, or tell the handlers of a lost one to refetch. False:
   * not confirmed (not in the connection's set, or its node does not serve the slot as a master).
   *
   * The node is asked (`ROLE`, and a read of the slot, which a node that does not own it answers
   * with `MOVED`) before anything is declared: the slot map the recovery routed by may come from a
   * node that has not heard of a failover yet, and a demoted master, now a replica of the new one,
   * accepts the `SSUBSCRIBE` without delivering the new master's messages (until the shard's
   * gossip catches up, events are lost, after the `reconnected` gap and with no other notice).
   */
  private async confirm(sub: Cluster, states: ChannelState[]): Promise<boolean> {
    const pending = () =>
      states.filter(
        (s) =>
          !this.closed &&
          this.sub === sub &&
          this.channels.get(s.channel) === s &&
          s.holder === undefined,
      );
    let todo = pending();
    if (todo.length === 0) return true;
    const first = todo[0] as ChannelState;
    const holder = this.holderOf(sub, first);
    if (!holder) return false;
    const node = this.nodeKeyOf(sub, first.slot);
    if (!(await this.servesSlot(sub, node, first.channel))) return false;
    todo = pending();
    let confirmed = true;
    for (const state of todo) {
      const now = this.holderOf(sub, state);
      if (now === undefined || now !== holder || this.nodeKeyOf(sub, state.slot) !== node) {
        confirmed = false;
        continue;
      }
      state.holder = holder;
      state.holderNode = node;
      state.lastError = undefined;
      if (state.settle) {
        state.settle();
      } else if (state.lost) {
        state.lost = false;
        this.deliverAll(state, { type: 'gap', scope: state.scope, reason: 'reconnected' });
        this.scheduleVerify(sub);
      }
    }
    return confirmed;
  }

  /** Cluster: `host:port` of the node ioredis routes the slot's subscriptions to. */
  private nodeKeyOf(sub: Cluster, slot: number): string | undefined {
    return subscriberGroup(sub)?.clusterSlots[slot]?.[0];
  }

  /**
   * Cluster: whether the node serves the channel's slot as a master, by its own account (`ROLE`
   * says master and a read of a key of the slot gets no `MOVED`), asked on the store client's
   * connection to it (the hub's if the store's client does not know the node). True without
   * ioredis's internals (nothing to ask).
   */
  private async servesSlot(
    sub: Cluster,
    node: string | undefined,
    channel: string,
  ): Promise<boolean> {
    if (!subscriberGroup(sub)) return true;
    if (node === undefined) return false;
    // the store's own client first: the hub's would open a (named) command connection per node
    const redis =
      commandConnection(this.client as unknown as Cluster, node) ?? commandConnection(sub, node);
    if (!redis || redis.status === 'end') return false;
    const role = withTimeout(redis.call('ROLE'), ATTEMPT_TIMEOUT_MS).then(
      (reply) => Array.isArray(reply) && String(reply[0]) === 'master',
      () => false,
    );
    // the channel name carries the scope's hash tag: a key of the same slot (read, never written)
    const serves = withTimeout(redis.exists(channel), ATTEMPT_TIMEOUT_MS).then(
      () => true,
      // ASK: the slot is migrating away, this node still owns it
      (error: unknown) => error instanceof Error && /^ASK /.test(error.message),
    );
    const [isMaster, owns] = await Promise.all([role, serves]);
    return isMaster && owns;
  }

  /**
   * Cluster: after a recovery, asks the holders' nodes again (shortly, then once more) whether
   * they still serve the slot as masters; a channel whose node no longer does is marked lost and
   * recovered (with another `reconnected` gap), so a subscription confirmed just before the node
   * learned of a failover is not left deaf.
   */
  private scheduleVerify(sub: Cluster): void {
    if (this.verifyScheduled) return;
    this.verifyScheduled = true;
    const delays = [...VERIFY_DELAYS_MS];
    const next = () => {
      const delay = delays.shift();
      if (delay === undefined) {
        this.verifyScheduled = false;
        return;
      }
      const timer = setTimeout(() => {
        this.verifyHolders(sub).then(next, next);
      }, delay);
      timer.unref?.();
    };
    next();
  }

  private async verifyHolders(sub: Cluster): Promise<void> {
    if (this.closed || this.sub !== sub) return;
    const byNode = new Map<string, ChannelState[]>();
    for (const state of this.channels.values()) {
      if (state.holder === undefined || state.holderNode === undefined) continue;
      const key = `${state.holderNode}/${state.slot}`;
      const group = byNode.get(key);
      if (group) group.push(state);
      else byNode.set(key, [state]);
    }
    let lost = 0;
    await Promise.all(
      [...byNode.values()].map(async (states) => {
        const first = states[0] as ChannelState;
        const node = first.holderNode;
        if (await this.servesSlot(sub, node, first.channel)) return;
        for (const state of states) {
          if (state.holder === undefined || state.holderNode !== node) continue;
          if (this.closed || this.sub !== sub || this.channels.get(state.channel) !== state) {
            continue;
          }
          state.holder = undefined;
          state.holderNode = undefined;
          state.lost = true;
          state.lastSeq = undefined;
          lost++;
        }
      }),
    );
    if (lost > 0) {
      this.logger.info?.(
        { channels: lost },
        'active-runs: a sharded subscription is on a node that no longer serves its slot; re-subscribing, handlers will refetch',
      );
      this.recover(sub);
    }
  }

  /**
   * Cluster: finds the channels whose subscription is gone (see the module doc), marks them lost
   * and starts a recovery pass for them and for first subscriptions not confirmed yet.
   * `everyone`: treat every subscription as gone (used when ioredis's internals are unknown).
   */
  private check(sub: Cluster, everyone = false): void {
    if (this.closed || this.sub !== sub) return;
    let unsynced = 0;
    let lost = 0;
    for (const state of this.channels.values()) {
      if (state.holder !== undefined) {
        if (!everyone && this.holderOf(sub, state) === state.holder) continue;
        state.holder = undefined;
        state.holderNode = undefined;
        state.lost = true;
        state.lastSeq = undefined;
        lost++;
      }
      unsynced++;
    }
    if (lost > 0) {
      this.logger.info?.(
        { channels: lost },
        'active-runs: sharded event subscriptions lost; re-subscribing, handlers will refetch',
      );
    }
    if (unsynced > 0) this.recover(sub);
  }

  /** Cluster: one recovery pass in flight, at most one more queued. */
  private recover(sub: Cluster): void {
    if (this.recovering) {
      this.recoverAgain = true;
      return;
    }
    this.recovering = this.recoverLoop(sub)
      .catch((error: unknown) => {
        this.logger.warn?.({ err: error }, 'active-runs: re-subscribing events channels failed');
      })
      .finally(() => {
        this.recovering = undefined;
        if (this.recoverAgain) {
          this.recoverAgain = false;
          this.check(sub);
        }
      });
  }

  /**
   * Cluster: re-reads the slot map, then (re)subscribes every channel without a holder on the
   * subscriber connection that owns its slot, until all are confirmed (backoff up to 1 s).
   */
  private async recoverLoop(sub: Cluster): Promise<void> {
    for (let round = 0; ; round++) {
      this.recoverAgain = false;
      if (this.closed || this.sub !== sub) return;
      if (![...this.channels.values()].some((s) => s.holder === undefined)) return;
      // the loss usually means the map is stale (a slot moved, a replica was promoted)
      await refreshSlots(sub, ATTEMPT_TIMEOUT_MS);
      if (this.closed || this.sub !== sub) return;
      const bySlot = new Map<number, ChannelState[]>();
      for (const state of this.channels.values()) {
        if (state.holder !== undefined) continue;
        const group = bySlot.get(state.slot);
        if (group) group.push(state);
        else bySlot.set(state.slot, [state]);
      }
      const group = subscriberGroup(sub);
      await Promise.all(
        [...bySlot].map(async ([slot, states]) => {
          // straight on the slot owner's subscriber: the Cluster's ssubscribe would append the
          // channels once more to ioredis's own restore list; without the internals, through it
          const target: Subscriber | undefined = group ? instanceFor(group, slot) : sub;
          // 'wait': ioredis has not started it (a command would connect it under its feet)
          if (!target || target.status === 'end' || target.status === 'wait') return;
          try {
            await withTimeout(
              target.ssubscribe(...states.map((s) => s.channel)),
              ATTEMPT_TIMEOUT_MS,
            );
          } catch (error) {
            for (const state of states) state.lastError = error;
            return;
          }
          await this.confirm(sub, states);
        }),
      );
      if (this.closed || this.sub !== sub) return;
      if (![...this.channels.values()].some((s) => s.holder === undefined)) return;
      await sleep(Math.min(100 * 2 ** round, 1_000));
    }
  }

  private stopChecks(): void {
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.checkTimer = undefined;
  }

  /** The connection ended for good (not by close()): handlers get a `disconnected` gap. */
  private onEnded(sub: Subscriber): void {
    if (this.closed || this.sub !== sub) return;
    this.logger.warn?.(
      { channels: this.channels.size },
      'active-runs: event subscriber connection ended; subscribe again to get events',
    );
    this.sub = undefined;
    this.stopChecks();
    const states = [...this.channels.values()];
    this.channels.clear();
    for (const state of states) {
      state.settle?.(
        new ActiveRunsError('REDIS_UNAVAILABLE', 'subscribe: the event hub stopped meanwhile.'),
      );
      const gap: RunGapEvent = { type: 'gap', scope: state.scope, reason: 'disconnected' };
      for (const entry of state.entries) {
        entry.attached = false;
        if (entry.active) this.deliver(entry, gap);
        entry.active = false;
        entry.end?.();
      }
    }
  }

  private onMessage(channel: string, message: string): void {
    const state = this.channels.get(channel);
    if (!state) return; // unsubscribed while the message was in flight
    let event: RunChangeEvent | RunHeartbeatEvent;
    try {
      event = decodeRunEvent(message, state.scope);
    } catch (error) {
      this.logger.warn?.({ err: error, channel }, 'active-runs: ignored a malformed event');
      return;
    }
    // heartbeats are outside the sequence: nothing to check
    if (event.type !== 'heartbeat') this.checkSequence(state, event.seq);
    this.deliverAll(state, event);
  }

  /** Tells the channel's handlers when the scope's sequence jumped or went back. */
  private checkSequence(state: ChannelState, seq: number): void {
    const last = state.lastSeq;
    state.lastSeq = seq;
    if (last !== undefined && seq !== last + 1) {
      this.logger.debug?.(
        { channel: state.channel, lastSeq: last, seq },
        'active-runs: event sequence gap',
      );
      this.deliverAll(state, {
        type: 'gap',
        scope: state.scope,
        reason: seq > last ? 'missed' : 'reset',
      });
    }
  }

  private deliverAll(state: ChannelState, event: RunEvent): void {
    for (const entry of state.entries) {
      if (!entry.active) continue;
      this.deliver(entry, entry.scope === state.scope ? event : { ...event, scope: entry.scope });
    }
  }

  private deliver(entry: Entry, event: RunEvent): void {
    try {
      const result = (entry.handler as RunEventHandler)(event);
      if (result && typeof result.then === 'function') {
        result.then(undefined, (error: unknown) => this.handlerFailed(error, event));
      }
    } catch (error) {
      this.handlerFailed(error, event);
    }
  }

  private handlerFailed(error: unknown, event: RunEvent): void {
    this.logger.warn?.({ err: error, type: event.type }, 'active-runs: an event handler failed');
  }

  private sendSubscribe(sub: Subscriber, channels: string[]): Promise<unknown> {
    if (!this.sharded) return (sub as Redis).subscribe(...channels);
    // SSUBSCRIBE takes channels of one slot per call
    const bySlot = new Map<number, string[]>();
    for (const channel of channels) {
      const slot = calculateSlot(channel);
      const group = bySlot.get(slot);
      if (group) group.push(channel);
      else bySlot.set(slot, [channel]);
    }
    return Promise.all([...bySlot.values()].map((group) => sub.ssubscribe(...group)));
  }

  private sendUnsubscribe(sub: Subscriber, channel: string): Promise<unknown> {
    return this.sharded ? sub.sunsubscribe(channel) : (sub as Redis).unsubscribe(channel);
  }
}

/**
 * A Cluster client of the same nodes and options with ioredis's sharded subscriber group on: one
 * subscriber per master, named `ioredis-cluster(ssubscriber):<connectionName>`.
 */
function duplicateCluster(cluster: Cluster, connectionName: string): Cluster {
  const interval = cluster.options.slotsRefreshInterval;
  return cluster.duplicate([], {
    shardedSubscribers: true,
    // a backstop for a slot that leaves a node without a pushed SUNSUBSCRIBE (see the module doc)
    slotsRefreshInterval:
      typeof interval === 'number' && interval > 0
        ? Math.min(interval, MAX_SLOTS_REFRESH_MS)
        : MAX_SLOTS_REFRESH_MS,
    redisOptions: { ...cluster.options.redisOptions, connectionName },
  });
}

/** ioredis's sharded subscriber group of the hub's Cluster client, if it looks as expected. */
function subscriberGroup(sub: Cluster): SubscriberGroupLike | undefined {
  const group = (sub as unknown as { shardedSubscribers?: Partial<SubscriberGroupLike> })
    .shardedSubscribers;
  if (!group || !Array.isArray(group.clusterSlots) || !(group.shardedSubscribers instanceof Map)) {
    return undefined;
  }
  return group as SubscriberGroupLike;
}

/** The subscriber connection ioredis routes `slot` to (undefined before the first slot map). */
function instanceFor(group: SubscriberGroupLike, slot: number): Redis | undefined {
  const nodeKey = group.clusterSlots[slot]?.[0];
  if (nodeKey === undefined) return undefined;
  return group.shardedSubscribers.get(nodeKey)?.getInstance() ?? undefined;
}

/** A Cluster client's command connection to the node `host:port`, if it has one. */
function commandConnection(cluster: Cluster, node: string): Redis | undefined {
  if (typeof cluster.nodes !== 'function') return undefined;
  return cluster
    .nodes('all')
    .find((redis) => `${redis.options.host}:${redis.options.port}` === node);
}

/** Whether ioredis's subscription set of the connection (kept from Redis's replies) has it. */
function isSubscribed(redis: Redis, channel: string): boolean {
  const set = (redis as unknown as { condition?: { subscriber?: unknown } }).condition?.subscriber;
  if (!set || typeof set !== 'object') return false;
  const table = (set as { set?: { ssubscribe?: Record<string, boolean> } }).set?.ssubscribe;
  if (table) return table[channel] === true;
  const channels = (set as { channels?: (kind: string) => string[] }).channels;
  return typeof channels === 'function' && channels.call(set, 'ssubscribe').includes(channel);
}

/** Re-reads the cluster's slot map; resolves when done or after `ms`. */
function refreshSlots(sub: Cluster, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    try {
      sub.refreshSlotsCache(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

/** `promise`, or a `Command timed out` rejection after `ms` (it may still settle later). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Command timed out')), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function checkBufferSize(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ActiveRunsError('INVALID_ARGUMENT', `${field} must be a positive integer.`, {
      details: { field },
    });
  }
}

async function quit(sub: Subscriber): Promise<void> {
  if (sub.status === 'end') return;
  if (sub.status !== 'ready') {
    sub.disconnect();
    return;
  }
  try {
    await sub.quit();
  } catch {
    sub.disconnect();
  }
}

/** The iterator of {@link RunEventHub.events}: a bounded queue in front of a handler. */
class EventIterator<TData> implements AsyncIterableIterator<RunEvent<TData>> {
  finished = false;
  private buffer: RunEvent<TData>[] = [];
  private waiter: ((result: IteratorResult<RunEvent<TData>>) => void) | undefined;
  private failWaiter: ((error: unknown) => void) | undefined;
  private error: unknown;
  private unsubscribe: Unsubscribe | undefined;
  private readonly onAbort = () => this.finish(false);

  constructor(
    private readonly bufferSize: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal?.aborted) this.finished = true;
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<RunEvent<TData>> {
    return this;
  }

  next(): Promise<IteratorResult<RunEvent<TData>>> {
    const item = this.buffer.shift();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.error !== undefined) {
      const error = this.error;
      this.error = undefined;
      return Promise.reject(error);
    }
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  return(): Promise<IteratorResult<RunEvent<TData>>> {
    this.finish(false);
    return Promise.resolve({ value: undefined, done: true });
  }

  push(event: RunEvent<TData>): void {
    if (this.finished) return;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      this.failWaiter = undefined;
      waiter({ value: event, done: false });
      return;
    }
    if (this.buffer.length >= this.bufferSize) {
      // the consumer lags: what it has not read is stale anyway, it will refetch
      this.buffer = [{ type: 'gap', scope: event.scope, reason: 'overflow' }];
      if (event.type === 'gap') return;
    }
    this.buffer.push(event);
  }

  setUnsubscribe(unsubscribe: Unsubscribe): void {
    if (this.finished) void unsubscribe();
    else this.unsubscribe = unsubscribe;
  }

  fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    const failWaiter = this.failWaiter;
    this.waiter = undefined;
    this.failWaiter = undefined;
    if (failWaiter) failWaiter(error);
    else this.error = error;
  }

  /** Ends the iterator; `drain`: what is buffered is still read first. */
  finish(drain: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    if (!drain) this.buffer = [];
    const waiter = this.waiter;
    this.waiter = undefined;
    this.failWaiter = undefined;
    waiter?.({ value: undefined, done: true });
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    if (unsubscribe) void unsubscribe();
  }
}
