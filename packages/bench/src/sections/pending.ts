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

/**
 * HTTP: autocannon against the Fastify and NestJS adapters' list route at 1M runs, against the
 * same framework returning the same bytes from memory (its floor), against an HGETALL-style route
 * at 10k; one SSE stream fanned out to 1,000 viewers. Replace with a module that starts each
 * adapter on the world's store (ctx.world()) once the adapters land.
 */
export const httpSection = pending(
  'http',
  'HTTP (Fastify and NestJS adapters)',
  "the adapters are being written in parallel. This section will run autocannon against each adapter's list route at 1M runs, against the same framework serving the same bytes from memory (its floor) and an HGETALL-style route at 10k, and fan one SSE stream out to 1,000 viewers (event delay p99).",
  [
    "HTTP list at 1M ≥ 60% of the framework's own floor (Fastify)",
    "HTTP list at 1M ≥ 60% of the framework's own floor (NestJS)",
  ],
);
