import type { WriteInput, WriteOp } from '../contenders/writes.js';
import { callWrite, lifecycleFootprints, WRITE_OPS, writeInputs } from '../contenders/writes.js';
import type { Footprint } from '../measure/footprint.js';
import { measureFootprint, measureFootprints } from '../measure/footprint.js';
import type { RatioTiming } from '../measure/timing.js';
import { timeSteps } from '../measure/timing.js';
import { bytes, count, duration, percent, size, table, times } from '../report/markdown.js';
import { check } from '../report/targets.js';
import type { BenchSection } from './section.js';
import { seededWorld } from './section.js';

/** Run indexes of this section's runs, apart from the seeded project's. */
const FIRST_INDEX = 20_000_000;
const WARMUP = 20;
const BASELINE_KEY = 'bench:baseline:hset';

export interface WritesData {
  /** Runs in the project while writing. */
  size: number;
  sequential: Record<WriteOp, RatioTiming>;
  /** Throughput of each operation as a share of pipelined HSET's (1 = as fast). */
  pipelined: Record<
    WriteOp,
    { share: number; opsPerSecond: number; hsetOpsPerSecond: number; redisUs: number }
  >;
  /** Redis time per HSET inside a pipelined batch (hot: no pause between calls), µs. */
  pipelinedHsetRedisUs: number;
  pipelineDepth: number;
  footprints: Record<WriteOp | 'hset', Footprint>;
}

export const writesSection: BenchSection = {
  id: 'writes',
  title: 'Writes',
  async run(ctx) {
    const world = await seededWorld(ctx);
    const { store, scope, server } = world;
    const { mode } = ctx;
    const client = server.client;
    const hset = (input: WriteInput) => client.hset(BASELINE_KEY, input.run.id, input.json);

    // sequential: every iteration is one run's whole lifecycle, each call paired with an HSET
    const seq = writeInputs(FIRST_INDEX, mode.writeIterations + WARMUP, world.nowMs);
    const timings = await timeSteps(
      (i) => hset(seq[i]!),
      WRITE_OPS.map((op) => (i: number) => callWrite(store, scope, op, seq[i]!)),
      { iterations: mode.writeIterations, warmup: WARMUP },
    );
    const sequential = Object.fromEntries(
      WRITE_OPS.map((op, k) => [op, timings[k]!]),
    ) as WritesData['sequential'];
    ctx.log(
      `writes sequential: ${WRITE_OPS.map((op) => `${op} ${times(sequential[op].medianRatio)}`).join(', ')}`,
    );

    // pipelined: a batch of `depth` calls in flight at once, against a batch of HSETs
    const depth = mode.pipelineDepth;
    const batches = writeInputs(
      FIRST_INDEX + seq.length,
      (mode.pipelineRounds + 1) * depth,
      world.nowMs,
    );
    const batch = (i: number) => batches.slice(i * depth, (i + 1) * depth);
    const batchTimings = await timeSteps(
      (i) => Promise.all(batch(i).map(hset)),
      WRITE_OPS.map(
        (op) => (i: number) =>
          Promise.all(batch(i).map((input) => callWrite(store, scope, op, input))),
      ),
      { iterations: mode.pipelineRounds, warmup: 1, minIterations: 1 },
    );
    const pipelined = Object.fromEntries(
      WRITE_OPS.map((op, k) => {
        const t = batchTimings[k]!;
        return [
          op,
          {
            share: t.baselineMedianUs / t.medianUs,
            opsPerSecond: (depth / t.medianUs) * 1e6,
            hsetOpsPerSecond: (depth / t.baselineMedianUs) * 1e6,
            redisUs: Number.NaN,
          },
        ];
      }),
    ) as WritesData['pipelined'];

    // Redis time per call inside a pipelined batch: back to back, Redis stays hot, so it is
    // lower than a lone call's (a lone call finds Redis asleep and its caches cold)
    const hot = writeInputs(FIRST_INDEX + seq.length + batches.length, 2 * depth, world.nowMs);
    const hotBatch = (i: number) => hot.slice(i * depth, (i + 1) * depth);
    const hotHset = await measureFootprint(
      server.admin,
      (i) => Promise.all(hotBatch(i).map(hset)),
      2,
    );
    const hotOps = await measureFootprints(
      server.admin,
      WRITE_OPS.map(
        (op) => (i: number) =>
          Promise.all(hotBatch(i).map((input) => callWrite(store, scope, op, input))),
      ),
      2,
      2,
    );
    for (const [k, op] of WRITE_OPS.entries()) pipelined[op].redisUs = hotOps[k]!.redisUs / depth;

    // footprints: a lifecycle pass of its own, one operation at a time
    const k = mode.footprintIterations * 5;
    const fp = writeInputs(FIRST_INDEX + seq.length + batches.length + hot.length, k, world.nowMs);
    const footprints: WritesData['footprints'] = {
      hset: await measureFootprint(server.admin, (i) => hset(fp[i]!), k),
      ...(await lifecycleFootprints(server.admin, store, scope, fp)),
    };
    await client.del(BASELINE_KEY);

    const data: WritesData = {
      size: world.size,
      sequential,
      pipelined,
      pipelinedHsetRedisUs: hotHset.redisUs / depth,
      pipelineDepth: depth,
      footprints,
    };
    const worst = WRITE_OPS.reduce((a, b) =>
      sequential[b].medianRatio > sequential[a].medianRatio ? b : a,
    );
    return {
      data,
      targets: [
        check(
          'Each write ≤ 1.4× a bare HSET round trip',
          `worst ${times(sequential[worst].medianRatio)} (${worst})`,
          sequential[worst].medianRatio <= 1.4,
        ),
        check(
          'Pipelined enqueue ≥ 50% of pipelined HSET',
          percent(pipelined.enqueue.share),
          pipelined.enqueue.share >= 0.5,
        ),
      ],
      markdown: [
        `In a project holding ${size(world.size)} runs. Sequential: one call at a time, each paired in the same loop with a bare \`HSET\` of the run's ~800 B JSON into a hash (the legacy layout's write); ${count(sequential.enqueue.samples)} lifecycles (enqueue, start, progress, heartbeat, end). No \`dataSchema\` (its cost is the app's schema; see "Where the time goes").`,
        table(
          ['operation', 'median', 'p99', 'Redis / call', 'request', 'reply', 'heap / call'],
          [
            [
              'bare HSET (baseline)',
              `${duration(sequential.enqueue.baselineMedianUs)}`,
              '',
              duration(footprints.hset.redisUs),
              bytes(footprints.hset.requestBytes),
              bytes(footprints.hset.replyBytes),
              bytes(footprints.hset.heapBytes),
            ],
            ...WRITE_OPS.map((op) => [
              op,
              times(sequential[op].medianRatio),
              times(sequential[op].p99Ratio),
              duration(footprints[op].redisUs),
              bytes(footprints[op].requestBytes),
              bytes(footprints[op].replyBytes),
              bytes(footprints[op].heapBytes),
            ]),
          ],
        ),
        `Pipelined: ${depth} calls in flight on one connection, ${mode.pipelineRounds} batches per operation, each batch paired with ${depth} pipelined \`HSET\`s. The last column is Redis time per call inside a batch (HSET: ${duration(data.pipelinedHsetRedisUs)}), where Redis runs calls back to back instead of waking up for each.`,
        table(
          [
            'operation',
            'throughput vs pipelined HSET',
            'calls/s',
            'HSET calls/s (same loop)',
            'Redis / call in a batch',
          ],
          WRITE_OPS.map((op) => [
            op,
            percent(pipelined[op].share),
            count(pipelined[op].opsPerSecond),
            count(pipelined[op].hsetOpsPerSecond),
            duration(pipelined[op].redisUs),
          ]),
        ),
      ].join('\n\n'),
    };
  },
};
