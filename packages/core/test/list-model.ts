import type { ActiveRun, ListOptions, RunCounts } from '../src/index.js';

/** The list filters a model test applies. */
export type Filter = Pick<ListOptions, 'status' | 'source'>;

type Sortable = Pick<ActiveRun, 'id' | 'status' | 'queuedAt' | 'startedAt'>;

/** Whether a run passes a filter. */
export const matches = (run: Pick<ActiveRun, 'status' | 'source'>, filter: Filter) =>
  (!filter.status || run.status === filter.status) &&
  (!filter.source || run.source === filter.source);

/** List order: running by startedAt desc, then queued by queuedAt desc, equal times by id bytes desc. */
export function listOrder<T extends Sortable>(runs: Iterable<T>): T[] {
  const phase = (r: T) => (r.status === 'running' ? 1 : 0);
  const time = (r: T) => (r.status === 'running' ? r.startedAt! : r.queuedAt);
  return [...runs].sort(
    (a, b) =>
      phase(b) - phase(a) ||
      time(b) - time(a) ||
      Buffer.compare(Buffer.from(b.id), Buffer.from(a.id)),
  );
}

/** What `list` must return for a filter, in order. */
export function modelList(runs: Map<string, ActiveRun>, filter: Filter): ActiveRun[] {
  return listOrder([...runs.values()].filter((r) => matches(r, filter)));
}

/** What `counts` must return for these runs. */
export function modelCounts(runs: Map<string, ActiveRun>): RunCounts {
  const counts: RunCounts = { total: 0, byStatus: { queued: 0, running: 0 }, bySource: {} };
  for (const run of runs.values()) {
    counts.total++;
    counts.byStatus[run.status]++;
    if (run.source) counts.bySource[run.source] = (counts.bySource[run.source] ?? 0) + 1;
  }
  return counts;
}
