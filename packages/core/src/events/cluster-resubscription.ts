/**
 * Keeping sharded subscriptions alive on a Redis Cluster: the hub's cluster half.
 *
 * What ioredis 6.0 does, and why it is not enough. ioredis re-subscribes a sharded channel only
 * when a slot-map refresh finds a *changed* map (its subscriber group skips the reset otherwise).
 * 6.0 fixed two of the gaps that once made this module necessary: the `SUNSUBSCRIBE` that Redis
 * pushes when a node loses a slot is no longer taken for the reply of another command (it was a
 * "Command queue state error" `nodeError` up to 5.x; fixed by redis/ioredis#2127), it now
 * triggers a slot-map refresh; and an `SSUBSCRIBE` answered `MOVED` is settled and refreshes the
 * map (redis/ioredis#2013, in 5.10). But a failover and a failback between two refreshes, or any
 * loss after which the map reads the same again, still leave the channel unsubscribed with
 * nothing re-subscribed: measured with ioredis 6.0.0 and this module's checks turned off, the
 * "failover and failback between two slot-map refreshes" test of cluster-faults-events.test.ts
 * missed 3,944 events silently (the other fault tests passed on ioredis alone). No upstream issue
 * tracks it that we found (the nearest are redis/ioredis#1957 and #2021, re-subscription on a
 * changed map). And a demoted master accepts an `SSUBSCRIBE` it will never deliver (Redis side:
 * redis/redis#12558, #12577). So the hub does not trust ioredis to restore its subscriptions; it
 * checks them itself:
 * - each channel remembers the subscriber connection (`holder`) on which Redis confirmed it;
 * - a check compares, for every channel, that holder with the connection ioredis now routes the
 *   channel's slot to, and looks the channel up in that connection's own subscription set (which
 *   ioredis keeps from Redis's replies, including the pushed `SUNSUBSCRIBE`). A different
 *   connection (ioredis rebuilt it after a failover or a new slot map), a closed one or a missing
 *   channel means the subscription is gone: the channel is marked lost (its `lastSeq` cleared);
 * - the check is local (no Redis call, a hash lookup per channel), so it runs on every hint and
 *   on a timer: on every `subscribersReady` (ioredis re-subscribed after a changed map), and every
 *   {@link CHECK_INTERVAL_MS} ms for the losses ioredis does not act on (the pushed
 *   `SUNSUBSCRIBE` is not public in ioredis 6: it only triggers its own refresh);
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
 *   `ssubscribe` does, without deduplication, still in 6.0.0; no upstream issue found);
 * - recoveries are coalesced: one pass in flight, at most one more queued; a storm of
 *   `subscribersReady` (ioredis rebuilds a dead master's subscriber every ~60 ms until its replica
 *   is promoted) costs one refresh and one send per pass, and each handler gets one gap per
 *   channel loss, when the channel is back, not one per rebuild. Channels on untouched shards keep
 *   their holder and get no gap;
 * - a first subscription is confirmed the same way: its `SSUBSCRIBE` goes through the Cluster
 *   (ioredis routes it and records the channel), and if no confirmation came (a `MOVED`, a
 *   subscriber being rebuilt), the recovery pass re-sends it; `subscribe()` rejects with `TIMEOUT` (or
 *   `REDIS_UNAVAILABLE`) after the client's `commandTimeout` (5 s without one) instead of hanging;
 * - the hub's client re-reads the slot map every 5 s at least (`slotsRefreshInterval`, the
 *   client's own value if shorter), so a slot that leaves a node without any push is still noticed.
 * Why not ask Redis (`PUBSUB SHARDNUMSUB` on each owner) instead: it counts every process's
 * subscribers, not this connection's, costs a round trip per channel and shard, and the
 * pushed `SUNSUBSCRIBE` already keeps ioredis's per-connection set exact.
 *
 * @module
 */
import type { Cluster } from 'ioredis';
import { ActiveRunsError, fromRedisError } from '../errors.js';
import type { ActiveRunsLogger } from '../logger.js';
import type { RedisLike } from '../schemas.js';
import { sleep } from '../wait.js';
import type { ChannelState, Subscriber } from './channel.js';
import {
  ATTEMPT_TIMEOUT_MS,
  commandConnection,
  instanceFor,
  isSubscribed,
  refreshSlots,
  subscriberGroup,
  withTimeout,
} from './ioredis-cluster.js';
import type { RunEvent } from './types.js';

/** How often the hub checks its sharded subscriptions (a local check, no Redis call). */
export const CHECK_INTERVAL_MS = 1_000;
/** When the holders are asked again after a recovery (ms after it, then after the previous). */
const VERIFY_DELAYS_MS = [300, 1_000];

/** What the resubscription needs from the hub. */
export interface ResubscriptionHost {
  /** The store's client (its connections answer ROLE and the slot checks). */
  readonly client: RedisLike;
  readonly channels: Map<string, ChannelState>;
  readonly logger: ActiveRunsLogger;
  /** How long a first `subscribe` waits for Redis's confirmation. */
  readonly subscribeTimeoutMs: number;
  /** The hub is open and `sub` is still its subscriber. */
  isCurrent(sub: Cluster): boolean;
  /** Gives an event to every active handler of the channel. */
  deliverAll(state: ChannelState, event: RunEvent): void;
}

/**
 * The checks and recovery passes of one hub's sharded subscriptions (see the module doc). One per
 * subscriber Cluster client: {@link start} listens to it, {@link stop} ends the checks.
 */
export class ClusterResubscription {
  /** The periodic subscription check. */
  private checkTimer: ReturnType<typeof setInterval> | undefined;
  /** The recovery pass in flight, and whether another one is asked for. */
  private recovering: Promise<void> | undefined;
  private recoverAgain = false;
  /** A re-verification of the holders is scheduled (after a recovery). */
  private verifyScheduled = false;

  constructor(private readonly host: ResubscriptionHost) {}

  /** Listens to the subscriber client's hints and starts the periodic check. */
  start(cluster: Cluster): void {
    // ioredis's sharded subscriber group: a lost subscriber ends, the cluster refreshes its slots
    // and starts a new one, then emits subscribersReady (also after slot moves); which channels
    // that touched, the check tells (without ioredis's internals: all of them)
    cluster.on('subscribersReady', () => this.check(cluster, !subscriberGroup(cluster)));
    this.checkTimer = setInterval(() => this.check(cluster), CHECK_INTERVAL_MS);
    this.checkTimer.unref?.();
  }

  /** Stops the periodic check (the hub closed, or its connection ended). */
  stop(): void {
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.checkTimer = undefined;
  }

  private live(sub: Cluster): boolean {
    return this.host.isCurrent(sub);
  }

  /**
   * Cluster: the first subscription of a channel. Sent through the Cluster (ioredis routes it by
   * slot and records the channel); settled by {@link confirm}, here or from a recovery pass that
   * re-sends it (a `MOVED` makes ioredis drop it unsettled); rejected after subscribeTimeoutMs.
   */
  subscribe(sub: Cluster, state: ChannelState): Promise<void> {
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
                `subscribe: Redis did not confirm the subscription within ${this.host.subscribeTimeoutMs}ms (a failover or a slot move?); retry.`,
              )
            : fromRedisError(cause, 'subscribe', false),
        );
      }, this.host.subscribeTimeoutMs);
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
  holderOf(sub: Cluster, state: ChannelState): object | undefined {
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
        (s) => this.live(sub) && this.host.channels.get(s.channel) === s && s.holder === undefined,
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
        this.host.deliverAll(state, { type: 'gap', scope: state.scope, reason: 'reconnected' });
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
      commandConnection(this.host.client as unknown as Cluster, node) ??
      commandConnection(sub, node);
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
    if (!this.live(sub)) return;
    const byNode = new Map<string, ChannelState[]>();
    for (const state of this.host.channels.values()) {
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
          if (!this.live(sub) || this.host.channels.get(state.channel) !== state) {
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
      this.host.logger.info?.(
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
  check(sub: Cluster, everyone = false): void {
    if (!this.live(sub)) return;
    let unsynced = 0;
    let lost = 0;
    for (const state of this.host.channels.values()) {
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
      this.host.logger.info?.(
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
        this.host.logger.warn?.(
          { err: error },
          'active-runs: re-subscribing events channels failed',
        );
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
      if (!this.live(sub)) return;
      if (![...this.host.channels.values()].some((s) => s.holder === undefined)) return;
      // the loss usually means the map is stale (a slot moved, a replica was promoted)
      await refreshSlots(sub, ATTEMPT_TIMEOUT_MS);
      if (!this.live(sub)) return;
      const bySlot = new Map<number, ChannelState[]>();
      for (const state of this.host.channels.values()) {
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
      if (!this.live(sub)) return;
      if (![...this.host.channels.values()].some((s) => s.holder === undefined)) return;
      await sleep(Math.min(100 * 2 ** round, 1_000));
    }
  }
}
