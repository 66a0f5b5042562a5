/**
 * A page as JSON text without parsing any run's `data`: the stored value already holds `data`
 * as the JSON text `JSON.stringify` made of it on write (payload.ts), and a page's runs keep that
 * text until someone reads `data` (lazy-run.ts), so it is pasted into the page's JSON as it is.
 * Parsing 25 payloads only to serialize them again was most of an HTTP list request's time
 * (BENCHMARKS.md, "HTTP").
 */
import type { ActiveRun } from './codec.js';
import { unreadDataJson } from './lazy-run.js';
import type { ListPage } from './store-types.js';

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isText = (v: unknown): v is string | null => v === null || typeof v === 'string';

/** A run with only the fields of the API's run schema, in its order. */
function runFields(run: ActiveRun<unknown>): ActiveRun<unknown> {
  return {
    id: run.id,
    status: run.status,
    queuedAt: run.queuedAt,
    startedAt: run.startedAt,
    source: run.source,
    caption: run.caption,
    data: run.data,
    leaseExpiresAt: run.leaseExpiresAt,
  };
}

/** One run's JSON: pasted from the stored text when it can be, else `JSON.stringify`. */
function runJson(run: ActiveRun<unknown>): string {
  const data = typeof run === 'object' && run !== null ? unreadDataJson(run) : undefined;
  const { id, status, queuedAt, startedAt, source, caption, leaseExpiresAt } = run;
  if (
    data === undefined ||
    typeof id !== 'string' ||
    (status !== 'queued' && status !== 'running') ||
    !isTime(queuedAt) ||
    !(startedAt === null || isTime(startedAt)) ||
    !isText(source) ||
    !isText(caption) ||
    !isTime(leaseExpiresAt)
  ) {
    return JSON.stringify(runFields(run));
  }
  // ids may hold `"` and `\` (keys.ts), so every string is escaped; numbers print as in JSON
  return `{"id":${JSON.stringify(id)},"status":"${status}","queuedAt":${queuedAt},"startedAt":${startedAt},"source":${JSON.stringify(source)},"caption":${JSON.stringify(caption)},"data":${data},"leaseExpiresAt":${leaseExpiresAt}}`;
}

/**
 * The JSON text of a page, `{ items, total, nextCursor }` with each run's fields of the HTTP
 * API's run schema: parses to what `JSON.parse(JSON.stringify(page))` gives for a page of
 * `store.list`. A run whose `data` was never read is written from its stored JSON text, without
 * parsing it; any other run (read, changed, or from another store such as the rollout's legacy
 * hash) goes through `JSON.stringify`.
 */
export function listPageJson(page: ListPage<unknown>): string {
  let items = '';
  for (const run of page.items) items += items === '' ? runJson(run) : `,${runJson(run)}`;
  return `{"items":[${items}],"total":${JSON.stringify(page.total)},"nextCursor":${JSON.stringify(page.nextCursor)}}`;
}
