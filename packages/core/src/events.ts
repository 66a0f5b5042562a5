/**
 * Live updates: change events of a scope, fanned out from one Redis subscriber per process.
 *
 * ## Mechanism: Redis pub/sub (classic on a standalone Redis, sharded on Redis Cluster)
 *
 * Every write script publishes its event itself (`PUBLISH`, or `SPUBLISH` on a Cluster) in the
 * same atomic script as the change: there is no event for a change that did not happen (a failed
 * or no-op call publishes nothing) and no change without its event. The event carries the run's
 * new state, so a viewer applies it without a read.
 *
 * Pub/sub is fire-and-forget: a message is delivered to the connections subscribed at that moment
 * and to no one else. That is the contract the design asks for ("a viewer that reconnects
 * refetches"), so the hub never tries to replay; it makes losses visible instead:
 * - every event carries the scope's sequence number (`seq`, +1 per event); a handler receives a
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
 * slot and re-subscribes after failovers and slot moves.
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

/** Kinds of change a write script publishes. */
export type RunChangeType = 'queued' | 'started' | 'progress' | 'ended' | 'expired';

const CHANGE_TYPES: ReadonlySet<string> = new Set<RunChangeType>([
  'queued',
  'started',
  'progress',
  'ended',
  'expired',
]);

/**
 * A change of one run, published by the script that made it. For `ended` and `expired`, `run` is
 * the run's last state (it is no longer active).
 */
export interface RunChangeEvent<TData = unknown> {
  type: RunChangeType;
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

/** What a handler or an `events()` iterator receives. Treat it as read-only (it is shared). */
export type RunEvent<TData = unknown> = RunChangeEvent<TData> | RunGapEvent;

/** Receives the events of one scope. Errors (thrown or rejected) are logged and ignored. */
export type RunEventHandler<TData = unknown> = (event: RunEvent<TData>) => void | Promise<void>;

/** Stops a subscription; resolves once the channel is released if it was the last handler. */
export type Unsubscribe = () => Promise<void>;

/**
 * Decodes a published message `kind \n seq \n id \n leaseScore \n value` (value: see codec.ts).
 * @throws ActiveRunsError `INTERNAL` when the message is not an event of this library.
 */
export function decodeRunEvent<TData = unknown>(
  message: string,
  scope: Scope,
): RunChangeEvent<TData> {
  const a = message.indexOf('\n');
  const b = a < 0 ? -1 : message.indexOf('\n', a + 1);
  const c = b < 0 ? -1 : message.indexOf('\n', b + 1);
  const d = c < 0 ? -1 : message.indexOf('\n', c + 1);
  const type = a < 0 ? '' : message.slice(0, a);
  const seq = Number(message.slice(a + 1, b));
  if (d < 0 || !CHANGE_TYPES.has(type) || !Number.isSafeInteger(seq) || seq < 1) {
    throw new ActiveRunsError(
      'INTERNAL',
      `not a run event: ${JSON.stringify(message.slice(0, 80))}`,
    );
  }
  const id = message.slice(b + 1, c);
  const value = message.slice(d + 1);
  let run: ActiveRun<TData>;
  try {
    if (value.split('\n', 6).length !== 6) throw new Error('the run value has fewer than 6 parts');
    run = decodeRun<TData>(id, value);
  } catch (error) {
    throw new ActiveRunsError('INTERNAL', `malformed run in event of run ${id}`, { cause: error });
  }
  return { type: type as RunChangeType, scope, seq, id, run };
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
}

type Subscriber = Redis | Cluster;

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
  /** The subscriber was ready (standalone) or its subscribers were (Cluster) at least once. */
  private wasReady = false;
  private closed = false;

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
    const states = [...this.channels.values()];
    this.channels.clear();
    for (const state of states) {
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
      state = {
        channel,
        scope,
        entries: new Set(),
        lastSeq: undefined,
        ready: this.sendSubscribe(sub, [channel]),
      };
      this.channels.set(channel, state);
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
        this.sendUnsubscribe(sub, channel).catch(() => {});
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
        await this.sendUnsubscribe(sub, channel);
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
      // ioredis's sharded subscriber group: a lost subscriber ends, the cluster refreshes its slots
      // and starts a new one, re-subscribes, then emits subscribersReady (also after slot moves)
      sub.on('subscribersReady', () => {
        if (this.sub !== sub) return;
        if (!this.wasReady) {
          this.wasReady = true;
          return;
        }
        for (const state of this.channels.values()) state.lastSeq = undefined;
        void this.afterReconnect(sub);
      });
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
   * After a reconnect: subscribe every channel again (idempotent in Redis; ioredis already did,
   * but its replies are the proof) and only then tell every handler to refetch, so the refetch
   * cannot run before the subscription is back.
   */
  private async afterReconnect(sub: Subscriber): Promise<void> {
    const channels = [...this.channels.keys()];
    if (channels.length === 0) return;
    this.logger.info?.(
      { channels: channels.length },
      'active-runs: event subscriber reconnected; handlers will refetch',
    );
    try {
      // On a Cluster this also appends the channels once more to ioredis's own list of channels to
      // restore (it does not deduplicate); Redis ignores repeated subscriptions, and the list is
      // cleared per channel on unsubscribe, so this costs a few bytes per channel per reconnect.
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

  /** The connection ended for good (not by close()): handlers get a `disconnected` gap. */
  private onEnded(sub: Subscriber): void {
    if (this.closed || this.sub !== sub) return;
    this.logger.warn?.(
      { channels: this.channels.size },
      'active-runs: event subscriber connection ended; subscribe again to get events',
    );
    this.sub = undefined;
    const states = [...this.channels.values()];
    this.channels.clear();
    for (const state of states) {
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
    let event: RunChangeEvent;
    try {
      event = decodeRunEvent(message, state.scope);
    } catch (error) {
      this.logger.warn?.({ err: error, channel }, 'active-runs: ignored a malformed event');
      return;
    }
    const last = state.lastSeq;
    state.lastSeq = event.seq;
    if (last !== undefined && event.seq !== last + 1) {
      this.logger.debug?.(
        { channel, lastSeq: last, seq: event.seq },
        'active-runs: event sequence gap',
      );
      this.deliverAll(state, {
        type: 'gap',
        scope: state.scope,
        reason: event.seq > last ? 'missed' : 'reset',
      });
    }
    this.deliverAll(state, event);
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
  return cluster.duplicate([], {
    shardedSubscribers: true,
    redisOptions: { ...cluster.options.redisOptions, connectionName },
  });
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
