import { describe, expect, it } from 'vitest';
import {
  applyCounts,
  applyEvent,
  compareKeys,
  formatDuration,
  pageView,
  sortKey,
  totalFromCounts,
} from '../public/page-model.js';

type Run = Parameters<typeof sortKey>[0];
type View = ReturnType<typeof pageView>;

const any = { status: '', source: '' };

function run(id: string, status: 'queued' | 'running', time: number, source = 'api'): Run {
  return {
    id,
    status,
    queuedAt: status === 'queued' ? time : time - 1_000,
    startedAt: status === 'running' ? time : null,
    source,
    caption: null,
    data: null,
    leaseExpiresAt: time + 60_000,
  };
}

const ids = (view: View) => view.items.map((item) => item.id);

describe('the list order', () => {
  it('puts running runs first, newest first, then queued runs newest first, ties by id descending', () => {
    const runs = [
      run('q-old', 'queued', 100),
      run('r-new', 'running', 300),
      run('q-new', 'queued', 200),
      run('r-b', 'running', 250),
      run('r-a', 'running', 250),
    ];
    const sorted = [...runs].sort((a, b) => compareKeys(sortKey(a), sortKey(b)));
    expect(sorted.map((r) => r.id)).toEqual(['r-new', 'r-b', 'r-a', 'q-new', 'q-old']);
  });
});

describe('a live event on the page', () => {
  // page 2 of a list: after r-300 (page 1's last row), until q-200 (more pages follow)
  const page2 = (): View =>
    pageView(
      {
        items: [run('r-250', 'running', 250), run('q-200', 'queued', 200)],
        total: 10,
        nextCursor: 'c',
      },
      sortKey(run('r-300', 'running', 300)),
    );

  it('inserts a new run that belongs to the page at its place, and counts it', () => {
    const view = applyEvent(page2(), { type: 'queued', run: run('q-220', 'queued', 220) }, any);
    expect(ids(view)).toEqual(['r-250', 'q-220', 'q-200']);
    expect(view.total).toBe(11);
  });

  it('leaves out a run that belongs to another page, but still counts it', () => {
    const newer = applyEvent(page2(), { type: 'started', run: run('r-400', 'running', 400) }, any);
    expect(ids(newer)).toEqual(['r-250', 'q-200']);
    const older = applyEvent(page2(), { type: 'queued', run: run('q-100', 'queued', 100) }, any);
    expect(ids(older)).toEqual(['r-250', 'q-200']);
    expect(older.total).toBe(11);
  });

  it('moves a started run to the running section, or off the page', () => {
    const view = pageView(
      {
        items: [run('r-250', 'running', 250), run('q-200', 'queued', 200)],
        total: 2,
        nextCursor: null,
      },
      null,
    );
    const started = applyEvent(view, { type: 'started', run: run('q-200', 'running', 260) }, any);
    expect(ids(started)).toEqual(['q-200', 'r-250']);
    expect(started.total).toBe(2);
    const queuedOnly = { status: 'queued', source: '' };
    const filtered = applyEvent(
      view,
      { type: 'started', run: run('q-200', 'running', 260) },
      queuedOnly,
    );
    expect(ids(filtered)).toEqual(['r-250']);
    expect(filtered.total).toBe(1);
  });

  it('replaces a row on progress and removes it when the run ends or expires', () => {
    const progressed = { ...run('r-250', 'running', 250), caption: 'thinking' };
    const view = applyEvent(page2(), { type: 'progress', run: progressed }, any);
    expect(view.items[0]?.caption).toBe('thinking');
    expect(view.total).toBe(10);
    const ended = applyEvent(view, { type: 'ended', run: progressed }, any);
    expect(ids(ended)).toEqual(['q-200']);
    expect(ended.total).toBe(9);
    const expired = applyEvent(ended, { type: 'expired', run: run('q-200', 'queued', 200) }, any);
    expect(ids(expired)).toEqual([]);
  });

  it('shows only runs that match the filters', () => {
    const view = pageView({ items: [], total: 0, nextCursor: null }, null);
    const filters = { status: '', source: 'playground' };
    const other = applyEvent(view, { type: 'queued', run: run('x', 'queued', 1, 'api') }, filters);
    expect(ids(other)).toEqual([]);
    expect(other.total).toBe(0);
    const match = applyEvent(
      view,
      { type: 'queued', run: run('y', 'queued', 1, 'playground') },
      filters,
    );
    expect(ids(match)).toEqual(['y']);
  });

  it('renews a lease on heartbeat, and ignores unknown or malformed events', () => {
    const view = page2();
    const beat = applyEvent(view, { type: 'heartbeat', id: 'q-200', leaseExpiresAt: 999_999 }, any);
    expect(beat.items[1]?.leaseExpiresAt).toBe(999_999);
    expect(applyEvent(view, { type: 'heartbeat', id: 'gone', leaseExpiresAt: 1 }, any)).toBe(view);
    expect(applyEvent(view, { type: 'paused', run: run('z', 'queued', 210) }, any)).toBe(view);
    expect(applyEvent(view, { type: 'queued', run: { id: 7 } }, any)).toBe(view);
    expect(applyEvent(view, { type: 'queued' }, any)).toBe(view);
  });

  it('does not count again when replaying events onto a freshly loaded page', () => {
    const view = applyEvent(page2(), { type: 'queued', run: run('q-220', 'queued', 220) }, any, {
      adjustTotal: false,
    });
    expect(ids(view)).toEqual(['r-250', 'q-220', 'q-200']);
    expect(view.total).toBe(10);
  });
});

describe('counts', () => {
  const counts = { total: 3, byStatus: { queued: 2, running: 1 }, bySource: { api: 2, batch: 1 } };

  it('move with each change', () => {
    const queued = applyCounts(counts, { type: 'queued', run: run('a', 'queued', 1, 'eval') });
    expect(queued).toEqual({
      total: 4,
      byStatus: { queued: 3, running: 1 },
      bySource: { api: 2, batch: 1, eval: 1 },
    });
    const started = applyCounts(queued!, { type: 'started', run: run('a', 'running', 2, 'eval') });
    expect(started?.byStatus).toEqual({ queued: 2, running: 2 });
    const ended = applyCounts(started!, { type: 'ended', run: run('b', 'queued', 1, 'batch') });
    expect(ended).toEqual({
      total: 3,
      byStatus: { queued: 1, running: 2 },
      bySource: { api: 2, eval: 1 },
    });
    expect(applyCounts(ended!, { type: 'progress', run: run('a', 'running', 2) })).toBe(ended);
  });

  it('are null when they no longer add up, so the page re-reads them', () => {
    const empty = { total: 0, byStatus: { queued: 0, running: 0 }, bySource: {} };
    expect(applyCounts(empty, { type: 'expired', run: run('a', 'queued', 1) })).toBeNull();
  });

  it('give the number of matching runs for one filter, not for two', () => {
    expect(totalFromCounts(any, counts)).toBe(3);
    expect(totalFromCounts({ status: 'queued', source: '' }, counts)).toBe(2);
    expect(totalFromCounts({ status: '', source: 'batch' }, counts)).toBe(1);
    expect(totalFromCounts({ status: '', source: 'none' }, counts)).toBe(0);
    expect(totalFromCounts({ status: 'queued', source: 'api' }, counts)).toBeUndefined();
  });
});

it('formats durations for people', () => {
  expect(formatDuration(-5_000)).toBe('0 s');
  expect(formatDuration(12_400)).toBe('12 s');
  expect(formatDuration(184_000)).toBe('3 min 4 s');
  expect(formatDuration(7_500_000)).toBe('2 h 5 min');
  expect(formatDuration(5 * 86_400_000)).toBe('5 d');
});
