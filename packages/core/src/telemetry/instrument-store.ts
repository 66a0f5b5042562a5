import type { StoreTelemetry } from './store-telemetry.js';

/** Store methods whose first argument is the scope; each call is one operation. */
const SCOPED_OPERATIONS = [
  'enqueue',
  'start',
  'progress',
  'heartbeat',
  'end',
  'get',
  'list',
  'counts',
  'stats',
  'subscribe',
] as const;

type Method = (a?: unknown, b?: unknown, c?: unknown) => Promise<unknown>;
type Instrumentable = Record<(typeof SCOPED_OPERATIONS)[number] | 'sweep', unknown>;

/**
 * Counts, times and traces every call of the store's public methods, bad input included (which
 * never reaches Redis), by giving the store itself instrumented methods: its identity is kept,
 * and the sweeper's timer, which calls `this.sweep()`, is counted too. With nobody listening the
 * store is returned untouched, so a call costs what it cost before.
 */
export function instrumentStore<S extends object>(store: S, telemetry: StoreTelemetry): S {
  if (!telemetry.instrumented) return store;
  const target = store as unknown as Instrumentable;
  for (const operation of SCOPED_OPERATIONS) {
    const method = target[operation] as Method;
    target[operation] = (a?: unknown, b?: unknown, c?: unknown) =>
      telemetry.call(operation, a, () => method.call(store, a, b, c));
  }
  const sweep = target.sweep as Method;
  target.sweep = () => telemetry.call('sweep', undefined, () => sweep.call(store));
  return store;
}
