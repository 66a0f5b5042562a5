import { fork } from 'node:child_process';
import { Agent, type ClientRequest, get } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createParser } from 'eventsource-parser';
import type { Redis } from 'ioredis';

/** What {@link measureSseViewers} prints. */
export interface SseViewersReport {
  viewers: number;
  /** Redis connections of the app before any viewer, with all viewers open, after they left. */
  redisConnections: { idle: number; open: number; afterLeave: number };
  /** Subscribers of the scope's channel (`PUBSUB NUMSUB`) with all viewers open, after they left. */
  channelSubscribers: { open: number; afterLeave: number };
  /** From the first connect to every viewer having its first event (the gap). */
  openAllMs: number;
  /** From the write call to each viewer receiving its event. */
  deliveryMs: { p50: number; p99: number; max: number };
  /** Viewers that received the event. */
  delivered: number;
  /** The app process's heap growth with the viewers open, per viewer (bytes, after a GC with --expose-gc). */
  serverHeapBytesPerViewer: number;
}

type ChildMessage =
  | { type: 'open'; openAllMs: number }
  | { type: 'received'; atMs: number[] }
  | { type: 'closed' };

const now = () => performance.timeOrigin + performance.now();

/**
 * The viewers' side, run in a child process (sse-viewers-child.ts, so the app's memory is its
 * own): opens `count`
 * event streams of `url`, reports when each has its first event, then the arrival time of the
 * first event named `event`, and leaves when told.
 */
export async function runSseViewersChild(): Promise<void> {
  const [url = '', countText, event = '', headersJson = '{}'] = process.argv.slice(-4);
  const count = Number(countText);
  const headers = JSON.parse(headersJson) as Record<string, string>;
  const send = (message: ChildMessage) => process.send?.(message);
  // plain node:http clients, lighter than fetch streams, so the figures are the server's
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const started = now();
  const viewers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<{ first: Promise<void>; arrived: Promise<number>; request: ClientRequest }>(
          (resolve, reject) => {
            let onFirst!: () => void;
            let onArrived!: (at: number) => void;
            const first = new Promise<void>((r) => (onFirst = r));
            const arrived = new Promise<number>((r) => (onArrived = r));
            const parser = createParser({
              onEvent: (message) => {
                onFirst();
                if (message.event === event) onArrived(now());
              },
            });
            const request = get(
              url,
              { agent, headers: { accept: 'text/event-stream', ...headers } },
              (response) => {
                response.setEncoding('utf8');
                response.on('data', (chunk: string) => parser.feed(chunk));
                response.on('error', () => {});
                resolve({ first, arrived, request });
              },
            );
            request.on('error', reject);
          },
        ),
    ),
  );
  await Promise.all(viewers.map((viewer) => viewer.first));
  send({ type: 'open', openAllMs: now() - started });
  const atMs = await Promise.all(viewers.map((viewer) => viewer.arrived));
  send({ type: 'received', atMs });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  for (const viewer of viewers) viewer.request.destroy();
  send({ type: 'closed' });
}

function percentile(sorted: number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Opens `count` SSE viewers of one scope against a running app, in a child process, triggers one change with `write`, and measures Redis connections, subscribers, delivery
 * times and the app's memory. `redis` must be a client of a Redis only the app and it use.
 */
export async function measureSseViewers(options: {
  url: string;
  headers: Record<string, string>;
  count: number;
  redis: Redis;
  /** Pattern of the scope's channel, e.g. `prefix:*`. */
  channelPattern: string;
  /** The SSE event the write produces. */
  event: string;
  write: () => Promise<unknown>;
}): Promise<SseViewersReport> {
  const { redis } = options;
  const connections = async () =>
    ((await redis.client('LIST')) as string).trim().split('\n').length - 1; // not this client
  const subscribers = async () => {
    const channels = (await redis.pubsub('CHANNELS', options.channelPattern)) as string[];
    if (channels.length === 0) return 0;
    const reply = (await redis.pubsub('NUMSUB', ...channels)) as (string | number)[];
    return reply.filter((_, i) => i % 2 === 1).reduce<number>((sum, n) => sum + Number(n), 0);
  };

  await settle();
  const idle = await connections();
  const before = process.memoryUsage();
  const child = fork(fileURLToPath(new URL('./sse-viewers-child.js', import.meta.url)), [
    options.url,
    String(options.count),
    options.event,
    JSON.stringify(options.headers),
  ]);
  const messages: ChildMessage[] = [];
  const waiters: (() => void)[] = [];
  child.on('message', (message: ChildMessage) => {
    messages.push(message);
    for (const wake of waiters.splice(0)) wake();
  });
  const next = async <T extends ChildMessage['type']>(type: T) => {
    for (;;) {
      const found = messages.find((m) => m.type === type);
      if (found) return found as Extract<ChildMessage, { type: T }>;
      if (child.exitCode !== null)
        throw new Error(`the viewers' process exited (${child.exitCode})`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };

  const { openAllMs } = await next('open');
  await settle();
  const during = process.memoryUsage();
  const open = await connections();
  const openSubscribers = await subscribers();
  const writtenAt = now();
  await options.write();
  const { atMs } = await next('received');
  const delays = atMs.map((at) => at - writtenAt).sort((a, b) => a - b);
  child.send('leave');
  await next('closed');
  child.disconnect();
  let afterLeaveSubscribers = await subscribers();
  for (let i = 0; i < 40 && afterLeaveSubscribers > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    afterLeaveSubscribers = await subscribers();
  }
  return {
    viewers: options.count,
    redisConnections: { idle, open, afterLeave: await connections() },
    channelSubscribers: { open: openSubscribers, afterLeave: afterLeaveSubscribers },
    openAllMs: Math.round(openAllMs),
    deliveryMs: {
      p50: Math.round(percentile(delays, 50) * 10) / 10,
      p99: Math.round(percentile(delays, 99) * 10) / 10,
      max: Math.round((delays.at(-1) ?? Number.NaN) * 10) / 10,
    },
    delivered: delays.length,
    serverHeapBytesPerViewer: Math.round((during.heapUsed - before.heapUsed) / options.count),
  };
}
