import { median, p99 } from './stats.js';

/** One request (or batch) to time; `iteration` lets a step address its own run. */
export type Op = (iteration: number) => Promise<unknown>;

/** Latency of an operation as ratios to a baseline timed in the same loop. */
export interface RatioTiming {
  /** Timed iterations (warm-up excluded). */
  samples: number;
  medianUs: number;
  p99Us: number;
  /** Median of the baseline (PING, HSET, ...) interleaved with this operation. */
  baselineMedianUs: number;
  /** medianUs / baselineMedianUs: what the machine's noise cancels out of. */
  medianRatio: number;
  /** p99Us / baselineMedianUs. */
  p99Ratio: number;
}

export interface TimingOptions {
  /** Timed iterations wanted. */
  iterations: number;
  /** Untimed iterations first (JIT, connection warm-up). @default min(20, iterations / 10), at least 1 */
  warmup?: number;
  /** Stop early once this much time went by (slow contenders); at least `minIterations` run. */
  budgetMs?: number;
  /** @default 5 */
  minIterations?: number;
  /**
   * Untimed, after every timed call: `settle` (e.g. a GC and a pause), then a few baseline calls
   * to wake both processes up again (a round trip right after a sleep pays the scheduler's
   * wake-up latency). For calls that move hundreds of MB (the full scans): their aftermath (GC,
   * freed buffers) would otherwise land in the next PING and slow it 10-100×.
   */
  settle?: () => Promise<void>;
}

/**
 * Times each step of a sequence against the same baseline, interleaved: every iteration runs
 * `baseline, step` pairs for each step in order, swapping the order inside a pair on every other
 * iteration so neither side always runs on a warmer connection. A slow machine slows both sides
 * alike, so the ratios hold where absolute times do not.
 */
export async function timeSteps(
  baseline: Op,
  steps: readonly Op[],
  options: TimingOptions,
): Promise<RatioTiming[]> {
  const warmup = options.warmup ?? Math.max(1, Math.min(20, Math.floor(options.iterations / 10)));
  const minIterations = options.minIterations ?? 5;
  const base: number[][] = steps.map(() => []);
  const times: number[][] = steps.map(() => []);
  const started = performance.now();
  const total = warmup + options.iterations;
  for (let i = 0; i < total; i++) {
    const timed = i >= warmup;
    if (
      timed &&
      options.budgetMs !== undefined &&
      i - warmup >= minIterations &&
      performance.now() - started > options.budgetMs
    ) {
      break;
    }
    for (let s = 0; s < steps.length; s++) {
      const step = steps[s]!;
      let tb: number;
      let to: number;
      const settle = async () => {
        if (!options.settle) return;
        await options.settle();
        for (let w = 0; w < REWARM_CALLS; w++) await baseline(i);
      };
      if (i % 2 === 0) {
        tb = await timed1(() => baseline(i), settle);
        to = await timed1(() => step(i), settle);
      } else {
        to = await timed1(() => step(i), settle);
        tb = await timed1(() => baseline(i), settle);
      }
      if (timed) {
        base[s]!.push(tb);
        times[s]!.push(to);
      }
    }
  }
  return steps.map((_, s) => summarize(times[s]!, base[s]!));
}

/** Untimed baseline calls after a settle. */
const REWARM_CALLS = 3;

/** Microseconds one call takes; then `after`, untimed. */
async function timed1(call: () => Promise<unknown>, after: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await call();
  const us = (performance.now() - t0) * 1_000;
  await after();
  return us;
}

/** {@link timeSteps} for one operation. */
export async function timeAgainst(
  baseline: Op,
  op: Op,
  options: TimingOptions,
): Promise<RatioTiming> {
  return (await timeSteps(baseline, [op], options))[0]!;
}

function summarize(times: number[], base: number[]): RatioTiming {
  const baselineMedianUs = median(base);
  const medianUs = median(times);
  const p99Us = p99(times);
  return {
    samples: times.length,
    medianUs,
    p99Us,
    baselineMedianUs,
    medianRatio: medianUs / baselineMedianUs,
    p99Ratio: p99Us / baselineMedianUs,
  };
}
