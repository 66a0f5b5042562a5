import { notMeasured } from '../report/targets.js';
import type { BenchSection } from './section.js';

/**
 * A section whose measurement belongs to work not merged yet: it prints "not measured yet" and
 * keeps its targets in the table, so the gap stays visible until a real module replaces it.
 */
function pending(id: string, title: string, why: string, targets: string[]): BenchSection {
  return {
    id,
    title,
    async run() {
      return {
        markdown: `Not measured yet: ${why}`,
        targets: targets.map((t) => notMeasured(t, 'not measured yet')),
        data: { measured: false },
      };
    },
  };
}

/** Telemetry (issue 12): the cost of the store's tracing and metrics on each operation. */
export const telemetrySection = pending(
  'telemetry',
  'Telemetry overhead',
  'telemetry is issue 12. This section will time each operation with telemetry on against the same store with it off, interleaved, as ratios.',
  [],
);
