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

/** Decodes a run from its id and stored value. */
export function decodeRun<TData>(id: string, value: string): ActiveRun<TData> {
  const a = value.indexOf('\n');
  const b = value.indexOf('\n', a + 1);
  const c = value.indexOf('\n', b + 1);
  const d = value.indexOf('\n', c + 1);
  const e = value.indexOf('\n', d + 1);
  const startedAt = value.slice(a + 1, b);
  const source = value.slice(c + 1, d);
  const caption = value.slice(d + 1, e);
  // a fingerprint, when present, is the last 18 characters: '\n#' and 16 hex digits
  const end = value.length;
  const fingerprinted =
    end - e >= 19 && value.charCodeAt(end - 18) === 10 && value.charCodeAt(end - 17) === 35;
  const data = value.slice(e + 1, fingerprinted ? end - 18 : end);
  return {
    id,
    status: startedAt === '' ? 'queued' : 'running',
    queuedAt: Number(value.slice(0, a)),
    startedAt: startedAt === '' ? null : Number(startedAt),
    source: source === '' ? null : source,
    caption: caption === '' ? null : (JSON.parse(caption) as string),
    data: data === '' ? null : (JSON.parse(data) as TData),
    leaseExpiresAt: Number(value.slice(b + 1, c)),
  };
}

/**
 * A run an enqueue just added, from what the caller sent and the times the script chose, so the
 * script returns a few numbers instead of the whole value (and the client decodes less).
 * `dataJson` is parsed as a read would, so the result is the same as what `get` returns.
 */
export function addedRun<TData>(
  id: string,
  times: { queuedAt: string; startedAt: string; leaseExpiresAt: string },
  source: string | null,
  caption: string | null,
  dataJson: string,
): ActiveRun<TData> {
  return {
    id,
    status: times.startedAt === '' ? 'queued' : 'running',
    queuedAt: Number(times.queuedAt),
    startedAt: times.startedAt === '' ? null : Number(times.startedAt),
    source,
    caption,
    data: dataJson === '' ? null : (JSON.parse(dataJson) as TData),
    leaseExpiresAt: Number(times.leaseExpiresAt),
  };
}
