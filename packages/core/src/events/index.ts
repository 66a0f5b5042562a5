/**
 * Live updates: change events of a scope, fanned out from one Redis subscriber per process.
 * - types.ts: what a subscriber receives, and the options;
 * - codec.ts: the messages the write scripts publish, decoded;
 * - hub.ts: the subscriber connection shared by every subscription, sequence checks, gaps;
 * - cluster-resubscription.ts: keeping sharded subscriptions alive through failovers and
 *   resharding (with ioredis-cluster.ts, what it reads of ioredis's Cluster internals);
 * - iterator.ts: `events()`, a bounded async iterator in front of a handler.
 */

export { decodeRunEvent } from './codec.js';
export { RunEventHub } from './hub.js';
export type {
  RunChangeEvent,
  RunChangeType,
  RunEvent,
  RunEventHandler,
  RunEventHubOptions,
  RunEventIteratorOptions,
  RunGapEvent,
  RunGapReason,
  RunHeartbeatEvent,
  Unsubscribe,
} from './types.js';
