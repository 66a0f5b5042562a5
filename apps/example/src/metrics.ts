/**
 * The example's `/metrics`: the OpenTelemetry SDK set up the way an app would, before the store
 * is created, so the store reports to it with no option (it defaults to the global providers).
 * The Prometheus exporter is the SDK's metric reader; it does not start a server of its own
 * (`preventServerStart`): each server serves its scrape on its own `/metrics` route.
 * @module
 */
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/** Prometheus's text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

let exporter: PrometheusExporter | undefined;
const serializer = new PrometheusSerializer();

/**
 * Registers the process's global meter provider, read by a Prometheus exporter (once per process;
 * call it before creating the store).
 */
export function setUpMetrics(): void {
  if (exporter) return;
  exporter = new PrometheusExporter({ preventServerStart: true });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [exporter] }));
}

/** One scrape: every instrument of the process in Prometheus text format. */
export async function scrapeMetrics(): Promise<string> {
  if (!exporter) return '';
  const { resourceMetrics, errors } = await exporter.collect();
  for (const error of errors) console.error('metrics collection:', error);
  return serializer.serialize(resourceMetrics);
}
