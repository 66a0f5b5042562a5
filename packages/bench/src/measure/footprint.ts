import { GCProfiler } from 'node:v8';
import type { Redis } from 'ioredis';
import { info } from '../server.js';
import type { Op } from './timing.js';

/** Calls and execution time of one Redis command, per request. */
export interface CommandCost {
  calls: number;
  usec: number;
}

/** What one request costs besides its latency, averaged over an untimed pass. */
export interface Footprint {
  iterations: number;
  /** JS heap allocated per request (garbage plus anything kept), in bytes. */
  heapBytes: number;
  /** Bytes Redis sent per request (INFO stats total_net_output_bytes). */
  replyBytes: number;
  /** Bytes Redis received per request (total_net_input_bytes). */
  requestBytes: number;
  /** Redis execution time per request: top-level commands only (SLOWLOG at threshold 0), µs. */
  redisUs: number;
  /** INFO commandstats per request, by command; commands run inside scripts are counted too. */
  commands: Record<string, CommandCost>;
}

/** Admin commands the measurement itself sends; never part of a contender's cost. */
const OWN_COMMANDS = new Set([
  'info',
  'config',
  'slowlog',
  'config|set',
  'config|get',
  'slowlog|get',
  'slowlog|reset',
]);

type Gc = () => void;

/** One full GC (node --expose-gc). */
export function fullGc(): void {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (!gc) {
    throw new Error('the bench needs node --expose-gc (use the package scripts: pnpm bench)');
  }
  gc();
}

function collectGarbage(): void {
  fullGc();
  fullGc();
}

async function netBytes(admin: Redis): Promise<{ input: number; output: number }> {
  const stats = await info(admin, 'stats');
  return {
    input: Number(stats.get('total_net_input_bytes')),
    output: Number(stats.get('total_net_output_bytes')),
  };
}

async function commandStats(admin: Redis): Promise<Map<string, CommandCost>> {
  const out = new Map<string, CommandCost>();
  for (const [field, value] of await info(admin, 'commandstats')) {
    if (!field.startsWith('cmdstat_')) continue;
    const calls = /calls=(\d+)/.exec(value);
    const usec = /usec=(\d+)/.exec(value);
    out.set(field.slice('cmdstat_'.length), { calls: Number(calls?.[1]), usec: Number(usec?.[1]) });
  }
  return out;
}

/**
 * Heap, bytes and Redis time of `iterations` calls of `op`, in a pass of its own (never inside a
 * timed loop: SLOWLOG at threshold 0 and the GC profiler cost a little).
 *
 * Heap: a full GC first, then V8's GCProfiler around the calls. Allocated bytes are
 * `used_after - used_before + sum(used_before_gc - used_after_gc)` over every GC that ran in
 * between, so the figure stays exact whatever the GC does in between; node keeps its default
 * heap settings, so the timed loops see the GC an app sees.
 */
export async function measureFootprint(
  admin: Redis,
  op: Op,
  iterations: number,
  firstIteration = 0,
): Promise<Footprint> {
  await admin.config('SET', 'slowlog-log-slower-than', '0');
  await admin.slowlog('RESET');
  // two INFO stats back to back: the first one's reply and the second one's request are the
  // measurement's own bytes, subtracted below
  const calibrateA = await netBytes(admin);
  const calibrateB = await netBytes(admin);
  const ownOutput = calibrateB.output - calibrateA.output;
  const ownInput = calibrateB.input - calibrateA.input;
  const before = await commandStats(admin);
  const bytesBefore = await netBytes(admin);

  collectGarbage();
  const profiler = new GCProfiler();
  profiler.start();
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < iterations; i++) await op(firstIteration + i);
  const heapAfter = process.memoryUsage().heapUsed;
  const gcs = profiler.stop();

  const bytesAfter = await netBytes(admin);
  const after = await commandStats(admin);
  const slowlog = (await admin.slowlog('GET', 1_000_000)) as [number, number, number, string[]][];
  await admin.config('SET', 'slowlog-log-slower-than', '10000');

  let collected = 0;
  for (const event of gcs.statistics) {
    collected +=
      event.beforeGC.heapStatistics.usedHeapSize - event.afterGC.heapStatistics.usedHeapSize;
  }
  let redisUs = 0;
  for (const [, , durationUs, args] of slowlog) {
    if (!OWN_COMMANDS.has(String(args[0]).toLowerCase())) redisUs += durationUs;
  }
  const commands: Record<string, CommandCost> = {};
  for (const [name, cost] of after) {
    if (OWN_COMMANDS.has(name)) continue;
    const was = before.get(name) ?? { calls: 0, usec: 0 };
    const calls = cost.calls - was.calls;
    if (calls > 0) {
      commands[name] = { calls: calls / iterations, usec: (cost.usec - was.usec) / iterations };
    }
  }
  return {
    iterations,
    heapBytes: (heapAfter - heapBefore + collected) / iterations,
    replyBytes: Math.max(0, bytesAfter.output - bytesBefore.output - ownOutput) / iterations,
    requestBytes: Math.max(0, bytesAfter.input - bytesBefore.input - ownInput) / iterations,
    redisUs: redisUs / iterations,
    commands,
  };
}

/** Footprints of passes over the same operation, as one (weighted by iterations). */
export function mergeFootprints(passes: readonly Footprint[]): Footprint {
  const iterations = passes.reduce((n, p) => n + p.iterations, 0);
  const mean = (field: 'heapBytes' | 'replyBytes' | 'requestBytes' | 'redisUs') =>
    passes.reduce((sum, p) => sum + p[field] * p.iterations, 0) / iterations;
  const commands: Record<string, CommandCost> = {};
  for (const pass of passes) {
    for (const [name, cost] of Object.entries(pass.commands)) {
      const into = commands[name] ?? { calls: 0, usec: 0 };
      into.calls += (cost.calls * pass.iterations) / iterations;
      into.usec += (cost.usec * pass.iterations) / iterations;
      commands[name] = into;
    }
  }
  return {
    iterations,
    heapBytes: mean('heapBytes'),
    replyBytes: mean('replyBytes'),
    requestBytes: mean('requestBytes'),
    redisUs: mean('redisUs'),
    commands,
  };
}

/**
 * Footprints of several operations, measured in `rounds` passes that take turns (op 1, op 2, ...,
 * op 1, op 2, ...), so a change of load on the machine spreads over all of them instead of
 * landing on one. Each op's iterations continue across rounds (`op(i)` sees 0..iterations-1).
 */
export async function measureFootprints(
  admin: Redis,
  ops: readonly Op[],
  iterations: number,
  rounds = 4,
): Promise<Footprint[]> {
  const passes: Footprint[][] = ops.map(() => []);
  const per = Math.max(1, Math.floor(iterations / rounds));
  for (let r = 0; r < rounds && r * per < iterations; r++) {
    const n = r === rounds - 1 ? iterations - r * per : per;
    for (const [k, op] of ops.entries())
      passes[k]!.push(await measureFootprint(admin, op, n, r * per));
  }
  return passes.map(mergeFootprints);
}
