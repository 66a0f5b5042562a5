import type { Job } from 'bullmq';
import type { BullJob } from '../contenders/bullmq.js';
import { bullJob } from '../contenders/bullmq.js';
import { callWrite, roundTrips, startAtOnce, writeInputs } from '../contenders/writes.js';
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
  storeStartAtOnce: 'store: enqueue with start (1 call)',
  storeStart: 'store: enqueue, then start (2 calls)',
  bullStart: 'BullMQ: add + worker.getNextJob',
  storeEnd: 'store: end',
  bullEnd: 'BullMQ: job.moveToCompleted (removeOnComplete)',
};

export interface LifecycleData {
  size: number;
  timings: Record<Step, RatioTiming>;
  footprints: Record<Step, Footprint>;
  /** Commands the store's client sent per run start, by way of starting (counted on the client). */
  roundTrips: { storeStartAtOnce: number; storeStart: number };
}

export const lifecycleSection: BenchSection = {
  id: 'lifecycle',
  title: 'Run start and run end against BullMQ',
  async run(ctx) {
    const world = await seededWorld(ctx);
    const { store, scope, bull, server } = world;
    const { mode } = ctx;
    const total = mode.lifecycleIterations + WARMUP;
    const inputs = writeInputs(FIRST_INDEX, total, world.nowMs);
    const once = writeInputs(FIRST_INDEX + total, total, world.nowMs);
    const jobsIn: BullJob[] = inputs.map((i) => bullJob(i.run));
    const jobs: Job[] = [];
    const twoCalls = async (input: (typeof inputs)[number]) => {
      await callWrite(store, scope, 'enqueue', input);
      await callWrite(store, scope, 'start', input);
    };

    const ops: Record<Step, Op> = {
      storeStartAtOnce: (i) => startAtOnce(store, scope, once[i]!),
      storeStart: (i) => twoCalls(inputs[i]!),
      bullStart: async (i) => {
        jobs[i] = await bull.start(jobsIn[i]!);
      },
      storeEnd: (i) => callWrite(store, scope, 'end', inputs[i]!),
      bullEnd: (i) => bull.end(jobs[i]!),
    };
    const steps = Object.keys(ops) as Step[];
    const measured = await timeSteps(
      () => server.client.ping(),
      steps.map((s) => ops[s]),
      {
        iterations: mode.lifecycleIterations,
        warmup: WARMUP,
      },
    );
    const timings = Object.fromEntries(steps.map((s, k) => [s, measured[k]!])) as Record<
      Step,
      RatioTiming
    >;
    await Promise.all(once.map((input) => callWrite(store, scope, 'end', input)));

    // footprints and round trips of a start-and-end pass of its own
    const k = mode.footprintIterations * 5;
    const fpInputs = writeInputs(FIRST_INDEX + 2 * total, k, world.nowMs);
    const fpOnce = writeInputs(FIRST_INDEX + 2 * total + k, k, world.nowMs);
    const rtInputs = writeInputs(FIRST_INDEX + 2 * total + 2 * k, 2 * k, world.nowMs);
    const fpJobsIn = fpInputs.map((i) => bullJob(i.run));
    const fpJobs: Job[] = [];
    const footprints: LifecycleData['footprints'] = {
      storeStartAtOnce: await measureFootprint(
        server.admin,
        (i) => startAtOnce(store, scope, fpOnce[i]!),
        k,
      ),
      storeStart: await measureFootprint(server.admin, (i) => twoCalls(fpInputs[i]!), k),
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
    const rounds = {
      storeStartAtOnce: await roundTrips(
        server.client,
        (i) => startAtOnce(store, scope, rtInputs[i]!),
        k,
      ),
      storeStart: await roundTrips(server.client, (i) => twoCalls(rtInputs[k + i]!), k),
    };
    await Promise.all(
      [...fpOnce, ...rtInputs].map((input) => callWrite(store, scope, 'end', input)),
    );

    const start = timings.storeStartAtOnce;
    const bullStart = timings.bullStart;
    const cheaper = bullStart.medianUs / start.medianUs;
    const data: LifecycleData = { size: world.size, timings, footprints, roundTrips: rounds };
    ctx.log(
      `lifecycle: run start ${times(start.medianRatio)} (${rounds.storeStartAtOnce} round trip) vs BullMQ ${times(bullStart.medianRatio)} PING`,
    );
    return {
      data,
      targets: [
        check(
          'A run that starts at once is one call (an enqueue that starts it)',
          `${rounds.storeStartAtOnce} command${rounds.storeStartAtOnce === 1 ? '' : 's'} sent per run start (enqueue + start: ${rounds.storeStart}), ${times(start.medianRatio)} PING`,
          rounds.storeStartAtOnce === 1,
        ),
        check(
          "A run start ≥ 1.5× cheaper than BullMQ's add + activate",
          `${times(cheaper)} (${times(start.medianRatio)} vs ${times(bullStart.medianRatio)} PING)`,
          cheaper >= 1.5,
        ),
      ],
      markdown: [
        `Both libraries in one process, on one Redis, while the project holds ${size(world.size)} runs and the BullMQ queue as many active jobs; ${count(start.samples)} runs each, every call interleaved with a PING. The store's run start is an \`enqueue\` with \`start: true\` (the run is running from its first write); the two-call way is shown beside it. BullMQ's worker takes the job with \`getNextJob(token, { block: false })\` (one script, its cheapest path), and its jobs are removed on completion as \`end\` removes a run.`,
        table(
          ['', 'median', 'p99', 'round trips', 'Redis / run', 'reply', 'heap / run'],
          (Object.keys(LABELS) as Step[]).map((s) => {
            const t = timings[s];
            const f = footprints[s];
            const trips = s === 'storeStartAtOnce' || s === 'storeStart' ? rounds[s] : 1;
            return [
              LABELS[s],
              times(t.medianRatio),
              times(t.p99Ratio),
              s === 'bullStart' ? '2 (add, getNextJob)' : count(trips),
              duration(f.redisUs),
              bytes(f.replyBytes),
              bytes(f.heapBytes),
            ];
          }),
        ),
        `Medians as ratios to PING (${duration(start.baselineMedianUs)} in this loop). Round trips of the store are the commands its client sent per run start, counted on the client. BullMQ's run start takes ${times(cheaper)} the store's one-call start (${times(bullStart.medianUs / timings.storeStart.medianUs)} the two-call one), its run end ${times(timings.bullEnd.medianUs / timings.storeEnd.medianUs)} the store's (completing a job removes it from the active list with LREM, which walks the list: O(active jobs)).`,
      ].join('\n\n'),
    };
  },
};
