import { createParser } from 'eventsource-parser';
import type { ContractScope } from './harness.js';
import { scopeHeaders } from './http-client.js';

/** One Server-Sent Event as a client sees it. */
export interface SseEvent {
  event: string | undefined;
  id: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: the event's JSON
  data: any;
}

/**
 * A viewer of the event stream: reads it with fetch, parses it with eventsource-parser, and
 * keeps what a browser's EventSource keeps (the events, the last event id, comment lines).
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  /** The id a reconnecting EventSource would send (`Last-Event-ID`). */
  lastEventId = '';
  status = 0;
  contentType: string | null = null;
  /** Resolves when the server ends the stream (or the client closed it). */
  readonly ended: Promise<void>;
  private readonly controller = new AbortController();
  private readonly waiters = new Set<() => void>();
  private markEnded!: () => void;
  private endedFlag = false;

  private constructor() {
    this.ended = new Promise((resolve) => {
      this.markEnded = () => {
        this.endedFlag = true;
        resolve();
        for (const wake of this.waiters) wake();
      };
    });
  }

  /** True once the stream ended. */
  get isEnded(): boolean {
    return this.endedFlag;
  }

  /** Opens the stream; resolves once the response headers arrived. */
  static async open(
    url: string,
    scope: ContractScope | undefined,
    headers: Record<string, string> = {},
  ): Promise<SseClient> {
    const client = new SseClient();
    const response = await fetch(url, {
      headers: { accept: 'text/event-stream', ...scopeHeaders(scope), ...headers },
      signal: client.controller.signal,
    });
    client.status = response.status;
    client.contentType = response.headers.get('content-type');
    if (!response.ok || !response.body) {
      await response.text().catch(() => {});
      client.markEnded();
      return client;
    }
    const parser = createParser({
      onEvent: (message) => {
        let data: unknown = message.data;
        try {
          data = JSON.parse(message.data);
        } catch {}
        if (message.id !== undefined) client.lastEventId = message.id;
        client.events.push({ event: message.event, id: message.id, data });
        client.wake();
      },
      onComment: (comment) => {
        client.comments.push(comment);
        client.wake();
      },
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    void (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(decoder.decode(value, { stream: true }));
        }
      } catch {
        // aborted by close(), or the connection dropped
      }
      client.markEnded();
    })();
    return client;
  }

  private wake(): void {
    for (const wake of this.waiters) wake();
  }

  /** Waits until `check` holds (re-checked on every event and comment), or fails after `timeoutMs`. */
  async until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.events.map((e) => e.event))}`,
          ),
        );
      }, timeoutMs);
      const wake = () => {
        if (!check() && !this.endedFlag) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
        if (check()) resolve();
        else reject(new Error(`the stream ended while waiting for ${what}`));
      };
      this.waiters.add(wake);
    });
  }

  /** Waits for the `n`-th event (1-based) and returns it. */
  async event(n: number, timeoutMs?: number): Promise<SseEvent> {
    await this.until(() => this.events.length >= n, `event #${n}`, timeoutMs);
    return this.events[n - 1]!;
  }

  /** Leaves, as a closed browser tab does. */
  close(): void {
    this.controller.abort();
  }
}
