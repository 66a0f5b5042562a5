import type { RunEvent, Unsubscribe } from './types.js';

/** The iterator of {@link RunEventHub.events}: a bounded queue in front of a handler. */
export class EventIterator<TData> implements AsyncIterableIterator<RunEvent<TData>> {
  finished = false;
  private buffer: RunEvent<TData>[] = [];
  private waiter: ((result: IteratorResult<RunEvent<TData>>) => void) | undefined;
  private failWaiter: ((error: unknown) => void) | undefined;
  private error: unknown;
  private unsubscribe: Unsubscribe | undefined;
  private readonly onAbort = () => this.finish(false);

  constructor(
    private readonly bufferSize: number,
    private readonly signal: AbortSignal | undefined,
    /** Told of each `overflow` gap (telemetry). */
    private readonly onOverflow: () => void = () => {},
  ) {
    if (signal?.aborted) this.finished = true;
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<RunEvent<TData>> {
    return this;
  }

  next(): Promise<IteratorResult<RunEvent<TData>>> {
    const item = this.buffer.shift();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.error !== undefined) {
      const error = this.error;
      this.error = undefined;
      return Promise.reject(error);
    }
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  return(): Promise<IteratorResult<RunEvent<TData>>> {
    this.finish(false);
    return Promise.resolve({ value: undefined, done: true });
  }

  push(event: RunEvent<TData>): void {
    if (this.finished) return;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      this.failWaiter = undefined;
      waiter({ value: event, done: false });
      return;
    }
    if (this.buffer.length >= this.bufferSize) {
      // the consumer lags: what it has not read is stale anyway, it will refetch
      this.buffer = [{ type: 'gap', scope: event.scope, reason: 'overflow' }];
      this.onOverflow();
      if (event.type === 'gap') return;
    }
    this.buffer.push(event);
  }

  setUnsubscribe(unsubscribe: Unsubscribe): void {
    if (this.finished) void unsubscribe();
    else this.unsubscribe = unsubscribe;
  }

  fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    const failWaiter = this.failWaiter;
    this.waiter = undefined;
    this.failWaiter = undefined;
    if (failWaiter) failWaiter(error);
    else this.error = error;
  }

  /** Ends the iterator; `drain`: what is buffered is still read first. */
  finish(drain: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    if (!drain) this.buffer = [];
    const waiter = this.waiter;
    this.waiter = undefined;
    this.failWaiter = undefined;
    waiter?.({ value: undefined, done: true });
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    if (unsubscribe) void unsubscribe();
  }
}
