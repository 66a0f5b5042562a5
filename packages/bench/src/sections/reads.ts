import type { PageKind, ReadContender } from '../contenders/reads.js';
import { PAGE_SIZE, readContenders } from '../contenders/reads.js';
import type { Footprint } from '../measure/footprint.js';
import { fullGc, measureFootprint, measureFootprints } from '../measure/footprint.js';
import { scalingExponent } from '../measure/stats.js';
import type { RatioTiming } from '../measure/timing.js';
import { timeSteps } from '../measure/timing.js';
import { bytes, duration, signed, size, table, times } from '../report/markdown.js';
import type { TargetCheck } from '../report/targets.js';
import { check, notMeasured } from '../report/targets.js';
import type { BenchSection, SectionContext } from './section.js';

/** One contender at one size. */
export interface ReadRow {
  size: number;
  letter: string;
  name: string;
  page: PageKind;
  timing: RatioTiming;
  footprint: Footprint;
  /**
   * For the full scans: the store's first page timed in the same loop, so their speed-up is
   * read from one loop (a full scan needs far more CPU than a PING, so load shifts between
   * loops would otherwise move it 2-3×).
   */
  storeInLoop?: RatioTiming;
}

/** What the reads section measured. */
export interface ReadsData {
  rows: ReadRow[];
  /** Whether A, D, E and G returned the same ids for the first and the deep page. */
  agreement: { size: number; first: boolean; deep: boolean }[];
  /** How many of the true top 25 the early-exit HSCAN (C) returned. */
  earlyExit: { size: number; correct: number }[];
  /** Scaling exponent of the median (as a ratio to PING) per contender and page, from the smallest size up. */
  exponents: { letter: string; name: string; page: PageKind; exponent: number }[];
}

/** Pause after each full-scan call and its PING (see TimingOptions.settle). */
const FULL_SCAN_SETTLE_MS = 25;

/** Page kinds of the store that the page targets cover. */
const STORE_PAGES: PageKind[] = ['first', 'deep', 'running', 'source'];
const PAGE_LABEL: Record<PageKind, string> = {
  first: 'first page',
  deep: 'deep page (N/2)',
  running: 'status filter',
  source: 'source filter',
  counts: 'counts',
};

function sameIds(a: string[] | null | undefined, b: string[] | null | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((id, i) => id === b[i]);
}

async function measureSize(ctx: SectionContext, data: ReadsData): Promise<void> {
  const world = await ctx.world();
  const { mode, server } = ctx;
  const ping = () => server.client.ping();
  const contenders = (await readContenders(world)).filter(
    (c) => !c.fullScan || world.size <= mode.maxFullScanSize,
  );
  const pages = new Map<string, string[] | null>();
  for (const c of contenders) pages.set(`${c.letter}:${c.page}`, await c.op());
  const timings = new Map<ReadContender, RatioTiming>();
  // the full scans one at a time, each within a time budget; after each call (untimed) a full
  // GC of its hundreds of MB and a pause, or that aftermath would land in the next PING
  const storeFirst = contenders.find((c) => c.letter === 'G' && c.page === 'first')!;
  const settle = async () => {
    fullGc();
    await new Promise((r) => setTimeout(r, FULL_SCAN_SETTLE_MS));
    // a full GC leaves the next call of any code path cold: warm the store's, untimed
    await storeFirst.op();
  };
  const storeInLoop = new Map<ReadContender, RatioTiming>();
  for (const c of contenders.filter((c) => c.fullScan)) {
    const [scan, store] = await timeSteps(ping, [c.op, storeFirst.op], {
      iterations: mode.readIterations,
      budgetMs: mode.slowBudgetMs,
      settle,
    });
    timings.set(c, scan!);
    storeInLoop.set(c, store!);
  }
  // the cheap ones in one loop, round robin, each call paired with its own PING: a change of
  // load on the machine hits them all alike
  const cheap = contenders.filter((c) => !c.fullScan);
  // a longer warm-up than the default (a fifth of the iterations): a full run with 20 warm-up
  // rounds measured the store's page at 3.39x PING at 1k, the first size, and 2.74x at 1M, a
  // negative scaling exponent; the first size timed code V8 had not optimized yet
  const cheapTimings = await timeSteps(
    ping,
    cheap.map((c) => c.op),
    { iterations: mode.readIterations, warmup: Math.max(20, Math.floor(mode.readIterations / 5)) },
  );
  for (const [i, c] of cheap.entries()) timings.set(c, cheapTimings[i]!);
  const footprints = new Map<ReadContender, Footprint>();
  for (const c of contenders.filter((c) => c.fullScan)) {
    footprints.set(
      c,
      await measureFootprint(server.admin, c.op, Math.min(3, mode.footprintIterations)),
    );
  }
  const cheapFootprints = await measureFootprints(
    server.admin,
    cheap.map((c) => c.op),
    mode.footprintIterations,
  );
  for (const [i, c] of cheap.entries()) footprints.set(c, cheapFootprints[i]!);
  for (const c of contenders) {
    const timing = timings.get(c)!;
    const inLoop = storeInLoop.get(c);
    data.rows.push({
      size: world.size,
      letter: c.letter,
      name: c.name,
      page: c.page,
      timing,
      footprint: footprints.get(c)!,
      ...(inLoop ? { storeInLoop: inLoop } : {}),
    });
    ctx.log(`reads ${size(world.size)} ${c.letter} ${c.page}: ${times(timing.medianRatio)} PING`);
  }
  const truth = (page: string) => pages.get(`E:${page}`);
  const agreeOn = (page: string) =>
    ['D', 'G', ...(pages.has(`A:${page}`) ? ['A'] : [])].every((l) =>
      sameIds(pages.get(`${l}:${page}`), truth(page)),
    );
  data.agreement.push({ size: world.size, first: agreeOn('first'), deep: agreeOn('deep') });
  const top = new Set(truth('first') ?? []);
  data.earlyExit.push({
    size: world.size,
    correct: (pages.get('C:first') ?? []).filter((id) => top.has(id)).length,
  });
}

function exponents(rows: ReadRow[]): ReadsData['exponents'] {
  const groups = new Map<string, ReadRow[]>();
  for (const row of rows) {
    const k = `${row.letter}|${row.name}|${row.page}`;
    groups.set(k, [...(groups.get(k) ?? []), row]);
  }
  return [...groups.values()].map((group) => ({
    letter: group[0]!.letter,
    name: group[0]!.name,
    page: group[0]!.page,
    exponent: scalingExponent(group.map((r) => ({ n: r.size, cost: r.timing.medianRatio }))),
  }));
}

/**
 * How many times slower `row` is than the store's first page: within the same loop where there is
 * one (the full scans), else each median as a ratio to its own loop's PING.
 */
export function speedupOver(row: ReadRow, storeFirst: ReadRow): number {
  return row.storeInLoop
    ? row.timing.medianUs / row.storeInLoop.medianUs
    : row.timing.medianRatio / storeFirst.timing.medianRatio;
}

function find(data: ReadsData, letter: string, page: PageKind, n: number): ReadRow | undefined {
  return data.rows.find((r) => r.letter === letter && r.page === page && r.size === n);
}

function targets(data: ReadsData, sizes: readonly number[]): TargetCheck[] {
  const store = data.rows.filter((r) => r.letter === 'G' && STORE_PAGES.includes(r.page));
  const worst = store.reduce(
    (a, b) => (b.timing.medianRatio > a.timing.medianRatio ? b : a),
    store[0]!,
  );
  const heaviest = store.reduce(
    (a, b) => (b.footprint.heapBytes > a.footprint.heapBytes ? b : a),
    store[0]!,
  );
  const storeExponents = data.exponents.filter(
    (e) => e.letter === 'G' && STORE_PAGES.includes(e.page),
  );
  const steepest = storeExponents.reduce(
    (a, b) => (Math.abs(b.exponent) > Math.abs(a.exponent) ? b : a),
    storeExponents[0]!,
  );
  const out: TargetCheck[] = [
    check(
      'A page, first or deep, filtered or not: ≤ 2.4× PING at every N',
      `worst ${times(worst.timing.medianRatio)} (${PAGE_LABEL[worst.page]}, ${size(worst.size)})`,
      worst.timing.medianRatio <= 2.4,
    ),
    sizes.length < 2
      ? notMeasured('Scaling exponent of a page within ±0.03', 'one size only in this mode')
      : check(
          'Scaling exponent of a page within ±0.03',
          `worst ${signed(steepest.exponent)} (${PAGE_LABEL[steepest.page]}, ${size(sizes[0]!)}–${size(sizes.at(-1)!)})`,
          Math.abs(steepest.exponent) <= 0.03,
        ),
    check(
      'A page: ≤ 60 KiB of JS garbage',
      `worst ${bytes(heaviest.footprint.heapBytes)} (${PAGE_LABEL[heaviest.page]}, ${size(heaviest.size)})`,
      heaviest.footprint.heapBytes <= 60 * 1024,
    ),
  ];
  for (const [n, goal] of [
    [10_000, 250],
    [100_000, 3_000],
  ] as const) {
    const a = find(data, 'A', 'first', n);
    const g = find(data, 'G', 'first', n);
    const label = `≥ ${goal.toLocaleString('en-US')}× faster than (A) HGETALL at ${size(n)}`;
    out.push(
      a && g
        ? check(label, times(speedupOver(a, g)), speedupOver(a, g) >= goal)
        : notMeasured(label, `${size(n)} not measured in this mode`),
    );
  }
  const vsBull = sizes.flatMap((n) => {
    const f = find(data, 'F', 'first', n);
    const g = find(data, 'G', 'first', n);
    return f && g ? [{ n, speedup: speedupOver(f, g) }] : [];
  });
  const slowest = vsBull.reduce((a, b) => (b.speedup < a.speedup ? b : a), vsBull[0]!);
  out.push(
    check(
      "≥ 2.5× faster than BullMQ's page (first page)",
      `worst ${times(slowest.speedup)} (${size(slowest.n)})`,
      slowest.speedup >= 2.5,
    ),
  );
  return out;
}

function markdown(data: ReadsData, sizes: readonly number[], maxFullScan: number): string {
  const parts: string[] = [];
  parts.push(
    `First page of ${PAGE_SIZE} and a deep page (offset N/2, by cursor for the store) of one project holding N active runs of ~800 B (60% running). Latency is the median and p99 of each contender divided by the median of a PING interleaved in the same loop; C to G run round robin in one loop per size, A and B one at a time within a time budget, each call and each PING followed (untimed) by a full GC, a pause and a few PINGs, so a full scan's aftermath never lands in the next PING. "Heap" is the JS heap allocated per request, "Redis" the server's execution time per request. A and B read every run, so they run only up to ${size(maxFullScan)}.`,
  );
  for (const n of sizes) {
    const rows = data.rows.filter((r) => r.size === n);
    parts.push(`### N = ${size(n)}`);
    parts.push(
      table(
        [
          '',
          'contender',
          'page',
          'median',
          'p99',
          'reply',
          'heap / request',
          'Redis / request',
          'samples',
        ],
        rows.map((r) => [
          r.letter,
          r.name,
          PAGE_LABEL[r.page],
          times(r.timing.medianRatio),
          times(r.timing.p99Ratio),
          bytes(r.footprint.replyBytes),
          bytes(r.footprint.heapBytes),
          duration(r.footprint.redisUs),
          String(r.timing.samples),
        ]),
      ),
    );
    const pings = rows.map((r) => r.timing.baselineMedianUs);
    const agreement = data.agreement.find((a) => a.size === n);
    const early = data.earlyExit.find((e) => e.size === n);
    parts.push(
      `PING median in this size's loops: ${duration(Math.min(...pings))}–${duration(Math.max(...pings))}. Same ids from A, D, E and G: first page ${agreement?.first ? 'yes' : '**no**'}, deep page ${agreement?.deep ? 'yes' : '**no**'}. C (early exit) returned ${early?.correct ?? '–'} of the true top ${PAGE_SIZE}.`,
    );
  }
  if (sizes.length > 1) {
    parts.push('### Scaling and speed-ups');
    parts.push(
      `Scaling exponent k of the median (cost ~ N^k, least squares over log N from ${size(sizes[0]!)} to ${size(sizes.at(-1)!)}; 0 is flat, 1 is linear), and the median per size as a ratio to PING.`,
    );
    parts.push(
      table(
        ['', 'contender', 'page', 'k', ...sizes.map((n) => size(n))],
        data.exponents.map((e) => [
          e.letter,
          e.name,
          PAGE_LABEL[e.page],
          signed(e.exponent),
          ...sizes.map((n) => {
            const row = find(data, e.letter, e.page, n);
            return row ? times(row.timing.medianRatio) : 'not run';
          }),
        ]),
      ),
    );
  }
  const speedups = sizes.map((n) => {
    const g = find(data, 'G', 'first', n);
    const vs = (letter: string) => {
      const r = find(data, letter, 'first', n);
      return r && g ? times(speedupOver(r, g)) : 'not run';
    };
    return [
      size(n),
      vs('A'),
      vs('B'),
      vs('D'),
      vs('F'),
      g
        ? times(
            g.timing.medianRatio / (find(data, 'E', 'first', n)?.timing.medianRatio ?? Number.NaN),
          )
        : '–',
    ];
  });
  parts.push(
    "How many times slower than `store.list` each contender is (first page, medians; A and B against the store's page timed in their own loop, the others in the round-robin loop):",
  );
  parts.push(
    table(
      ['N', 'A HGETALL', 'B HSCAN', 'D two trips', 'F BullMQ', 'store.list / floor E'],
      speedups,
    ),
  );
  return parts.join('\n\n');
}

export const readsSection: BenchSection = {
  id: 'reads',
  title: 'Reading a page',
  async run(ctx) {
    const data: ReadsData = { rows: [], agreement: [], earlyExit: [], exponents: [] };
    const world = await ctx.world();
    for (const n of ctx.mode.sizes) {
      await world.grow(n, ctx.log);
      await measureSize(ctx, data);
    }
    data.exponents = exponents(data.rows);
    return {
      markdown: markdown(data, ctx.mode.sizes, ctx.mode.maxFullScanSize),
      targets: targets(data, ctx.mode.sizes),
      data,
    };
  },
};
