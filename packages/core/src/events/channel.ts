/** What the hub keeps per subscription and per channel. */
import type { Cluster, Redis } from 'ioredis';
import type { Scope } from '../keys.js';
import type { RunEventHandler } from './types.js';

/** One handler (a `subscribe` call or an `events()` iterator) of a channel. */
export interface Entry {
  readonly handler: RunEventHandler<never>;
  readonly scope: Scope;
  /** Receives events (false until its subscription is confirmed). */
  active: boolean;
  attached: boolean;
  /** Called when the hub stops delivering to it for good (close, connection ended). */
  readonly end?: () => void;
}

/** One subscribed channel (one scope) and its handlers. */
export interface ChannelState {
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

/** The hub's subscriber connection. */
export type Subscriber = Redis | Cluster;
