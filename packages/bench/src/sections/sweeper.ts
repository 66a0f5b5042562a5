import { createActiveRunStore } from '@active-runs/core';
import { count, duration, table } from '../report/markdown.js';
import { check } from '../report/targets.js';
import { forEachBatch, seedStore } from '../seed.js';
import { deleteKeys, scanKeys } from '../server.js';
import type { BenchSection } from './section.js';

/** Lease of the runs to sweep: longer than seeding one batch takes, short enough to wait out. */
const LEASE_MS = 5_000;
const PREFIX = 'sweep';

export interface SweeperData {
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
  /** Longest script of any kind in the pass (batches, acknowledgements, registry reads), µs. */
  longestScriptUs: number;
  /** Longest sweep call as the client saw it (round trip), ms. */
  longestCallMs: number;
  sweepScripts: number;
  scripts: number;
  /** Redis time of every script of the pass together, µs. */
  scriptsTotalUs: number;
}

export const sweeperSection: BenchSection = {
  id: 'sweeper',
  title: 'The sweeper',
  async run(ctx) {
    const { server, mode } = ctx;
    const runs = mode.sweepRuns;
    let reported = 0;
    const store = createActiveRunStore({
      redis: server.client,
      prefix: PREFIX,
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
    const log = (await server.admin.slowlog('GET', 1_000_000)) as [
      number,
      number,
      number,
      string[],
    ][];
    await server.admin.config('SET', 'slowlog-log-slower-than', '10000');
    const scripts = log.filter(([, , , args]) => /^eval/i.test(String(args[0])));
    const sweeps = scripts.filter(([, , , args]) => /^evalsha$/i.test(String(args[0])));
    const longest = (entries: typeof log) => entries.reduce((m, [, , us]) => Math.max(m, us), 0);
    const left = (await store.counts(scope)).total;
    await store.close();
    await deleteKeys(server.admin, await scanKeys(server.admin, `${PREFIX}:*`));

    const data: SweeperData = {
      runs,
      expired: result.expired,
      reported,
      left,
      passMs: result.durationMs,
      runsPerSecond: (result.expired / result.durationMs) * 1_000,
      longestSweepScriptUs: longest(sweeps),
      longestScriptUs: longest(scripts),
      longestCallMs: result.longestCallMs,
      sweepScripts: sweeps.length,
      scripts: scripts.length,
      scriptsTotalUs: scripts.reduce((sum, [, , us]) => sum + us, 0),
    };
    ctx.log(`sweeper: ${JSON.stringify(data)}`);
    return {
      data,
      targets: [
        check(
          `Sweeping ${count(runs)} lapsed runs: no script over 5 ms`,
          `longest ${duration(data.longestScriptUs)}`,
          data.longestScriptUs <= 5_000,
        ),
        check(
          `Sweeping ${count(runs)} lapsed runs: ≥ 50k runs/s`,
          `${count(data.runsPerSecond)} runs/s`,
          data.runsPerSecond >= 50_000,
        ),
      ],
      markdown: [
        `${count(runs)} runs (~800 B, 60% running, 4 sources) enqueued in one project with a ${LEASE_MS / 1_000} s lease and left to lapse; then one \`store.sweep()\` pass with the default batch size (200) and a hook that only counts. Script times are Redis execution times from SLOWLOG (threshold 0 during the pass).`,
        table(
          [
            'lapsed runs',
            'expired',
            'hook calls',
            'left',
            'pass',
            'runs/s',
            'longest batch script',
            'longest script',
            'longest call (round trip)',
            'scripts',
          ],
          [
            [
              count(runs),
              count(data.expired),
              count(reported),
              count(left),
              duration(data.passMs * 1_000),
              count(data.runsPerSecond),
              duration(data.longestSweepScriptUs),
              duration(data.longestScriptUs),
              duration(data.longestCallMs * 1_000),
              `${count(data.sweepScripts)} batches of ${count(data.scripts)}`,
            ],
          ],
        ),
      ].join('\n\n'),
    };
  },
};
