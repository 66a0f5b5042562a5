/**
 * The OpenTelemetry API, if the app installed it. `@opentelemetry/api` is an optional peer
 * dependency: an app without it gets a store without telemetry, and nothing fails to load.
 *
 * Loaded synchronously (the store is created synchronously) with a `require` made from this
 * module's URL, in both builds: tsup's `shims` give the CJS build an `import.meta.url`. From the
 * ESM build this loads the API's CommonJS build while the app may import its ESM build: two copies
 * of the module, one set of providers, because the API keeps its registered providers (and the
 * context manager) in a global slot that every copy of a compatible version shares.
 */
import { createRequire } from 'node:module';

/** The API's module, as far as the store uses it. */
export type OpenTelemetryApi = typeof import('@opentelemetry/api');

let loaded: OpenTelemetryApi | null | undefined;

/** The API, or undefined when it is not installed (resolved once per process). */
export function openTelemetryApi(): OpenTelemetryApi | undefined {
  if (loaded === undefined) loaded = load();
  return loaded ?? undefined;
}

function load(): OpenTelemetryApi | null {
  try {
    return createRequire(import.meta.url)('@opentelemetry/api') as OpenTelemetryApi;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') return null;
    throw error;
  }
}
