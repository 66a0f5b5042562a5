/** How much a run measures: `smoke` keeps the bench from rotting in `npm test`; the others write BENCHMARKS.md. */
export type BenchModeName = 'smoke' | 'default' | 'full';

/** The HTTP section's load: autocannon's settings and the SSE fan-out. */
export interface HttpBenchMode {
  /** autocannon: concurrent connections, requests in flight on each, the same for every row. */
  readonly connections: number;
  readonly pipelining: number;
  /**
   * Seconds of one measured round of a row, rounds per row (a row's figure is the median round:
   * rounds alternate order, so a stall of the shared machine spoils one round, not a row), and an
   * uncounted warm-up per row.
   */
  readonly roundS: number;
  readonly rounds: number;
  readonly warmupS: number;
  /** Runs in the project the HGETALL-style route reads (and the adapter, beside it). */
  readonly legacySize: number;
  /** SSE viewers of one scope, and the writes (`progress`) fanned out to them, at a steady rate. */
  readonly sseViewers: number;
  readonly sseEvents: number;
  readonly sseRatePerS: number;
}

/** Sizes, iteration counts and budgets of one mode. */
export interface BenchMode {
  readonly name: BenchModeName;
  /** The root script that runs this mode, printed in BENCHMARKS.md. */
  readonly command: string;
  /** Active runs in the listed project, in growing order; each size is measured, then the data grows. */
  readonly sizes: readonly number[];
  /** Timed iterations of each cheap read contender (each one interleaved with a PING). */
  readonly readIterations: number;
  /** Iterations of the untimed pass that measures heap, bytes and Redis time per request. */
  readonly footprintIterations: number;
  /** Time budget (ms) of one expensive contender (A, B) at one size; at least 5 iterations run. */
  readonly slowBudgetMs: number;
  /** Largest size at which the contenders that read every run (A, B) still run. */
  readonly maxFullScanSize: number;
  /** Sequential lifecycles (enqueue, start, progress, heartbeat, end) timed against HSET. */
  readonly writeIterations: number;
  /** Pipelined batches per operation, each of `pipelineDepth` calls in flight. */
  readonly pipelineRounds: number;
  readonly pipelineDepth: number;
  /** Run starts and run ends timed against BullMQ's. */
  readonly lifecycleIterations: number;
  /** Runs seeded per layout to measure Redis memory per run. */
  readonly memoryRuns: number;
  /** Lapsed runs the sweeper removes. */
  readonly sweepRuns: number;
  /** Calls per operation under the CPU profiler. */
  readonly profileOps: number;
  readonly http: HttpBenchMode;
}

const PIPELINE_DEPTH = 512;

/** `pnpm bench`: up to 100k runs, a few minutes. */
const DEFAULT_MODE: BenchMode = {
  name: 'default',
  command: 'pnpm bench',
  sizes: [1_000, 10_000, 100_000],
  readIterations: 1_500,
  footprintIterations: 40,
  slowBudgetMs: 15_000,
  maxFullScanSize: 100_000,
  writeIterations: 1_500,
  pipelineRounds: 20,
  pipelineDepth: PIPELINE_DEPTH,
  lifecycleIterations: 1_500,
  memoryRuns: 100_000,
  sweepRuns: 100_000,
  profileOps: 3_000,
  http: {
    connections: 10,
    pipelining: 1,
    roundS: 2,
    rounds: 5,
    warmupS: 1,
    legacySize: 10_000,
    sseViewers: 1_000,
    sseEvents: 50,
    sseRatePerS: 10,
  },
};

export const MODES: Record<BenchModeName, BenchMode> = {
  smoke: {
    name: 'smoke',
    command: 'pnpm --filter @active-runs/bench run bench:smoke',
    sizes: [1_000],
    readIterations: 30,
    footprintIterations: 5,
    slowBudgetMs: 2_000,
    maxFullScanSize: 1_000,
    writeIterations: 30,
    pipelineRounds: 2,
    pipelineDepth: 64,
    lifecycleIterations: 30,
    memoryRuns: 1_000,
    sweepRuns: 1_000,
    profileOps: 100,
    http: {
      connections: 10,
      pipelining: 1,
      // autocannon takes about a second a run whatever its duration
      roundS: 1,
      rounds: 1,
      warmupS: 0,
      legacySize: 1_000,
      sseViewers: 20,
      sseEvents: 5,
      sseRatePerS: 20,
    },
  },
  default: DEFAULT_MODE,
  // `pnpm bench:full`: the same up to 1M runs (the full scans A and B stop at 100k)
  full: {
    ...DEFAULT_MODE,
    name: 'full',
    command: 'pnpm bench:full',
    sizes: [1_000, 10_000, 100_000, 1_000_000],
  },
};
