import type { LegacyMigrationProgress } from '@active-runs/core';
import { Presets, SingleBar } from 'cli-progress';
import type { CliIO } from './output.js';
import { duration } from './output.js';

/** How migrate shows progress: a bar on a terminal, plain lines otherwise (logs, CI). */
export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

/** Shows migration progress; `stop` before printing anything else. */
export interface ProgressView {
  update(progress: LegacyMigrationProgress): void;
  stop(): void;
}

const LINE_INTERVAL_MS = 1_000;
const fmt = (n: number) => n.toLocaleString('en');

/** Records per second and the time left, from the progress so far. */
function pace(p: LegacyMigrationProgress) {
  const rate = p.elapsedMs > 0 ? (p.recordsDone / p.elapsedMs) * 1_000 : 0;
  const left = Math.max(0, p.recordsTotal - p.recordsDone);
  return { rate: Math.round(rate), etaMs: rate > 0 ? (left / rate) * 1_000 : null };
}

/** A plain line per second at most (and the last one): what a log or a CI job can read. */
function lines(io: CliIO): ProgressView {
  let lastAt = 0;
  let last: LegacyMigrationProgress | undefined;
  const print = (p: LegacyMigrationProgress) => {
    const { rate, etaMs } = pace(p);
    const percent =
      p.recordsTotal > 0 ? Math.min(100, Math.floor((p.recordsDone / p.recordsTotal) * 100)) : 100;
    io.err(
      `migrate: ${fmt(p.recordsDone)}/${fmt(p.recordsTotal)} records (${percent}%), ${fmt(rate)} records/s, ETA ${duration(etaMs)}, keys ${p.keysDone}/${p.keysTotal}, copied ${fmt(p.copied)}, skipped ${fmt(p.skipped)}, failed ${p.failed}\n`,
    );
  };
  return {
    update(p) {
      last = p;
      if (p.phase !== 'copying') return;
      const now = Date.now();
      if (now - lastAt >= LINE_INTERVAL_MS) {
        lastAt = now;
        print(p);
      }
    },
    stop() {
      if (last && last.phase === 'copying') print(last);
    },
  };
}

/** A cli-progress bar with rate and ETA, on stderr. */
function bar(forceOnPipe: boolean): ProgressView {
  const view = new SingleBar(
    {
      format:
        'migrate [{bar}] {percentage}% | {value}/{total} records | {rate} records/s | ETA {eta_formatted} | copied {copied}, skipped {skipped}, failed {failed}',
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
      noTTYOutput: forceOnPipe,
      notTTYSchedule: LINE_INTERVAL_MS,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      if (p.phase !== 'copying') return;
      const payload = {
        rate: fmt(pace(p).rate),
        copied: fmt(p.copied),
        skipped: fmt(p.skipped),
        failed: p.failed,
      };
      const total = Math.max(p.recordsTotal, p.recordsDone);
      if (!started) {
        view.start(total, p.recordsDone, payload);
        started = true;
      } else {
        view.setTotal(total);
        view.update(p.recordsDone, payload);
      }
    },
    stop() {
      if (started) view.stop();
    },
  };
}

/** The progress view for a mode. */
export function progressView(mode: ProgressMode, io: CliIO): ProgressView {
  if (mode === 'none') return { update() {}, stop() {} };
  if (mode === 'bar' || (mode === 'auto' && io.errIsTTY)) return bar(!io.errIsTTY);
  return lines(io);
}
