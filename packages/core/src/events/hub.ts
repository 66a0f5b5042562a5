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
 * The cluster half (sharded subscriptions that a failover or a resharding silently drops) is
 * in cluster-resubscription.ts.
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
import { closeClient } from '../client.js';
import { ActiveRunsError, fromRedisError } from '../errors.js';
import type { Scope } from '../keys.js';
import type { ActiveRunsLogger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { RedisLike } from '../schemas.js';
import type { StoreTelemetry } from '../telemetry/store-telemetry.js';
import { createTelemetry } from '../telemetry/store-telemetry.js';
import type { ChannelState, Entry, Subscriber } from './channel.js';
import { ClusterResubscription } from './cluster-resubscription.js';
import { decodeRunEvent } from './codec.js';
import { ATTEMPT_TIMEOUT_MS, duplicateCluster, withTimeout } from './ioredis-cluster.js';
import { EventIterator } from './iterator.js';
import type {
  RunChangeEvent,
  RunEvent,
  RunEventHandler,
  RunEventHubOptions,
  RunEventIteratorOptions,
  RunGapEvent,
  RunHeartbeatEvent,
  Unsubscribe,
} from './types.js';

/** How long `close()` waits for Redis to answer QUIT by default. */
const CLOSE_TIMEOUT_MS = 1_000;

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
  private readonly telemetry: StoreTelemetry;
  private readonly bufferSize: number;
  private readonly connectionName: string;
  private readonly channels = new Map<string, ChannelState>();
  private sub: Subscriber | undefined;
  /** The subscriber was ready at least once (standalone). */
  private wasReady = false;
  private closed = false;
  /** Cluster: how long `subscribe` waits for Redis's confirmation. */
  private readonly subscribeTimeoutMs: number;
  /** Cluster: the checks and recoveries of the sharded subscriptions of the current `sub`. */
  private cluster: ClusterResubscription | undefined;

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
    this.telemetry = createTelemetry(options.telemetry);
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
    const iterator = new EventIterator<TData>(bufferSize, options.signal, () =>
      this.telemetry.gap('overflow', scope),
    );
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
   * created it), dropping it if Redis has not answered QUIT within `timeoutMs`. Idempotent;
   * `subscribe` fails afterwards.
   */
  async close({ timeoutMs = CLOSE_TIMEOUT_MS }: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopChecks();
    const states = [...this.channels.values()];
    this.channels.clear();
    for (const state of states) {
      state.settle?.(new ActiveRunsError('REDIS_UNAVAILABLE', 'subscribe: the event hub closed.'));
      for (const entry of state.entries) {
        entry.attached = false;
        this.deactivate(entry);
        entry.end?.();
      }
    }
    const sub = this.sub;
    this.sub = undefined;
    if (sub) await closeClient(sub as unknown as RedisLike, timeoutMs);
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
        ? (this.cluster as ClusterResubscription).subscribe(sub as Cluster, created)
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
      this.deactivate(entry);
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
    this.telemetry.subscribers(1, scope);
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
      this.cluster = new ClusterResubscription({
        client: this.client,
        channels: this.channels,
        logger: this.logger,
        subscribeTimeoutMs: this.subscribeTimeoutMs,
        isCurrent: (cluster) => !this.closed && this.sub === cluster,
        deliverAll: (state, event) => this.deliverAll(state, event),
      });
      this.cluster.start(sub as Cluster);
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

  private stopChecks(): void {
    this.cluster?.stop();
    this.cluster = undefined;
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
        this.deactivate(entry);
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

  /** A live subscription ends (unsubscribed, closed, or its connection gone for good). */
  private deactivate(entry: Entry): void {
    if (!entry.active) return;
    entry.active = false;
    this.telemetry.subscribers(-1, entry.scope);
  }

  private deliver(entry: Entry, event: RunEvent): void {
    if (event.type === 'gap' && event.reason !== 'subscribed') {
      this.telemetry.gap(event.reason, entry.scope);
    }
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

function checkBufferSize(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ActiveRunsError('INVALID_ARGUMENT', `${field} must be a positive integer.`, {
      details: { field },
    });
  }
}
