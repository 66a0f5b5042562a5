import { decodeRunLazily } from './lazy-run.js';

/** Whether a run waits for a worker or is being worked on. */
export type RunStatus = 'queued' | 'running';

/** A run as the store returns it. */
export interface ActiveRun<TData = unknown> {
  /** The run's id, unique within its scope. */
  id: string;
  /** `queued` until `start`, then `running`. */
  status: RunStatus;
  /** When it was enqueued (ms since epoch). */
  queuedAt: number;
  /** When it started running (ms since epoch), or null while queued. */
  startedAt: number | null;
  /** Optional low-cardinality label such as `api` or `playground`. */
  source: string | null;
  /** Optional short progress text. */
  caption: string | null;
  /** The app's own payload, validated by the store's `dataSchema`. */
  data: TData | null;
  /** When the run is considered stuck unless it heartbeats again (ms since epoch, Redis clock). */
  leaseExpiresAt: number;
}

/**
 * The stored value of a run: `queuedAt \n startedAt \n leaseExpiresAt \n source \n captionJSON \n dataJSON`,
 * followed by `\n#` and a 16-hex-digit fingerprint of the caption and data the run was enqueued
 * with once `progress` changed them (so an enqueue re-sent after it is recognised; only the Lua
 * scripts add it). Newlines cannot occur inside the parts (numbers, validated sources, JSON text),
 * so the Lua scripts can splice a part without decoding the app's JSON (cjson would mangle `[]`,
 * big numbers and unicode). The status is `running` exactly when startedAt is set. The lease
 * deadline is kept here as well as in the lease sorted set (the scripts update both together), so
 * a page is read without asking Redis to format a score per run.
 */
export function encodeRunValue(parts: {
  queuedAt: number;
  startedAt: number | '';
  leaseExpiresAt: number;
  source: string;
  captionJson: string;
  dataJson: string;
}): string {
  return `${parts.queuedAt}\n${parts.startedAt}\n${parts.leaseExpiresAt}\n${parts.source}\n${parts.captionJson}\n${parts.dataJson}`;
}

/**
 * Decodes a run from its id and stored value. `data` is parsed on first read (lazy-run.ts): a
 * write's answer, an event or a page carries payloads a caller often never looks at.
 */
export function decodeRun<TData>(id: string, value: string): ActiveRun<TData> {
  return decodeRunLazily<TData>(id, value);
}
