import type { ActiveRun } from '@active-runs/core';

/** Where the CLI writes: process streams, or buffers in tests of the library entry. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal (the progress bar draws only there unless forced). */
  errIsTTY: boolean;
}

/** The process's own streams. */
export const processIO: CliIO = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  errIsTTY: process.stderr.isTTY === true,
};

/** Pretty JSON with a trailing newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A plain-text table: a header row, then rows, columns padded; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** A timestamp as ISO, or `-`. */
export const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

/** A duration as a person reads it: 850ms, 12s, 4m05s, 3h02m. */
export function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Cuts text to `max` characters, on one line. */
export function clip(text: string | null, max: number): string {
  if (text === null) return '';
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Runs as a table: id, status, source, queued, started, lease left, caption. */
export function runTable(runs: ActiveRun[], now: number): string {
  return table(
    ['ID', 'STATUS', 'SOURCE', 'QUEUED', 'STARTED', 'LEASE', 'CAPTION'],
    runs.map((run) => [
      run.id,
      run.status,
      run.source ?? '-',
      `${duration(now - run.queuedAt)} ago`,
      run.startedAt === null ? '-' : `${duration(now - run.startedAt)} ago`,
      duration(Math.max(0, run.leaseExpiresAt - now)),
      clip(run.caption, 60),
    ]),
  );
}
