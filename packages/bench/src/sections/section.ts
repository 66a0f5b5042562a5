import type { BenchMode } from '../modes.js';
import type { TargetCheck } from '../report/targets.js';
import type { BenchServer } from '../server.js';
import type { World } from '../world.js';

/** What every section gets. */
export interface SectionContext {
  readonly server: BenchServer;
  readonly mode: BenchMode;
  /** Progress lines (stderr). */
  readonly log: (message: string) => void;
  /** The project held in every layout; created on first use, grown by the reads section. */
  world(): Promise<World>;
  /** Results of the sections that ran before, by id (the diagnosis reads them). */
  readonly results: ReadonlyMap<string, SectionResult>;
  /** Where to save .cpuprofile files (Chrome DevTools), if anywhere. */
  readonly cpuProfileDir?: string;
}

/** What a section hands the report. */
export interface SectionResult {
  /** Markdown body, without its heading. */
  readonly markdown: string;
  /** Its targets of issue 11, for the targets table. */
  readonly targets: readonly TargetCheck[];
  /** Raw numbers, for BENCHMARKS.json and the smoke test. */
  readonly data: unknown;
}

/**
 * One part of BENCHMARKS.md. A new measurement (the HTTP adapters, telemetry) is one more module
 * implementing this, added to the list in sections/index.ts.
 */
export interface BenchSection {
  /** Stable id, for `--sections` and the JSON output. */
  readonly id: string;
  /** Its heading in BENCHMARKS.md. */
  readonly title: string;
  run(ctx: SectionContext): Promise<SectionResult>;
}

/**
 * The shared project, seeded to at least the mode's smallest size (the reads section grows it
 * further; a section run on its own with `--sections` still gets data).
 */
export async function seededWorld(ctx: SectionContext): Promise<World> {
  const world = await ctx.world();
  if (world.size === 0) await world.grow(ctx.mode.sizes[0]!, ctx.log);
  return world;
}
