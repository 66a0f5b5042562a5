import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { Op } from './timing.js';

/** Where the client's time goes, by who runs the code. */
export const CPU_CATEGORIES = [
  'core',
  'zod',
  'ioredis',
  'node',
  'program',
  'gc',
  'other',
  'idle',
] as const;
export type CpuCategory = (typeof CPU_CATEGORIES)[number];

export interface CpuBreakdown {
  ops: number;
  /** Wall time per op, µs. */
  wallUs: number;
  /** Self time per op by category, µs ("idle": the event loop waits for Redis). */
  byCategory: Record<CpuCategory, number>;
  /** Heaviest functions outside node's own code, by self time per op. */
  top: { fn: string; category: CpuCategory; us: number }[];
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The profiler's clock: monotonic microseconds, the same as process.hrtime. */
function nowUs(): number {
  return Number(process.hrtime.bigint() / 1_000n);
}

function categorize(node: ProfileNode): CpuCategory {
  const { functionName, url } = node.callFrame;
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'gc';
  // V8 and native code not attributed to a JS function (socket syscalls, builtins, the JIT)
  if (functionName === '(program)') return 'program';
  if (url.includes('/packages/core/') || url.includes('@active-runs/core')) return 'core';
  if (url.includes('/zod/')) return 'zod';
  if (
    /\/(ioredis|redis-parser|redis-errors|denque|standard-as-callback|cluster-key-slot)\//.test(url)
  ) {
    return 'ioredis';
  }
  if (url === '' || url.startsWith('node:')) return 'node';
  return 'other';
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.split('/').slice(-2).join('/');
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}

/**
 * Runs `op` `n` times, one after another, under V8's sampling CPU profiler (what `node
 * --cpu-prof` records, started from inside so only these calls are profiled), and sums self time
 * by category. With `saveTo`, also writes the .cpuprofile for Chrome DevTools.
 */
export async function profileOp(op: Op, n: number, saveTo?: string): Promise<CpuBreakdown> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 50 });
    await session.post('Profiler.start');
    const from = nowUs();
    for (let i = 0; i < n; i++) await op(i);
    const to = nowUs();
    const wallUs = (to - from) / n;
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
    if (saveTo) writeFileSync(saveTo, JSON.stringify(profile));
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    // only samples taken while the calls ran: starting and stopping the profiler take ms
    const self = new Map<number, number>();
    let at = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      const delta = profile.timeDeltas[i] ?? 0;
      at += delta;
      if (at < from || at > to) continue;
      const id = profile.samples[i]!;
      self.set(id, (self.get(id) ?? 0) + delta);
    }
    const byCategory = Object.fromEntries(CPU_CATEGORIES.map((c) => [c, 0])) as Record<
      CpuCategory,
      number
    >;
    const byFunction = new Map<string, { category: CpuCategory; us: number }>();
    for (const [id, us] of self) {
      const node = byId.get(id)!;
      const category = categorize(node);
      byCategory[category] += us / n;
      if (
        category === 'core' ||
        category === 'zod' ||
        category === 'ioredis' ||
        category === 'other'
      ) {
        const key = label(node);
        const entry = byFunction.get(key) ?? { category, us: 0 };
        entry.us += us / n;
        byFunction.set(key, entry);
      }
    }
    const top = [...byFunction.entries()]
      .map(([fn, v]) => ({ fn, ...v }))
      .sort((a, b) => b.us - a.us)
      .slice(0, 15);
    return { ops: n, wallUs, byCategory, top };
  } finally {
    await session.post('Profiler.disable').catch(() => {});
    session.disconnect();
  }
}
