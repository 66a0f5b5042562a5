/**
 * The live endpoint's messages: a store event becomes one Server-Sent Event, framed by the
 * framework's own SSE support (`@fastify/sse`, Nest's `@Sse()`), and the registry that lets an
 * adapter end every open stream when the app closes.
 * @module
 */
import type { RunEvent } from '../events.js';

/** Interval of the comment lines that keep idle streams open through proxies. */
export const DEFAULT_SSE_HEARTBEAT_MS = 15_000;

/**
 * One Server-Sent Event of the live endpoint. The SSE `event:` is the event's `type`, forwarded
 * as is, so a type the store adds later reaches clients without an adapter change.
 */
export interface ActiveRunsSseMessage {
  /** `event:` the change type (`queued`, `started`, `progress`, `ended`, `expired`) or `gap`. */
  event: string;
  /**
   * `id:` the scope's `seq` for a change. A gap has no seq of its own: it repeats the last id of
   * the stream (the client's `Last-Event-ID`, or empty before any), so it never moves the id a
   * reconnecting client sends back. (Always set, because Nest numbers messages that have none.)
   */
  id: string;
  /** `data:` the event, which the framework serializes as JSON. */
  data: RunEvent;
}

/** A `Last-Event-ID` we echo back must be a seq: anything else is treated as no position. */
const SEQ_ID = /^\d{1,16}$/;

/**
 * The store's events of one scope as SSE messages. The first is the store's gap, sent once the
 * subscription is live (the client loads its page then); a client that sends `Last-Event-ID`
 * is reconnecting, so its first gap says `reconnected`.
 *
 * @param first the iterator's first result, already awaited (so a failed subscribe is an HTTP
 *   error before any byte of the stream is sent)
 */
export async function* sseMessages(
  first: IteratorResult<RunEvent>,
  events: AsyncIterable<RunEvent>,
  lastEventId: string | undefined,
): AsyncGenerator<ActiveRunsSseMessage> {
  if (first.done) return;
  let id = lastEventId !== undefined && SEQ_ID.test(lastEventId) ? lastEventId : '';
  const message = (event: RunEvent): ActiveRunsSseMessage => {
    const seq = (event as { seq?: unknown }).seq;
    if (typeof seq === 'number') id = String(seq);
    return { event: event.type, id, data: event };
  };
  const opening = first.value;
  yield message(
    lastEventId !== undefined && opening.type === 'gap' && opening.reason === 'subscribed'
      ? { ...opening, reason: 'reconnected' }
      : opening,
  );
  for await (const event of events) yield message(event);
}

/** One open stream of {@link SseStreamRegistry}. */
export interface SseStreamLease {
  /** Aborted when the client leaves or the app closes: pass it to `store.events`. */
  readonly signal: AbortSignal;
  /** Forget the stream (it ended); aborts its signal. */
  release(): void;
}

/**
 * The open SSE streams of one adapter instance, so closing the app ends them at once instead
 * of waiting for every client to leave (an HTTP server does not close while they are open).
 */
export class SseStreamRegistry {
  private readonly open = new Set<AbortController>();
  private ended = false;

  /** Streams currently open. */
  get size(): number {
    return this.open.size;
  }

  /**
   * Tracks a new stream. `clientGone`, if given, is a signal the framework aborts when the
   * client disconnects; the lease's signal follows it.
   */
  track(clientGone?: AbortSignal): SseStreamLease {
    const controller = new AbortController();
    const onGone = () => release();
    const release = () => {
      clientGone?.removeEventListener('abort', onGone);
      this.open.delete(controller);
      controller.abort();
    };
    if (this.ended || clientGone?.aborted) {
      controller.abort();
      return { signal: controller.signal, release };
    }
    clientGone?.addEventListener('abort', onGone, { once: true });
    this.open.add(controller);
    return { signal: controller.signal, release };
  }

  /** Ends every open stream, and every stream opened from now on. */
  endAll(): void {
    this.ended = true;
    for (const controller of [...this.open]) controller.abort();
    this.open.clear();
  }
}
