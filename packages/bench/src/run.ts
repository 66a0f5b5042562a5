import os from 'node:os';
import type { BenchMode } from './modes.js';
import type { RenderedSection } from './report/document.js';
import { renderDocument } from './report/document.js';
import { RUN_ORDER, SECTIONS } from './sections/index.js';
import type { SectionContext, SectionResult } from './sections/section.js';
import { info, startBenchServer } from './server.js';
import type { World } from './world.js';
import { createWorld } from './world.js';

export interface BenchOptions {
  mode: BenchMode;
  /** Section ids to run (default: all). */
  sections?: readonly string[];
  /** Where to save .cpuprofile files of the profiled operations. */
  cpuProfileDir?: string;
  /** The node command line, printed in BENCHMARKS.md. */
  nodeCommand: string;
  log(message: string): void;
}

export interface BenchOutput {
  markdown: string;
  /** Every section's raw numbers and targets, by section id. */
  json: {
    mode: string;
    sections: Record<string, SectionResult>;
  };
}

/** What the bench runs: ioredis as the store uses it, BullMQ and the ioredis BullMQ brings. */
async function versions(): Promise<string> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const version = (from: NodeJS.Require, name: string) =>
    (from(`${name}/package.json`) as { version: string }).version;
  const fromCore = createRequire(require.resolve('@active-runs/core'));
  const fromBullmq = createRequire(require.resolve('bullmq'));
  return `ioredis ${version(fromCore, 'ioredis')}, BullMQ ${version(require, 'bullmq')} (with its own ioredis ${version(fromBullmq, 'ioredis')})`;
}

/** Starts the bench's redis-server, runs the sections, renders BENCHMARKS.md, stops the server. */
export async function runBench(options: BenchOptions): Promise<BenchOutput> {
  const started = performance.now();
  const wanted = new Set(options.sections ?? SECTIONS.map((s) => s.id));
  const unknown = [...wanted].filter((id) => !SECTIONS.some((s) => s.id === id));
  if (unknown.length > 0) {
    throw new Error(
      `unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.map((s) => s.id).join(', ')}`,
    );
  }
  const server = await startBenchServer();
  options.log(`redis-server on port ${server.port}`);
  let world: Promise<World> | undefined;
  const results = new Map<string, SectionResult>();
  const load: number[] = [os.loadavg()[0]!];
  const ctx: SectionContext = {
    server,
    mode: options.mode,
    log: options.log,
    world: () => {
      world ??= createWorld(server);
      return world;
    },
    results,
    ...(options.cpuProfileDir ? { cpuProfileDir: options.cpuProfileDir } : {}),
  };
  try {
    const ordered = [...SECTIONS].sort((a, b) => RUN_ORDER.indexOf(a.id) - RUN_ORDER.indexOf(b.id));
    for (const section of ordered) {
      if (!wanted.has(section.id)) continue;
      const t0 = performance.now();
      options.log(`== ${section.id}`);
      results.set(section.id, await section.run(ctx));
      load.push(os.loadavg()[0]!);
      options.log(`== ${section.id} done in ${((performance.now() - t0) / 1_000).toFixed(1)} s`);
    }
    const redisVersion = (await info(server.admin, 'server')).get('redis_version');
    const cpus = os.cpus();
    const rendered: RenderedSection[] = SECTIONS.filter((s) => results.has(s.id)).map((s) => ({
      title: s.title,
      result: results.get(s.id)!,
    }));
    const markdown = renderDocument(
      {
        command: options.mode.command,
        nodeCommand: options.nodeCommand,
        mode: options.mode.name,
        date: new Date().toISOString().slice(0, 10),
        durationS: (performance.now() - started) / 1_000,
        machine: `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, shared (1-minute load average ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} during the run, sampled between sections)`,
        versions: `Node ${process.version}, Redis ${redisVersion}, ${await versions()}`,
      },
      rendered.flatMap((r) => r.result.targets),
      rendered,
    );
    return { markdown, json: { mode: options.mode.name, sections: Object.fromEntries(results) } };
  } finally {
    if (world) await (await world).close();
    await server.stop();
  }
}
