/**
 * The store's OpenTelemetry instruments and spans, resolved once when the store is created.
 *
 * Nobody listening (no `@opentelemetry/api`, or the API with no SDK registered, or
 * `telemetry: false`) gives {@link NOOP_TELEMETRY}: the store is then not instrumented at all (see
 * instrument-store.ts), so it pays nothing per call. With a meter but no tracer (or the reverse),
 * only that half does any work: no clock read without a meter, no span without a tracer.
 */
import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  Span,
  Tracer,
  UpDownCounter,
} from '@opentelemetry/api';
import { isActiveRunsError } from '../errors.js';
import type { OpenTelemetryApi } from './api.js';
import { openTelemetryApi } from './api.js';
import type { MeterProviderLike, TelemetryOptions, TracerProviderLike } from './options.js';

/** The instrumentation scope (meter and tracer name) of everything the store reports. */
export const INSTRUMENTATION_SCOPE = '@active-runs/core';

/** Instrument names, as the README lists them. */
export const INSTRUMENT_NAMES = {
  operations: 'active_runs.operations',
  operationDuration: 'active_runs.operation.duration',
  expired: 'active_runs.expired',
  sweepDuration: 'active_runs.sweep.duration',
  sweepLapsed: 'active_runs.sweep.lapsed',
  eventGaps: 'active_runs.events.gaps',
  subscribers: 'active_runs.subscribers',
} as const;

/** Store calls take about a millisecond; a slow one, seconds (its deadline is `commandTimeout`). */
const OPERATION_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** A sweep pass takes milliseconds when little lapsed, up to minutes with slow `onExpired` hooks. */
const SWEEP_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** How a lapsed run was seen by a sweep pass. */
export type LapseKind = 'new' | 'redelivery' | 'dead_letter';

/** What the store, its sweeper and its event hub report; every method is cheap when off. */
export interface StoreTelemetry {
  /** False when nothing listens: the store's methods are left as they are. */
  readonly instrumented: boolean;
  /** Runs one store call: counted by outcome, timed, and in a span when tracing. */
  call<T>(operation: string, scope: unknown, run: () => Promise<T>): Promise<T>;
  /** One sweep pass ended (`outcome`: `ok`, `skipped` when another instance held the lock, or an error code). */
  sweepPass(durationMs: number, outcome: string): void;
  /** A sweep pass claimed the report of a lapsed run. */
  lapsed(scope: unknown, kind: LapseKind): void;
  /** A sweep pass expired a run (reported it for the first time). */
  expired(scope: unknown): void;
  /** A subscriber got a gap notice (other than the first, `subscribed`). */
  gap(reason: string, scope: unknown): void;
  /** A subscription became live (+1) or ended (-1). */
  subscribers(delta: 1 | -1, scope: unknown): void;
}

const noop = () => {};

/** Reports nothing, costs nothing. */
export const NOOP_TELEMETRY: StoreTelemetry = {
  instrumented: false,
  call: (_operation, _scope, run) => run(),
  sweepPass: noop,
  lapsed: noop,
  expired: noop,
  gap: noop,
  subscribers: noop,
};

/** Metric and span attributes of a scope (only with `scopeAttributes: true`). */
function scopeAttributes(scope: unknown, into: Attributes): Attributes {
  if (typeof scope !== 'object' || scope === null) return into;
  const { workspaceId, projectId } = scope as { workspaceId?: unknown; projectId?: unknown };
  if (typeof workspaceId === 'string' || typeof workspaceId === 'number') {
    into.workspace_id = String(workspaceId);
  }
  if (typeof projectId === 'string' || typeof projectId === 'number') {
    into.project_id = String(projectId);
  }
  return into;
}

class Instruments {
  readonly operations: Counter;
  readonly duration: Histogram;
  readonly expired: Counter;
  readonly sweepDuration: Histogram;
  readonly lapsed: Counter;
  readonly gaps: Counter;
  readonly subscribers: UpDownCounter;

  constructor(meter: Meter) {
    this.operations = meter.createCounter(INSTRUMENT_NAMES.operations, {
      description: 'Store calls, by operation and outcome (ok or the error code).',
      unit: '{operation}',
    });
    this.duration = meter.createHistogram(INSTRUMENT_NAMES.operationDuration, {
      description: 'Duration of store calls, as the caller sees it (validation and Redis).',
      unit: 's',
      advice: { explicitBucketBoundaries: OPERATION_BUCKETS_S },
    });
    this.expired = meter.createCounter(INSTRUMENT_NAMES.expired, {
      description: 'Runs the sweeper expired (their lease lapsed) and reported.',
      unit: '{run}',
    });
    this.sweepDuration = meter.createHistogram(INSTRUMENT_NAMES.sweepDuration, {
      description: 'Duration of sweep passes, hooks included.',
      unit: 's',
      advice: { explicitBucketBoundaries: SWEEP_BUCKETS_S },
    });
    this.lapsed = meter.createCounter(INSTRUMENT_NAMES.sweepLapsed, {
      description:
        'Lapsed runs seen by sweep passes: new, handed out again (redelivery) or dropped (dead_letter).',
      unit: '{run}',
    });
    this.gaps = meter.createCounter(INSTRUMENT_NAMES.eventGaps, {
      description: 'Gap notices given to subscribers (each one makes a viewer refetch), by reason.',
      unit: '{gap}',
    });
    this.subscribers = meter.createUpDownCounter(INSTRUMENT_NAMES.subscribers, {
      description: 'Live event subscriptions (subscribe and events()).',
      unit: '{subscription}',
    });
  }
}

/** Telemetry with a real meter and/or tracer. */
class OpenTelemetryStoreTelemetry implements StoreTelemetry {
  readonly instrumented = true;
  /** Scope-less attributes, made once per operation (and outcome): no object per call. */
  private readonly byOperation = new Map<string, Attributes>();
  private readonly byOutcome = new Map<string, Map<string, Attributes>>();
  private readonly spanAttributes = new Map<string, Attributes>();

  constructor(
    private readonly api: OpenTelemetryApi,
    private readonly instruments: Instruments | undefined,
    private readonly tracer: Tracer | undefined,
    private readonly withScope: boolean,
  ) {}

  call<T>(operation: string, scope: unknown, run: () => Promise<T>): Promise<T> {
    const started = this.instruments ? performance.now() : 0;
    const span = this.tracer?.startSpan(`active_runs.${operation}`, {
      kind: this.api.SpanKind.CLIENT,
      attributes: this.scoped(scope, this.spanOf(operation)),
    });
    let pending: Promise<T>;
    try {
      pending = span
        ? this.api.context.with(this.api.trace.setSpan(this.api.context.active(), span), run)
        : run();
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (value) => {
        this.settle(operation, scope, started, span, undefined);
        return value;
      },
      (error: unknown) => {
        this.settle(operation, scope, started, span, error);
        throw error;
      },
    );
  }

  sweepPass(durationMs: number, outcome: string): void {
    this.instruments?.sweepDuration.record(durationMs / 1000, { outcome });
  }

  lapsed(scope: unknown, kind: LapseKind): void {
    this.instruments?.lapsed.add(1, this.scoped(scope, { kind }));
  }

  expired(scope: unknown): void {
    this.instruments?.expired.add(1, this.scoped(scope, {}));
  }

  gap(reason: string, scope: unknown): void {
    this.instruments?.gaps.add(1, this.scoped(scope, { reason }));
  }

  subscribers(delta: 1 | -1, scope: unknown): void {
    this.instruments?.subscribers.add(delta, this.scoped(scope, {}));
  }

  private settle(
    operation: string,
    scope: unknown,
    started: number,
    span: Span | undefined,
    error: unknown,
  ): void {
    const outcome = error === undefined ? 'ok' : isActiveRunsError(error) ? error.code : 'INTERNAL';
    if (this.instruments) {
      this.instruments.operations.add(1, this.scoped(scope, this.outcomeOf(operation, outcome)));
      this.instruments.duration.record(
        (performance.now() - started) / 1000,
        this.scoped(scope, this.operationOf(operation)),
      );
    }
    if (span) {
      if (error !== undefined) {
        span.setAttribute('error.type', outcome);
        span.setStatus({
          code: this.api.SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
        if (error instanceof Error) span.recordException(error);
      }
      span.end();
    }
  }

  /** `attributes` plus the scope's when `scopeAttributes` is on (a copy: cached ones are shared). */
  private scoped(scope: unknown, attributes: Attributes): Attributes {
    return this.withScope ? scopeAttributes(scope, { ...attributes }) : attributes;
  }

  private operationOf(operation: string): Attributes {
    let attributes = this.byOperation.get(operation);
    if (!attributes) {
      attributes = { operation };
      this.byOperation.set(operation, attributes);
    }
    return attributes;
  }

  private outcomeOf(operation: string, outcome: string): Attributes {
    let outcomes = this.byOutcome.get(operation);
    if (!outcomes) {
      outcomes = new Map();
      this.byOutcome.set(operation, outcomes);
    }
    let attributes = outcomes.get(outcome);
    if (!attributes) {
      attributes = { operation, outcome };
      outcomes.set(outcome, attributes);
    }
    return attributes;
  }

  private spanOf(operation: string): Attributes {
    let attributes = this.spanAttributes.get(operation);
    if (!attributes) {
      attributes = { 'db.system': 'redis', 'db.operation.name': operation };
      this.spanAttributes.set(operation, attributes);
    }
    return attributes;
  }
}

type Constructor = abstract new (...args: never[]) => unknown;

/** True when `value` is an instance of `type`, or of a class of the same name (another copy of the API). */
function isA(value: object, type: Constructor): boolean {
  return value instanceof type || value.constructor?.name === type.name;
}

/** The tracer provider's real provider (the global one is a proxy until an SDK registers). */
function resolveTracerProvider(provider: TracerProviderLike): object {
  const proxy = provider as { getDelegate?: () => object };
  return typeof proxy.getDelegate === 'function' ? proxy.getDelegate() : provider;
}

let last:
  | {
      meterProvider: MeterProviderLike;
      tracerProvider: TracerProviderLike;
      withScope: boolean;
      telemetry: StoreTelemetry;
    }
  | undefined;

/**
 * The telemetry of a store (or event hub) created with `options`: the providers' meter and
 * tracer, or {@link NOOP_TELEMETRY} when neither records anything. Cached for the last providers,
 * so a store, its sweeper and its hub share one.
 */
export function createTelemetry(options: TelemetryOptions | false | undefined): StoreTelemetry {
  if (options === false) return NOOP_TELEMETRY;
  const api = openTelemetryApi();
  if (!api) return NOOP_TELEMETRY;
  const meterProvider = options?.meterProvider ?? api.metrics.getMeterProvider();
  const tracerProvider = options?.tracerProvider ?? api.trace.getTracerProvider();
  const withScope = options?.scopeAttributes === true;
  if (
    last?.meterProvider === meterProvider &&
    last.tracerProvider === tracerProvider &&
    last.withScope === withScope
  ) {
    return last.telemetry;
  }
  const meter = meterProvider.getMeter(INSTRUMENTATION_SCOPE) as Meter;
  const metricsOn = !isA(meter, api.createNoopMeter().constructor as Constructor);
  const noopTracerProvider = new api.ProxyTracerProvider().getDelegate().constructor as Constructor;
  const tracingOn = !isA(resolveTracerProvider(tracerProvider), noopTracerProvider);
  const telemetry =
    metricsOn || tracingOn
      ? new OpenTelemetryStoreTelemetry(
          api,
          metricsOn ? new Instruments(meter) : undefined,
          tracingOn ? (tracerProvider.getTracer(INSTRUMENTATION_SCOPE) as Tracer) : undefined,
          withScope,
        )
      : NOOP_TELEMETRY;
  last = { meterProvider, tracerProvider, withScope, telemetry };
  return telemetry;
}
