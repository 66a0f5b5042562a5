import { Agent, type ClientRequest, get } from 'node:http';
import { createParser } from 'eventsource-parser';
import type { Redis } from 'ioredis';
import { quantile } from '../measure/stats.js';
import { SERVER_CONNECTION_NAME } from './app-setup.js';

/** Name of the store's subscriber connection (the core's default). */
const SUBSCRIBER_CONNECTION_NAME = 'active-runs-events';
/** Viewers connecting at once: the server's listen backlog (511) stays far. */
const CONNECT_BATCH = 100;
/** How long the last event may take to reach every viewer before the run gives up. */
const DRAIN_TIMEOUT_MS = 10_000;

/** What one fan-out run measured. */
export interface FanoutResult {
  viewers: number;
  events: number;
  ratePerS: number;
  /** Viewer × event deliveries expected, and received (by the caption each write sets). */
  expected: number;
  delivered: number;
  /** From the first connect to every viewer having its opening `gap` (subscription live). */
  openAllMs: number;
  /** From the write call to a viewer parsing the event, over every delivery. */
  delayMs: { p50: number; p99: number; max: number };
  /** The server app's Redis connections (CLIENT LIST, by name), with every viewer open. */
  serverConnections: number;
  /** Those of them in subscribed mode: the one subscriber the viewers share. */
  subscriberConnections: number;
  /** Subscribers of every channel (PUBSUB NUMSUB), with every viewer open. */
  channelSubscribers: number;
  /** The same after the viewers left (the subscription is released with the last one). */
  channelSubscribersAfterLeave: number;
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface ClientEntry {
  name: string;
  subscriptions: number;
}

async function clientList(admin: Redis): Promise<ClientEntry[]> {
  const text = (await admin.client('LIST')) as string;
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const fields = new Map(
        line.split(' ').map((pair) => {
          const eq = pair.indexOf('=');
          return [pair.slice(0, eq), pair.slice(eq + 1)] as const;
        }),
      );
      const n = (key: string) => Number(fields.get(key) ?? 0);
      return { name: fields.get('name') ?? '', subscriptions: n('sub') + n('psub') + n('ssub') };
    });
}

async function channelSubscribers(admin: Redis): Promise<number> {
  const channels = (await admin.pubsub('CHANNELS', '*')) as string[];
  if (channels.length === 0) return 0;
  const reply = (await admin.pubsub('NUMSUB', ...channels)) as (string | number)[];
  return reply.filter((_, i) => i % 2 === 1).reduce<number>((sum, n) => sum + Number(n), 0);
}

/** The caption each write sets, numbered, so a viewer knows which write an event is. */
export function fanoutCaption(seq: number): string {
  return `bench-sse ${seq}`;
}
const CAPTION = /"caption":"bench-sse (\d+)"/;

/**
 * Opens `viewers` event streams of one scope (plain node:http clients and eventsource-parser,
 * light enough for 1,000 in the bench process), then calls `write(seq)` `events` times at
 * `ratePerS` and times each event from its write call to each viewer. `admin` is a client of
 * the bench's own redis-server, where only the server app subscribes.
 */
export async function measureFanout(options: {
  url: string;
  headers: Record<string, string>;
  viewers: number;
  events: number;
  ratePerS: number;
  admin: Redis;
  write: (seq: number) => Promise<unknown>;
}): Promise<FanoutResult> {
  const { viewers, events } = options;
  const writtenAt: number[] = new Array<number>(events).fill(Number.NaN);
  const delays: number[] = [];
  let delivered = 0;
  let allDelivered: () => void = () => {};
  const done = new Promise<void>((resolve) => (allDelivered = resolve));
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const requests: ClientRequest[] = [];

  const open = () =>
    new Promise<void>((resolve, reject) => {
      const parser = createParser({
        onEvent: (message) => {
          if (message.event === 'gap') resolve();
          if (message.event !== 'progress') return;
          const seq = Number(CAPTION.exec(message.data)?.[1] ?? Number.NaN);
          const at = writtenAt[seq];
          if (at === undefined || Number.isNaN(at)) return;
          delays.push(now() - at);
          if (++delivered === viewers * events) allDelivered();
        },
      });
      const request = get(
        options.url,
        { agent, headers: { accept: 'text/event-stream', ...options.headers } },
        (response) => {
          if (response.statusCode !== 200) {
            reject(new Error(`the event stream answered ${response.statusCode}`));
            return;
          }
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => parser.feed(chunk));
          response.on('error', () => {});
        },
      );
      request.on('error', reject);
      requests.push(request);
    });

  const started = now();
  for (let i = 0; i < viewers; i += CONNECT_BATCH) {
    await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, viewers - i) }, open));
  }
  const openAllMs = now() - started;
  await sleep(200);
  const clients = (await clientList(options.admin)).filter(
    (c) => c.name === SERVER_CONNECTION_NAME || c.name === SUBSCRIBER_CONNECTION_NAME,
  );
  const subscribedOpen = await channelSubscribers(options.admin);

  const periodMs = 1_000 / options.ratePerS;
  const t0 = now();
  const writes: Promise<unknown>[] = [];
  for (let seq = 0; seq < events; seq++) {
    const wait = t0 + seq * periodMs - now();
    if (wait > 0) await sleep(wait);
    writtenAt[seq] = now();
    writes.push(options.write(seq));
  }
  await Promise.all(writes);
  await Promise.race([done, sleep(DRAIN_TIMEOUT_MS)]);

  for (const request of requests) request.destroy();
  agent.destroy();
  let after = await channelSubscribers(options.admin);
  for (let i = 0; i < 40 && after > 0; i++) {
    await sleep(50);
    after = await channelSubscribers(options.admin);
  }
  const delay = (q: number) => quantile(delays, q);
  return {
    viewers,
    events,
    ratePerS: options.ratePerS,
    expected: viewers * events,
    delivered,
    openAllMs,
    delayMs: { p50: delay(0.5), p99: delay(0.99), max: delay(1) },
    serverConnections: clients.length,
    subscriberConnections: clients.filter((c) => c.subscriptions > 0).length,
    channelSubscribers: subscribedOpen,
    channelSubscribersAfterLeave: after,
  };
}
