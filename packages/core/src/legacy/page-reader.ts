import type { ActiveRun, RunStatus } from '../codec.js';
import { TIME_SPAN } from '../constants.js';
import type { CursorPosition } from '../cursor.js';
import type { ParsedScope } from '../keys.js';
import { scopeKeys } from '../keys.js';
import { settleAll } from './calls.js';
import type { LegacyContext } from './context.js';
import { mapEntry } from './context.js';
import type { LegacyEntry } from './legacy-key.js';
import { probeLegacyKey, scanLegacyHash, scopeNow } from './legacy-key.js';
import type { LegacySkipReason, MappedRecord } from './record.js';

/** Records per HSCAN call on the read path: memory holds one batch plus the page being kept. */
const READ_BATCH = 1_000;
const READ_STEP = 'legacy read';

/** Skipped records by reason. */
export type SkipCounts = Partial<Record<LegacySkipReason, number>>;

/** Counts a skipped record. */
export function countSkip(counts: SkipCounts, reason: LegacySkipReason, by = 1): void {
  counts[reason] = (counts[reason] ?? 0) + by;
}

/** What a full read of a legacy key saw, besides what the visitor kept. */
export interface LegacyReadSummary {
  skipped: SkipCounts;
  /** The key is neither a hash nor a JSON string of runs (read as empty). */
  unreadable: string | null;
  /** The scope's clock when the read started (the window was judged by it). */
  now: number;
}

/**
 * Visits every record of a scope's legacy key that maps to a live run (in the window, by the
 * scope's clock), one HSCAN batch at a time; records that do not map are counted by reason.
 */
export async function visitLegacyRuns<TData>(
  ctx: LegacyContext<TData>,
  scope: ParsedScope,
  key: string,
  visit: (record: MappedRecord<TData>) => void,
): Promise<LegacyReadSummary> {
  const [shape, now] = await settleAll([
    probeLegacyKey(ctx.calls, key, READ_STEP),
    scopeNow(ctx.calls, scopeKeys(ctx.prefix, scope).meta, READ_STEP),
  ]);
  const summary: LegacyReadSummary = { skipped: {}, unreadable: null, now };
  const take = (entries: LegacyEntry[]) => {
    for (const entry of entries) {
      const mapped = mapEntry(ctx, key, entry, now);
      if (mapped.ok) visit(mapped.record);
      else countSkip(summary.skipped, mapped.reason);
    }
  };
  if (shape.kind === 'hash') {
    for await (const batch of scanLegacyHash(ctx.calls, key, {
      count: READ_BATCH,
      step: READ_STEP,
    })) {
      take(batch.entries);
    }
  } else if (shape.kind === 'json') {
    take(shape.entries);
  } else if (shape.kind === 'wrong-type') {
    summary.unreadable = `a ${shape.type}`;
  } else if (shape.kind === 'bad-json') {
    summary.unreadable = 'a string that is not JSON';
  }
  return summary;
}

/** A page request in the store's terms. */
export interface LegacyPageQuery {
  status: RunStatus | null;
  source: string | null;
  limit: number;
  offset: number;
  /** Cursor position: only runs after it in list order. */
  after: CursorPosition | null;
}

/** A page read from the legacy layout. */
export interface LegacyPage<TData> extends LegacyReadSummary {
  items: ActiveRun<TData>[];
  total: number;
  /** Position of the page's last run when more follow. */
  next: CursorPosition | null;
}

/** a before b in list order: higher score first, then higher id (ids are ASCII: byte order). */
const before = (a: MappedRecord, b: MappedRecord) =>
  a.score !== b.score ? a.score > b.score : a.run.id > b.run.id;

/**
 * The `k` first records in list order, kept in a binary heap whose root is the last of them:
 * memory is O(k) whatever the number of records offered.
 */
class FirstK<TData> {
  private readonly heap: MappedRecord<TData>[] = [];
  private readonly ids = new Set<string>();
  constructor(private readonly k: number) {}

  offer(record: MappedRecord<TData>): void {
    if (this.k === 0 || this.ids.has(record.run.id)) return;
    const heap = this.heap;
    if (heap.length < this.k) {
      heap.push(record);
      this.ids.add(record.run.id);
      this.up(heap.length - 1);
    } else if (before(record, heap[0]!)) {
      this.ids.delete(heap[0]!.run.id);
      heap[0] = record;
      this.ids.add(record.run.id);
      this.down(0);
    }
  }

  /** The kept records in list order. */
  sorted(): MappedRecord<TData>[] {
    return [...this.heap].sort((a, b) => (before(a, b) ? -1 : 1));
  }

  // the root is the record that comes last in list order
  private up(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[parent]!, heap[i]!)) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let last = i;
      if (left < heap.length && before(heap[last]!, heap[left]!)) last = left;
      if (right < heap.length && before(heap[last]!, heap[right]!)) last = right;
      if (last === i) return;
      [heap[last], heap[i]] = [heap[i]!, heap[last]!];
      i = last;
    }
  }
}

/**
 * One page from a legacy key, as the store's `list` pages: running runs first (newest start
 * first), then queued (newest first), equal times by id descending; filters by status and
 * source; cursor positions are the new layout's, so a cursor stays valid when the scope switches.
 * Cost: one pass over the key in HSCAN batches, keeping only `offset + limit + 1` runs.
 */
export async function readLegacyPage<TData>(
  ctx: LegacyContext<TData>,
  scope: ParsedScope,
  key: string,
  query: LegacyPageQuery,
): Promise<LegacyPage<TData>> {
  const keep = new FirstK<TData>(query.offset + query.limit + 1);
  const after = query.after;
  let total = 0;
  const summary = await visitLegacyRuns(ctx, scope, key, (record) => {
    const { run } = record;
    if (query.status && run.status !== query.status) return;
    if (query.source && run.source !== query.source) return;
    total++;
    if (
      after &&
      (record.score > after.score || (record.score === after.score && run.id >= after.id))
    ) {
      return;
    }
    keep.offer(record);
  });
  const kept = keep.sorted();
  const page = kept.slice(query.offset, query.offset + query.limit);
  const last = page[page.length - 1];
  return {
    ...summary,
    items: page.map((record) => record.run),
    total,
    next:
      last && kept.length > query.offset + query.limit
        ? { score: last.score, id: last.run.id }
        : null,
  };
}

/** Counts of a legacy key, as the store's `stats` reports them. */
export interface LegacyCounts extends LegacyReadSummary {
  queued: number;
  running: number;
  bySource: Record<string, number>;
  /** Records outside the window (the legacy list hid them; they were never deleted). */
  stale: number;
  oldestQueuedAt: number | null;
  oldestStartedAt: number | null;
}

/** Counts by status and source of a legacy key, in one pass of bounded memory. */
export async function readLegacyCounts<TData>(
  ctx: LegacyContext<TData>,
  scope: ParsedScope,
  key: string,
): Promise<LegacyCounts> {
  const counts = { queued: 0, running: 0, bySource: {} as Record<string, number> };
  let oldestQueuedAt: number | null = null;
  let oldestStartedAt: number | null = null;
  const summary = await visitLegacyRuns(ctx, scope, key, ({ run, score }) => {
    counts[run.status]++;
    if (run.source !== null) counts.bySource[run.source] = (counts.bySource[run.source] ?? 0) + 1;
    if (run.status === 'queued') oldestQueuedAt = Math.min(oldestQueuedAt ?? score, score);
    else oldestStartedAt = Math.min(oldestStartedAt ?? score - TIME_SPAN, score - TIME_SPAN);
  });
  const { stale = 0, ...skipped } = summary.skipped;
  return { ...counts, ...summary, skipped, stale, oldestQueuedAt, oldestStartedAt };
}
