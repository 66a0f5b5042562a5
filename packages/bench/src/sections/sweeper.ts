import { createActiveRunStore } from '@active-runs/core';
import { p99 } from '../measure/stats.js';
import { count, duration, table } from '../report/markdown.js';
import { check } from '../report/targets.js';
import { forEachBatch, seedStore } from '../seed.js';
import type { BenchServer } from '../server.js';
import { deleteKeys, scanKeys } from '../server.js';
import type { BenchSection } from './section.js';

/** Runs per sweep call: the store's default, passed explicitly so the report can name it. */
const BATCH_SIZE = 100;
/** Lease of the runs to sweep: longer than seeding one batch takes, short enough to wait out. */
const LEASE_MS = 5_000;
const PREFIX = 'sweep';

/** One sweep pass over lapsed runs. */
export interface SweepPass {
  publishEvents: boolean;
  batchSize: number;
  runs: number;
  expired: number;
  /** Runs the hook was called for. */
  reported: number;
  /** Runs left in the project after the pass (should be 0). */
  left: number;
  passMs: number;
  runsPerSecond: number;
  /** Longest sweep batch script, server execution time (SLOWLOG), µs. */
  longestSweepScriptUs: number;
  /**
   * 99th percentile of the batch scripts, µs: SLOWLOG times are wall-clock inside Redis, so on
   * a loaded machine the longest one may be a script the OS paused, not a slow script.
   */
  p99SweepScriptUs: number;
  /** Longest script of any kind in the pass (batches, acknowledgements, registry reads), µs. */
  longestScriptUs: number;
  /**
   * Longest separate acknowledgement script (reports confirmed after the hook), µs: the last
   * answers left at the end of a scope; the others ride in later sweep calls.
   */
  longestAckUs: number;
  /** Longest read of the slot registries (due scopes of up to 256 slots a call), µs. */
  longestRegistryReadUs: number;
  /** Longest sweep call as the client saw it (round trip), ms. */
  longestCallMs: number;
  sweepScripts: number;
  scripts: number;
  /** Redis time of every script of the pass together, µs. */
  scriptsTotalUs: number;
}

/** The pass with events on (the default, and the targets' figure) and one with them off. */
export interface SweeperData extends SweepPass {
  withoutEvents: SweepPass;
}

type SlowlogEntry = [number, number, number, string[]];

async function sweepPass(
  server: BenchServer,
  runs: number,
  publishEvents: boolean,
): Promise<SweepPass> {
  let reported = 0;
  const store = createActiveRunStore({
    redis: server.client,
    prefix: PREFIX,
    publishEvents,
    sweeper: { batchSize: BATCH_SIZE },
    onExpired: () => {
      reported++;
    },
  });
  const scope = { workspaceId: 'ws-sweep', projectId: 'lapsed' };
  await forEachBatch(0, runs, 'large', Date.now(), (batch) =>
    seedStore(store, scope, batch, LEASE_MS),
  );
  await new Promise((r) => setTimeout(r, LEASE_MS + 250));

  await server.admin.config('SET', 'slowlog-log-slower-than', '0');
  await server.admin.slowlog('RESET');
  const result = await store.sweep();
  const log = (await server.admin.slowlog('GET', 1_000_000)) as SlowlogEntry[];
  await server.admin.config('SET', 'slowlog-log-slower-than', '10000');
  const scripts = log.filter(([, , , args]) => /^eval/i.test(String(args[0])));
  // the sweeper's scripts told apart by their key count (EVAL / EVALSHA body-or-sha numkeys ...):
  // sweep takes 8 keys, settle (the last batch's acknowledgements) 5; the registry read is an EVAL
  // whose body SLOWLOG keeps the first 128 characters of, enough to see its shebang
  const withKeys = (n: number) => scripts.filter(([, , , args]) => String(args[2]) === String(n));
  const sweeps = withKeys(8);
  const longest = (entries: SlowlogEntry[]) => entries.reduce((m, [, , us]) => Math.max(m, us), 0);
  const registryReads = scripts.filter(([, , , args]) =>
    String(args[1]).includes('allow-cross-slot-keys'),
  );
  const left = (await store.counts(scope)).total;
  await store.close();
  await deleteKeys(server.admin, await scanKeys(server.admin, `${PREFIX}:*`));
  return {
    publishEvents,
    batchSize: BATCH_SIZE,
    runs,
    expired: result.expired,
    reported,
    left,
    passMs: result.durationMs,
    runsPerSecond: (result.expired / result.durationMs) * 1_000,
    longestSweepScriptUs: longest(sweeps),
    p99SweepScriptUs: p99(sweeps.map(([, , us]) => us)),
    longestScriptUs: longest(scripts),
    longestAckUs: longest(withKeys(5)),
    longestRegistryReadUs: longest(registryReads),
    longestCallMs: result.longestCallMs,
    sweepScripts: sweeps.length,
    scripts: scripts.length,
    scriptsTotalUs: scripts.reduce((sum, [, , us]) => sum + us, 0),
  };
}

function row(pass: SweepPass): string[] {
  return [
    pass.publishEvents ? 'on (default)' : 'off',
    count(pass.expired),
    count(pass.reported),
    count(pass.left),
    duration(pass.passMs * 1_000),
    count(pass.runsPerSecond),
    duration(pass.longestSweepScriptUs),
    duration(pass.p99SweepScriptUs),
    duration(pass.longestAckUs),
    duration(pass.longestRegistryReadUs),
    duration(pass.scriptsTotalUs),
    duration(pass.longestCallMs * 1_000),
    `${count(pass.sweepScripts)} batches of ${count(pass.scripts)}`,
  ];
}

export const sweeperSection: BenchSection = {
  id: 'sweeper',
  title: 'The sweeper',
  async run(ctx) {
    const runs = ctx.mode.sweepRuns;
    const main = await sweepPass(ctx.server, runs, true);
    const withoutEvents = await sweepPass(ctx.server, runs, false);
    const data: SweeperData = { ...main, withoutEvents };
    ctx.log(
      `sweeper: ${count(main.runsPerSecond)} runs/s, longest script ${duration(main.longestScriptUs)}`,
    );
    return {
      data,
      targets: [
        check(
          `Sweeping ${count(runs)} lapsed runs: no script over 5 ms`,
          `longest ${duration(main.longestScriptUs)} (p99 of the batches ${duration(main.p99SweepScriptUs)})`,
          main.longestScriptUs <= 5_000,
        ),
        check(
          `Sweeping ${count(runs)} lapsed runs: ≥ 50k runs/s`,
          `${count(main.runsPerSecond)} runs/s`,
          main.runsPerSecond >= 50_000,
        ),
      ],
      markdown: [
        `${count(runs)} runs (~800 B, 60% running, 4 sources and some without) enqueued in one project with a ${LEASE_MS / 1_000} s lease and left to lapse; then one \`store.sweep()\` pass with the default batch size (${BATCH_SIZE}) and a hook that only counts. Script times are Redis execution times from SLOWLOG (threshold 0 during the pass). The second row is the same pass with \`publishEvents: false\`, to show what the expired events cost.`,
        table(
          [
            'events',
            'expired',
            'hook calls',
            'left',
            'pass',
            'runs/s',
            'longest batch script',
            'p99 batch script',
            'longest acknowledgement',
            'longest registry read',
            'all scripts',
            'longest call (round trip)',
            'scripts',
          ],
          [row(main), row(withoutEvents)],
        ),
      ].join('\n\n'),
    };
  },
};
