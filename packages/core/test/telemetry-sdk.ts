import type { Attributes } from '@opentelemetry/api';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** A metric reader that keeps nothing itself: `collect()` reads the instruments when a test asks. */
class InMemoryReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** One data point of a collection: the instrument's name and unit, attributes, and value. */
export interface Point {
  name: string;
  unit: string;
  attributes: Attributes;
  /** A counter's sum, or a histogram's count of recordings. */
  value: number;
  /** A histogram's sum. */
  sum?: number;
}

/** An OpenTelemetry SDK set up as an app would: a meter provider and a tracer provider, in memory. */
export function inMemorySdk() {
  const reader = new InMemoryReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(spans)],
  });
  return {
    meterProvider,
    tracerProvider,
    spans,
    /** Every data point recorded so far (cumulative). */
    async points(): Promise<Point[]> {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw errors[0];
      const points: Point[] = [];
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          for (const point of metric.dataPoints as DataPoint<number | Histogram>[]) {
            const histogram = metric.dataPointType === DataPointType.HISTOGRAM;
            const value = point.value;
            points.push({
              name: metric.descriptor.name,
              unit: metric.descriptor.unit,
              attributes: point.attributes,
              value: typeof value === 'number' ? value : value.count,
              ...(histogram && typeof value !== 'number' ? { sum: value.sum } : {}),
            });
          }
        }
      }
      return points;
    },
    async shutdown(): Promise<void> {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}

/** The data points of one instrument, as `key -> value` with the key made of attribute values. */
export function byAttributes(
  points: Point[],
  name: string,
  key: (attributes: Attributes) => string,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const point of points) {
    if (point.name === name && point.value !== 0) out[key(point.attributes)] = point.value;
  }
  return out;
}
