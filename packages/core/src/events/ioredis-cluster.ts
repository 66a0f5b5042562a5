/**
 * What the hub reads of an ioredis Cluster beyond its public API: its sharded subscriber group
 * (which connection serves a slot, and which channels that connection holds) and its per-node
 * command connections. Internals of ioredis (checked at runtime: 5.9 to 6.0 keep this shape);
 * when they look different, each helper answers "unknown" and the hub falls back to treating
 * every subscription as possibly lost (see cluster-resubscription.ts).
 */
import type { Cluster, Redis } from 'ioredis';

/** Bound of one re-subscription attempt, and of a slot-map refresh it waits for. */
export const ATTEMPT_TIMEOUT_MS = 1_000;
/** Longest slot-map refresh interval of the hub's Cluster client. */
const MAX_SLOTS_REFRESH_MS = 5_000;

/** What the hub reads of ioredis's sharded subscriber group; internals, checked at runtime. */
export interface SubscriberGroupLike {
  clusterSlots: string[][];
  shardedSubscribers: Map<string, { getInstance(): Redis | null }>;
}

/**
 * A Cluster client of the same nodes and options with ioredis's sharded subscriber group on: one
 * subscriber per master, named `ioredis-cluster(ssubscriber):<connectionName>`.
 */
export function duplicateCluster(cluster: Cluster, connectionName: string): Cluster {
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
export function subscriberGroup(sub: Cluster): SubscriberGroupLike | undefined {
  const group = (sub as unknown as { shardedSubscribers?: Partial<SubscriberGroupLike> })
    .shardedSubscribers;
  if (!group || !Array.isArray(group.clusterSlots) || !(group.shardedSubscribers instanceof Map)) {
    return undefined;
  }
  return group as SubscriberGroupLike;
}

/** The subscriber connection ioredis routes `slot` to (undefined before the first slot map). */
export function instanceFor(group: SubscriberGroupLike, slot: number): Redis | undefined {
  const nodeKey = group.clusterSlots[slot]?.[0];
  if (nodeKey === undefined) return undefined;
  return group.shardedSubscribers.get(nodeKey)?.getInstance() ?? undefined;
}

/** A Cluster client's command connection to the node `host:port`, if it has one. */
export function commandConnection(cluster: Cluster, node: string): Redis | undefined {
  if (typeof cluster.nodes !== 'function') return undefined;
  return cluster
    .nodes('all')
    .find((redis) => `${redis.options.host}:${redis.options.port}` === node);
}

/** Whether ioredis's subscription set of the connection (kept from Redis's replies) has it. */
export function isSubscribed(redis: Redis, channel: string): boolean {
  const set = (redis as unknown as { condition?: { subscriber?: unknown } }).condition?.subscriber;
  if (!set || typeof set !== 'object') return false;
  const table = (set as { set?: { ssubscribe?: Record<string, boolean> } }).set?.ssubscribe;
  if (table) return table[channel] === true;
  const channels = (set as { channels?: (kind: string) => string[] }).channels;
  return typeof channels === 'function' && channels.call(set, 'ssubscribe').includes(channel);
}

/** Re-reads the cluster's slot map; resolves when done or after `ms`. */
export function refreshSlots(sub: Cluster, ms: number): Promise<void> {
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
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
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
