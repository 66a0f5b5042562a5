// @ts-check
/**
 * The dashboard's model, without the DOM (unit-tested in Node): the list's order, and how one
 * live event changes the page and the counts on screen.
 *
 * A page is a range of the list: its rows sort after the last row of the previous page (the
 * cursor it was loaded from) and, while more pages follow, at or before its own last row as
 * loaded (the cursor of the next page). A change moves a run into or out of that range, so the
 * rows stay those the server would list, and "next" and "back" still never skip a run.
 */

/**
 * @typedef {'queued' | 'running'} RunStatus
 * @typedef {{ id: string, status: RunStatus, queuedAt: number, startedAt: number | null,
 *   source: string | null, caption: string | null, data: unknown, leaseExpiresAt: number }} Run
 * @typedef {{ status: string, source: string }} Filters  '' for "any"
 * @typedef {{ total: number, byStatus: { queued: number, running: number },
 *   bySource: Record<string, number> }} Counts
 * @typedef {{ phase: number, time: number, id: string }} SortKey
 * @typedef {{ items: Run[], after: SortKey | null, until: SortKey | null, total: number }} PageView
 *   `after`: rows sort after it (null on the first page); `until`: rows sort at or before it
 *   (null on the last page); `total`: runs matching the filters.
 * @typedef {{ type: string, id?: unknown, run?: unknown, leaseExpiresAt?: unknown }} LiveEvent
 */

/** Changes that carry the run's new state. */
const UPSERTS = new Set(['queued', 'started', 'progress']);
/** Changes after which the run is gone. */
const REMOVALS = new Set(['ended', 'expired']);

/**
 * The run's place in the list: running runs first by start time, then queued runs by queue
 * time, newest first; equal times by id, descending.
 * @param {Run} run
 * @returns {SortKey}
 */
export function sortKey(run) {
  return run.status === 'running'
    ? { phase: 1, time: run.startedAt ?? 0, id: run.id }
    : { phase: 0, time: run.queuedAt, id: run.id };
}

/**
 * Negative when `a` is listed before `b`, positive after, 0 for the same place.
 * @param {SortKey} a
 * @param {SortKey} b
 */
export function compareKeys(a, b) {
  if (a.phase !== b.phase) return b.phase - a.phase;
  if (a.time !== b.time) return b.time - a.time;
  if (a.id === b.id) return 0;
  // ids are printable ASCII, so code-unit order is the byte order Redis sorts by
  return a.id > b.id ? -1 : 1;
}

/**
 * @param {Run} run
 * @param {Filters} filters
 */
export function matchesFilters(run, filters) {
  return (
    (filters.status === '' || run.status === filters.status) &&
    (filters.source === '' || run.source === filters.source)
  );
}

/**
 * The page view of a loaded page.
 * @param {{ items: Run[], total: number, nextCursor: string | null }} page
 * @param {SortKey | null} after the last row of the previous page, null on the first
 * @returns {PageView}
 */
export function pageView(page, after) {
  const last = page.items.at(-1);
  return {
    items: page.items,
    after,
    until: page.nextCursor !== null && last ? sortKey(last) : null,
    total: page.total,
  };
}

/**
 * @param {unknown} value
 * @returns {value is Run}
 */
function isRun(value) {
  const run = /** @type {Partial<Run> | null} */ (value);
  return (
    typeof run === 'object' &&
    run !== null &&
    typeof run.id === 'string' &&
    (run.status === 'queued' || run.status === 'running') &&
    typeof run.queuedAt === 'number'
  );
}

/**
 * @param {PageView} view
 * @param {SortKey} key
 */
function inRange(view, key) {
  return (
    (view.after === null || compareKeys(key, view.after) > 0) &&
    (view.until === null || compareKeys(key, view.until) <= 0)
  );
}

/**
 * The page after one live event. Unknown event types, and events without a well-formed run,
 * leave it as it is; a `heartbeat` (`{ id, leaseExpiresAt }`) renews the lease of its row.
 * @param {PageView} view
 * @param {LiveEvent} event
 * @param {Filters} filters
 * @param {{ adjustTotal?: boolean }} [options] `adjustTotal: false` when replaying events onto a
 *   page whose total may already count them
 * @returns {PageView}
 */
export function applyEvent(view, event, filters, options = {}) {
  if (event.type === 'heartbeat') {
    const { id, leaseExpiresAt } = event;
    if (typeof id !== 'string' || typeof leaseExpiresAt !== 'number') return view;
    if (!view.items.some((run) => run.id === id)) return view;
    const items = view.items.map((run) => (run.id === id ? { ...run, leaseExpiresAt } : run));
    return { ...view, items };
  }
  const run = event.run;
  if (!isRun(run) || !(UPSERTS.has(event.type) || REMOVALS.has(event.type))) return view;

  const items = view.items.filter((item) => item.id !== run.id);
  if (UPSERTS.has(event.type) && matchesFilters(run, filters) && inRange(view, sortKey(run))) {
    const key = sortKey(run);
    const at = items.findIndex((item) => compareKeys(key, sortKey(item)) < 0);
    items.splice(at === -1 ? items.length : at, 0, run);
  }
  const total =
    options.adjustTotal === false ? view.total : view.total + totalDelta(event.type, run, filters);
  return { ...view, items, total };
}

/**
 * How one change moves the number of runs that match the filters.
 * @param {string} type
 * @param {Run} run
 * @param {Filters} filters
 */
function totalDelta(type, run, filters) {
  const now = matchesFilters(run, filters) ? 1 : 0;
  if (type === 'queued') return now;
  if (type === 'started')
    return now - (matchesFilters({ ...run, status: 'queued' }, filters) ? 1 : 0);
  if (REMOVALS.has(type)) return -now;
  return 0;
}

/**
 * The counts after one live event, or `null` when they no longer add up (refetch them then).
 * @param {Counts} counts
 * @param {LiveEvent} event
 * @returns {Counts | null}
 */
export function applyCounts(counts, event) {
  const run = event.run;
  if (!isRun(run)) return counts;
  const byStatus = { ...counts.byStatus };
  const bySource = { ...counts.bySource };
  let total = counts.total;
  /** @param {number} delta */
  const moveSource = (delta) => {
    if (run.source === null) return;
    const value = (bySource[run.source] ?? 0) + delta;
    if (value === 0) delete bySource[run.source];
    else bySource[run.source] = value;
  };
  if (event.type === 'queued') {
    total += 1;
    byStatus.queued += 1;
    moveSource(1);
  } else if (event.type === 'started') {
    byStatus.queued -= 1;
    byStatus.running += 1;
  } else if (REMOVALS.has(event.type)) {
    total -= 1;
    byStatus[run.status] -= 1;
    moveSource(-1);
  } else {
    return counts;
  }
  const values = [total, byStatus.queued, byStatus.running, ...Object.values(bySource)];
  return values.every((value) => value >= 0) ? { total, byStatus, bySource } : null;
}

/**
 * Whether the event changes the counts (the dashboard then re-reads them soon, to settle any
 * race between the stream and a fetch).
 * @param {LiveEvent} event
 */
export function movesCounts(event) {
  return event.type === 'queued' || event.type === 'started' || REMOVALS.has(event.type);
}

/**
 * The number of runs matching the filters, when the counts tell it.
 * @param {Filters} filters
 * @param {Counts} counts
 * @returns {number | undefined}
 */
export function totalFromCounts(filters, counts) {
  if (filters.status === '' && filters.source === '') return counts.total;
  if (filters.source === '') return counts.byStatus[/** @type {RunStatus} */ (filters.status)];
  if (filters.status === '') return counts.bySource[filters.source] ?? 0;
  return undefined;
}

/**
 * "12 s", "3 min 4 s", "2 h 5 min": a duration for people, never negative.
 * @param {number} ms
 */
export function formatDuration(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d`;
}
