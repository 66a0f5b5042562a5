import type { ActiveRunStore } from '@active-runs/core';
import { createActiveRunStore, INSTRUMENT_NAMES } from '@active-runs/core';
import { deletePrefix } from '@active-runs/test-utils';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { median, p99 } from '../measure/stats.js';
import { duration, signed, table, times } from '../report/markdown.js';
import { check } from '../report/targets.js';
import type { BenchSection } from './section.js';

const PREFIX = 'bench:telemetry';
const SCOPE = { workspaceId: 'bench', projectId: 'telemetry' };
/** Runs in the listed scope, so `list` reads a full page of real runs. */
const SEEDED = 1_000;
const WARMUP = 50;
/** The overhead the issue allows with the API installed and no SDK. */
const NOOP_BUDGET = 0.02;

const VARIANTS = ['off', 'noop', 'sdk'] as const;
type Variant = (typeof VARIANTS)[number];
const OPS = ['list', 'enqueue'] as const;
type Op = (typeof OPS)[number];

interface OpTiming {
  /** Median per variant (µs). */
  medianUs: Record<Variant, number>;
  p99Us: Record<Variant, number>;
  /** Median of the per-iteration ratios variant / off (1 = as fast). */
  ratio: Record<Variant, number>;
}

export interface TelemetryData {
  iterations: number;
  ops: Record<Op, OpTiming>;
}

/** A reader nobody collects: the SDK still aggregates every measurement, as an app's would. */
class IdleReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** Spans batched and dropped: the SDK's whole path but the network. */
const dropSpans: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
};

export const telemetrySection: BenchSection = {
  id: 'telemetry',
  title: 'Telemetry overhead',
  async run(ctx) {
    const { server, mode } = ctx;
    const meterProvider = new MeterProvider({ readers: [new IdleReader()] });
    const tracerProvider = new BasicTracerProvider({
      spanProcessors: [new BatchSpanProcessor(dropSpans)],
    });
    // the same store three times: `telemetry: false`; the default with the API installed and no
    // SDK registered (the no-op API: what most apps run); a real SDK meter and tracer
    const stores: Record<Variant, ActiveRunStore> = {
      off: createActiveRunStore({ redis: server.client, prefix: PREFIX, telemetry: false }),
      noop: createActiveRunStore({ redis: server.client, prefix: PREFIX }),
      sdk: createActiveRunStore({
        redis: server.client,
        prefix: PREFIX,
        telemetry: { meterProvider, tracerProvider },
      }),
    };
    try {
      for (let i = 0; i < SEEDED; i++) {
        await stores.off.enqueue(SCOPE, { id: `seed-${i}`, source: 'api', data: { i } });
      }
      let next = 0;
      const call = (variant: Variant, op: Op) =>
        op === 'list'
          ? stores[variant].list(SCOPE)
          : stores[variant].enqueue(SCOPE, { id: `run-${next++}`, source: 'api', data: { next } });

      // one loop: each iteration times list and enqueue on every variant, in a rotating order
      const iterations = mode.writeIterations;
      const us = Object.fromEntries(
        OPS.map((op) => [op, Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]]))]),
      ) as Record<Op, Record<Variant, number[]>>;
      for (let i = 0; i < WARMUP + iterations; i++) {
        for (const op of OPS) {
          for (let k = 0; k < VARIANTS.length; k++) {
            const variant = VARIANTS[(i + k) % VARIANTS.length]!;
            const t0 = performance.now();
            await call(variant, op);
            if (i >= WARMUP) us[op][variant].push((performance.now() - t0) * 1_000);
          }
        }
      }
      const ops = Object.fromEntries(
        OPS.map((op) => {
          const samples = us[op];
          const ratio = (v: Variant) => median(samples[v].map((t, i) => t / samples.off[i]!));
          return [
            op,
            {
              medianUs: Object.fromEntries(VARIANTS.map((v) => [v, median(samples[v])])),
              p99Us: Object.fromEntries(VARIANTS.map((v) => [v, p99(samples[v])])),
              ratio: Object.fromEntries(VARIANTS.map((v) => [v, ratio(v)])),
            },
          ];
        }),
      ) as Record<Op, OpTiming>;
      const data: TelemetryData = { iterations, ops };
      const worstNoop = Math.max(ops.list.ratio.noop, ops.enqueue.ratio.noop) - 1;
      ctx.log(
        `telemetry: no SDK ${OPS.map((op) => `${op} ${times(ops[op].ratio.noop)}`).join(', ')}; SDK ${OPS.map((op) => `${op} ${times(ops[op].ratio.sdk)}`).join(', ')}`,
      );
      return {
        data,
        targets: [
          check(
            'Telemetry overhead on list and enqueue with no SDK ≤ 2%',
            `worst ${signed(worstNoop * 100, 1)}%`,
            worstNoop <= NOOP_BUDGET,
          ),
        ],
        markdown: [
          `The same store three ways, on one connection, in a scope of ${SEEDED.toLocaleString('en-US')} runs: **off** (\`telemetry: false\`), **no SDK** (the default: \`@opentelemetry/api\` installed, no SDK registered, so the global providers are no-ops) and **SDK** (\`@opentelemetry/sdk-metrics\` and \`sdk-trace-base\` 2.x: every instrument aggregated, a span per call, batched and dropped). ${iterations.toLocaleString('en-US')} iterations, each timing \`list\` (a page of 25) and \`enqueue\` on all three in a rotating order; the ratio is the median of the per-iteration ratios to **off**. With no SDK the store is not instrumented at all (the check is made once, when it is created), so its ratio is the machine's noise.`,
          table(
            ['operation', 'off (median)', 'no SDK', 'SDK', 'SDK (median)', 'SDK p99'],
            OPS.map((op) => [
              op,
              duration(ops[op].medianUs.off),
              times(ops[op].ratio.noop),
              times(ops[op].ratio.sdk),
              duration(ops[op].medianUs.sdk),
              duration(ops[op].p99Us.sdk),
            ]),
          ),
          `Instruments recorded by the SDK variant: ${Object.values(INSTRUMENT_NAMES)
            .map((name) => `\`${name}\``)
            .join(', ')}.`,
        ].join('\n\n'),
      };
    } finally {
      for (const store of Object.values(stores)) await store.close();
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
      await deletePrefix(server.client, PREFIX);
    }
  },
};
