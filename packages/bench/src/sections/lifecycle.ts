import type { Job } from 'bullmq';
import type { BullJob } from '../contenders/bullmq.js';
import { bullJob } from '../contenders/bullmq.js';
import { callWrite, startAtOnce, writeInputs } from '../contenders/writes.js';
import type { Footprint } from '../measure/footprint.js';
import { measureFootprint } from '../measure/footprint.js';
import type { Op, RatioTiming } from '../measure/timing.js';
import { timeSteps } from '../measure/timing.js';
import { bytes, count, duration, size, table, times } from '../report/markdown.js';
import { check } from '../report/targets.js';
import type { BenchSection } from './section.js';
import { seededWorld } from './section.js';

const FIRST_INDEX = 30_000_000;
const WARMUP = 20;

type Step = 'storeStart' | 'storeStartAtOnce' | 'bullStart' | 'storeEnd' | 'bullEnd';

const LABELS: Record<Step, string> = {
  storeStart: 'store: enqueue + start (2 calls)',
  storeStartAtOnce: 'store: an enqueue that starts (1 call)',
  bullStart: 'BullMQ: add + worker.getNextJob',
  storeEnd: 'store: end',
  bullEnd: 'BullMQ: job.moveToCompleted (removeOnComplete)',
};

export interface LifecycleData {
  size: number;
  timings: Partial<Record<Step, RatioTiming>>;
  footprints: Partial<Record<Step, Footprint>>;
}

export const lifecycleSection: BenchSection = {
  id: 'lifecycle',
  title: 'Run start and run end against BullMQ',
  async run(ctx) {
    const world = await seededWorld(ctx);
    const { store, scope, bull, server } = world;
    const { mode } = ctx;
    const atOnce = startAtOnce(store);
    const total = mode.lifecycleIterations + WARMUP;
    const inputs = writeInputs(FIRST_INDEX, total, world.nowMs);
    const jobsIn: BullJob[] = inputs.map((i) => bullJob(i.run));
    const jobs: Job[] = [];
    const once = atOnce ? writeInputs(FIRST_INDEX + total, total, world.nowMs) : [];

    const ops: Partial<Record<Step, Op>> = {
      storeStart: async (i) => {
        await callWrite(store, scope, 'enqueue', inputs[i]!);
        await callWrite(store, scope, 'start', inputs[i]!);
      },
      bullStart: async (i) => {
        jobs[i] = await bull.start(jobsIn[i]!);
      },
      storeEnd: (i) => callWrite(store, scope, 'end', inputs[i]!),
      bullEnd: (i) => bull.end(jobs[i]!),
      ...(atOnce ? { storeStartAtOnce: (i: number) => atOnce(scope, once[i]!) } : {}),
    };
    const steps = Object.keys(ops) as Step[];
    const measured = await timeSteps(
      () => server.client.ping(),
      steps.map((s) => ops[s]!),
      {
        iterations: mode.lifecycleIterations,
        warmup: WARMUP,
      },
    );
    const timings: LifecycleData['timings'] = Object.fromEntries(
      steps.map((s, k) => [s, measured[k]!]),
    );
    if (atOnce) {
      await Promise.all(once.map((input) => callWrite(store, scope, 'end', input)));
    }

    // footprints of a start-and-end pass of its own
    const k = mode.footprintIterations * 5;
    const fpInputs = writeInputs(FIRST_INDEX + 2 * total, k, world.nowMs);
    const fpJobsIn = fpInputs.map((i) => bullJob(i.run));
    const fpJobs: Job[] = [];
    const footprints: LifecycleData['footprints'] = {
      storeStart: await measureFootprint(
        server.admin,
        async (i) => {
          await callWrite(store, scope, 'enqueue', fpInputs[i]!);
          await callWrite(store, scope, 'start', fpInputs[i]!);
        },
        k,
      ),
      bullStart: await measureFootprint(
        server.admin,
        async (i) => {
          fpJobs[i] = await bull.start(fpJobsIn[i]!);
        },
        k,
      ),
      storeEnd: await measureFootprint(
        server.admin,
        (i) => callWrite(store, scope, 'end', fpInputs[i]!),
        k,
      ),
      bullEnd: await measureFootprint(server.admin, (i) => bull.end(fpJobs[i]!), k),
    };

    const start = timings.storeStart!;
    const bullStart = timings.bullStart!;
    const cheaper = bullStart.medianUs / start.medianUs;
    const data: LifecycleData = { size: world.size, timings, footprints };
    ctx.log(
      `lifecycle: run start ${times(start.medianRatio)} vs BullMQ ${times(bullStart.medianRatio)} PING`,
    );
    return {
      data,
      targets: [
        check(
          'A run that starts at once is one call (an enqueue that starts it)',
          atOnce
            ? `1 call, ${times(timings.storeStartAtOnce!.medianRatio)} PING`
            : 'no such call in this build: enqueue + start, 2 calls',
          !!atOnce,
        ),
        check(
          "A run start ≥ 1.5× cheaper than BullMQ's add + activate",
          `${times(cheaper)} (${times(start.medianRatio)} vs ${times(bullStart.medianRatio)} PING)`,
          cheaper >= 1.5,
        ),
      ],
      markdown: [
        `Both libraries in one process, on one Redis, while the project holds ${size(world.size)} runs and the BullMQ queue as many active jobs; ${count(start.samples)} runs each, every call interleaved with a PING. BullMQ's worker takes the job with \`getNextJob(token, { block: false })\` (one script, its cheapest path), and its jobs are removed on completion as \`end\` removes a run.`,
        table(
          ['', 'median', 'p99', 'Redis / run', 'reply', 'heap / run'],
          (Object.keys(LABELS) as Step[]).map((s) => {
            const t = timings[s];
            const f = footprints[s];
            if (!t) return [LABELS[s], 'not in this build', '', '', '', ''];
            return [
              LABELS[s],
              times(t.medianRatio),
              times(t.p99Ratio),
              f ? duration(f.redisUs) : '–',
              f ? bytes(f.replyBytes) : '–',
              f ? bytes(f.heapBytes) : '–',
            ];
          }),
        ),
        `Medians as ratios to PING (${duration(start.baselineMedianUs)} in this loop). BullMQ's run start takes ${times(cheaper)} the store's time, its run end ${times(timings.bullEnd!.medianUs / timings.storeEnd!.medianUs)} (completing a job removes it from the active list with LREM, which walks the list: O(active jobs)).`,
      ].join('\n\n'),
    };
  },
};
