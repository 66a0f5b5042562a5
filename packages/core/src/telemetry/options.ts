import { z } from 'zod';

/**
 * An OpenTelemetry `MeterProvider` (e.g. the SDK's `MeterProvider`), typed by shape so the store's
 * types do not depend on `@opentelemetry/api`, an optional peer dependency.
 */
export interface MeterProviderLike {
  getMeter(name: string, version?: string, options?: object): object;
}

/** An OpenTelemetry `TracerProvider` (e.g. the SDK's `BasicTracerProvider`), typed by shape. */
export interface TracerProviderLike {
  getTracer(name: string, version?: string, options?: object): object;
}

/**
 * Where the store reports its metrics and spans (see "Telemetry" in the README). Needs
 * `@opentelemetry/api` installed; without it, or without an SDK, the store reports nothing and
 * pays nothing. The providers are resolved once, when the store is created: set up the SDK first.
 */
export interface TelemetryOptions {
  /**
   * Where the instruments (`active_runs.operations`, `active_runs.operation.duration`, ...) live.
   * @default the API's global meter provider (`metrics.getMeterProvider()`)
   */
  meterProvider?: MeterProviderLike;
  /**
   * Where the span of each store call (`active_runs.<operation>`) goes; none without one.
   * @default the API's global tracer provider (`trace.getTracerProvider()`)
   */
  tracerProvider?: TracerProviderLike;
  /**
   * Add `workspace_id` and `project_id` attributes to metrics and spans. Off by default: one
   * series per scope can be millions of series, and ids may be private.
   * @default false
   */
  scopeAttributes?: boolean;
}

const withMethod = <T extends object>(method: string, message: string) =>
  z.custom<T>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as Record<string, unknown>)[method] === 'function',
    message,
  );

/** The store's `telemetry` option: settings, or `false` to report nothing. */
export const telemetryOptionsSchema = z.union([
  z.literal(false),
  z.strictObject({
    meterProvider: withMethod<MeterProviderLike>(
      'getMeter',
      'must be an OpenTelemetry MeterProvider (with getMeter)',
    ).optional(),
    tracerProvider: withMethod<TracerProviderLike>(
      'getTracer',
      'must be an OpenTelemetry TracerProvider (with getTracer)',
    ).optional(),
    scopeAttributes: z.boolean().optional(),
  }),
]);
