/**
 * Realistic runs for the bench, the same for every layout: deterministic (run i is always the
 * same run), so the legacy hash, the store and BullMQ hold identical runs and a rerun measures the
 * same data.
 */

/** `large`: ~800 B of JSON per run in the legacy layout; `small`: ~280 B. */
export type PayloadVariant = 'large' | 'small';

/** The app's payload of a run (`data` in the store). */
export type RunData = Record<string, unknown>;

/** One run as the app knows it. */
export interface BenchRun {
  readonly id: string;
  readonly status: 'queued' | 'running';
  readonly queuedAt: number;
  readonly startedAt: number | null;
  readonly source: string | null;
  readonly caption: string;
  readonly data: RunData;
}

/** The project every layout is measured in. */
export const BENCH_SCOPE = { workspaceId: 'ws-bench', projectId: 'proj-main' } as const;

/** Share of runs that are running (the rest are queued). */
const RUNNING_SHARE = 0.6;
const SOURCES = ['api', 'api', 'api', 'playground', 'playground', 'evaluation', 'scheduler'];
const MODELS = [
  'gpt-4o-2024-08-06',
  'claude-3-5-sonnet-20241022',
  'gemini-1.5-pro-002',
  'llama-3.1-70b',
];
const STEPS = [
  'Queued behind rate limit',
  'Retrieving context',
  'Calling tools',
  'Streaming response',
];
const WORDS =
  'summarize the customer conversation and draft a polite reply that explains the refund policy with references to the order history and shipping status'.split(
    ' ',
  );

/** mulberry32: a tiny deterministic PRNG, so run i has the same content in every layout and run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function hex(random: () => number, length: number): string {
  let out = '';
  while (out.length < length)
    out += Math.floor(random() * 0x1_0000_0000)
      .toString(16)
      .padStart(8, '0');
  return out.slice(0, length);
}

function uuid(random: () => number): string {
  const h = hex(random, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function sentence(random: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(pick(random, WORDS));
  return out.join(' ');
}

/**
 * Run number `index` (0-based; a higher index was queued later). Times are spread 10 ms apart
 * ending at `nowMs`, so any size fits in the past.
 */
export function makeRun(index: number, variant: PayloadVariant, nowMs: number): BenchRun {
  const random = prng(index * 2_654_435_761 + (variant === 'large' ? 1 : 2));
  const id = uuid(random);
  const queuedAt = nowMs - 20_000_000 + index * 10;
  const running = random() < RUNNING_SHARE;
  const startedAt = running ? queuedAt + 50 + Math.floor(random() * 5_000) : null;
  const source = random() < 0.05 ? null : pick(random, SOURCES);
  const step = Math.floor(random() * STEPS.length);
  const caption = running
    ? `${STEPS[step]} (step ${step + 1}/${STEPS.length})`
    : 'Waiting for a worker';
  const base: RunData = {
    model: pick(random, MODELS),
    temperature: Math.round(random() * 100) / 100,
    maxTokens: 256 * (1 + Math.floor(random() * 16)),
    userId: `user_${hex(random, 12)}`,
  };
  const data: RunData =
    variant === 'small'
      ? base
      : {
          ...base,
          traceId: hex(random, 32),
          promptTokens: Math.floor(random() * 8_000),
          tags: [
            'support',
            pick(random, ['billing', 'shipping', 'returns']),
            `tier-${1 + Math.floor(random() * 3)}`,
          ],
          parameters: {
            topP: 0.95,
            frequencyPenalty: 0,
            presencePenalty: Math.round(random() * 10) / 10,
            stop: ['\n\nHuman:', '</answer>'],
            responseFormat: 'json_object',
            tools: ['search_orders', 'lookup_customer', 'issue_refund'],
            seed: Math.floor(random() * 1_000_000),
          },
          input: { preview: sentence(random, 8), messages: 3 + Math.floor(random() * 20) },
          metadata: {
            sessionId: `sess_${hex(random, 16)}`,
            conversationId: `conv_${hex(random, 16)}`,
            region: pick(random, ['us-east-1', 'eu-west-1', 'ap-southeast-2']),
            sdk: 'python/1.42.0',
          },
        };
  return { id, status: running ? 'running' : 'queued', queuedAt, startedAt, source, caption, data };
}

/** The JSON the legacy layout keeps per run (`runUuid -> JSON` in one hash per project). */
export function legacyJson(run: BenchRun): string {
  return JSON.stringify({
    runUuid: run.id,
    status: run.status,
    queuedAt: run.queuedAt,
    startedAt: run.startedAt,
    source: run.source,
    caption: run.caption,
    data: run.data,
  });
}

/** A run as the legacy layout's readers parse it. */
export interface LegacyRun {
  runUuid: string;
  status: 'queued' | 'running';
  queuedAt: number;
  startedAt: number | null;
}

/**
 * The store's order for the legacy readers: running first by startedAt, newest first, then queued
 * by queuedAt, newest first; ties by id, descending.
 */
export function compareNewestFirst(a: LegacyRun, b: LegacyRun): number {
  if (a.status !== b.status) return a.status === 'running' ? -1 : 1;
  const ta = a.status === 'running' ? a.startedAt! : a.queuedAt;
  const tb = b.status === 'running' ? b.startedAt! : b.queuedAt;
  if (ta !== tb) return tb - ta;
  return a.runUuid < b.runUuid ? 1 : a.runUuid > b.runUuid ? -1 : 0;
}
