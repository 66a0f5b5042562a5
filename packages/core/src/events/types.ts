/**
 * What a subscriber of the store's live updates receives, and the options of the hub and its
 * iterators.
 */
import type { ActiveRun } from '../codec.js';
import type { Scope } from '../keys.js';
import type { ActiveRunsLogger } from '../logger.js';
import type { TelemetryOptions } from '../telemetry/options.js';

/**
 * Kinds of change a write script publishes. Each carries the run, except `heartbeat`, which
 * carries only the run's new lease deadline (nothing else changed).
 */
export type RunChangeType = 'queued' | 'started' | 'progress' | 'heartbeat' | 'ended' | 'expired';

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
  /**
   * OpenTelemetry metrics of the hub (`active_runs.subscribers`, `active_runs.events.gaps`; see
   * "Telemetry" in the README); `false` reports nothing.
   * @default the API's global meter provider, resolved when the hub is created
   */
  telemetry?: TelemetryOptions | false;
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
