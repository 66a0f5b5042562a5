/**
 * The live endpoint's messages: a store event becomes one Server-Sent Event, framed by the
 * framework's own SSE support (`@fastify/sse`, Nest's `@Sse()`), and the registry that lets an
 * adapter end every open stream when the app closes.
 * @module
 */
import type { RunEvent } from '../events/index.js';

/** Interval of the comment lines that keep idle streams open through proxies. */
export const DEFAULT_SSE_HEARTBEAT_MS = 15_000;

/**
 * One Server-Sent Event of the live endpoint. The SSE `event:` is the event's `type`, forwarded
 * as is, so a type the store adds later reaches clients without an adapter change.
 */
export interface ActiveRunsSseMessage {
  /** `event:` the change type (`queued`, `started`, `progress`, `heartbeat`, `ended`, `expired`) or `gap`. */
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
  /**
   * Aborted when the client leaves (`clientGone`), when the app closes, or on `release`: pass
   * it to the store's events, so the stream ends and its subscription is released.
   */
  readonly signal: AbortSignal;
  /** The stream's response is closed: forget it. Call it from the response's `close` event. */
  release(): void;
}

/** How long closing waits for open streams' responses to close. */
const END_ALL_WAIT_MS = 1_000;

/**
 * The open SSE streams of one adapter instance, so closing the app ends them at once instead
 * of waiting for every client to leave (an HTTP server does not close while they are open).
 */
export class SseStreamRegistry {
  private readonly open = new Set<AbortController>();
  private ended = false;
  private drained: (() => void) | undefined;

  /** Streams whose response is not closed yet. */
  get size(): number {
    return this.open.size;
  }

  /**
   * Tracks a new stream. `clientGone`, if given, is a signal the framework aborts when the
   * client disconnects; the lease's signal follows it.
   */
  track(clientGone?: AbortSignal): SseStreamLease {
    const controller = new AbortController();
    const stop = () => controller.abort();
    const release = () => {
      clientGone?.removeEventListener('abort', stop);
      controller.abort();
      if (this.open.delete(controller) && this.open.size === 0) this.drained?.();
    };
    if (this.ended || clientGone?.aborted) {
      controller.abort();
      return { signal: controller.signal, release };
    }
    clientGone?.addEventListener('abort', stop, { once: true });
    this.open.add(controller);
    return { signal: controller.signal, release };
  }

  /**
   * Ends every open stream (and every stream opened from now on), then resolves once their
   * responses closed, or after a second: an HTTP server closes the keep-alive connections that
   * are idle when it closes, so the responses must be done by then.
   */
  endAll(): Promise<void> {
    this.ended = true;
    for (const controller of this.open) controller.abort();
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, END_ALL_WAIT_MS);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.drained = done;
    });
  }
}
