import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The bench's smoke mode (N = 1k, few iterations) end to end, so the bench cannot rot: every
 * section runs against its own redis-server and BullMQ, every table is printed, and the numbers
 * are sane (finite, positive, consistent). No timing is asserted: these machines are shared.
 */
const run = promisify(execFile);
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Timing {
  samples: number;
  medianRatio: number;
  p99Ratio: number;
}
interface Footprint {
  heapBytes: number;
  replyBytes: number;
  requestBytes: number;
  redisUs: number;
}
interface Output {
  mode: string;
  sections: Record<
    string,
    {
      data: Record<string, unknown>;
      targets: { target: string; measured: string; pass: boolean | null }[];
    }
  >;
}

let dir: string;
let markdown: string;
let output: Output;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  await run(
    process.execPath,
    [
      '--expose-gc',
      cli,
      '--mode',
      'smoke',
      '--out',
      join(dir, 'BENCHMARKS.md'),
      '--json',
      join(dir, 'bench.json'),
    ],
    { timeout: 200_000, maxBuffer: 16 * 1024 * 1024 },
  );
  markdown = readFileSync(join(dir, 'BENCHMARKS.md'), 'utf8');
  output = JSON.parse(readFileSync(join(dir, 'bench.json'), 'utf8')) as Output;
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function expectSaneTiming(t: Timing): void {
  expect(t.samples).toBeGreaterThan(0);
  expect(Number.isFinite(t.medianRatio)).toBe(true);
  expect(t.medianRatio).toBeGreaterThan(0);
  expect(t.p99Ratio).toBeGreaterThanOrEqual(t.medianRatio);
}

function expectSaneFootprint(f: Footprint): void {
  expect(f.heapBytes).toBeGreaterThan(0);
  expect(f.requestBytes).toBeGreaterThan(0);
  expect(f.replyBytes).toBeGreaterThan(0);
  expect(f.redisUs).toBeGreaterThan(0);
}

describe('bench smoke run', () => {
  it('prints every section, the targets table and the command that made it', () => {
    for (const heading of [
      '## Targets (issue 11)',
      '## Reading a page',
      '## Writes',
      '## Run start and run end against BullMQ',
      '## Redis memory per run',
      '## The sweeper',
      '## HTTP (Fastify and NestJS adapters)',
      '## Telemetry overhead',
      '## Where the time goes',
      '## How it is measured',
    ]) {
      expect(markdown).toContain(heading);
    }
    expect(markdown).toContain('--mode smoke');
    expect(output.mode).toBe('smoke');
    const targets = Object.values(output.sections).flatMap((s) => s.targets);
    expect(targets.length).toBeGreaterThanOrEqual(15);
    for (const t of targets) expect(markdown).toContain(t.target);
  });

  it('reads: every contender measured, the layouts agree, the full scans cost more', () => {
    const data = output.sections.reads!.data as {
      rows: { letter: string; page: string; timing: Timing; footprint: Footprint }[];
      agreement: { first: boolean; deep: boolean }[];
      earlyExit: { correct: number }[];
    };
    expect(new Set(data.rows.map((r) => r.letter))).toEqual(
      new Set(['A', 'B', 'C', 'D', 'E', 'F', 'G']),
    );
    for (const row of data.rows) {
      expectSaneTiming(row.timing);
      expectSaneFootprint(row.footprint);
    }
    expect(data.agreement).toEqual([{ size: 1000, first: true, deep: true }]);
    expect(data.earlyExit[0]!.correct).toBeGreaterThanOrEqual(0);
    expect(data.earlyExit[0]!.correct).toBeLessThanOrEqual(25);
    const row = (letter: string) =>
      data.rows.find((r) => r.letter === letter && r.page === 'first')!;
    // A moves every run over the socket, G one page: bytes, not time, so not flaky
    expect(row('A').footprint.replyBytes).toBeGreaterThan(20 * row('G').footprint.replyBytes);
  });

  it('writes, run start/end and the profile: every operation measured', () => {
    const writes = output.sections.writes!.data as {
      sequential: Record<string, Timing>;
      pipelined: Record<string, { share: number }>;
      footprints: Record<string, Footprint>;
    };
    for (const op of ['enqueue', 'start', 'progress', 'heartbeat', 'end']) {
      expectSaneTiming(writes.sequential[op]!);
      expect(writes.pipelined[op]!.share).toBeGreaterThan(0);
      expectSaneFootprint(writes.footprints[op]!);
    }
    const lifecycle = output.sections.lifecycle!.data as {
      timings: Record<string, Timing>;
      roundTrips: Record<string, number>;
    };
    for (const step of ['storeStartAtOnce', 'storeStart', 'bullStart', 'storeEnd', 'bullEnd'])
      expectSaneTiming(lifecycle.timings[step]!);
    // counted on the client: one EVALSHA for an enqueue with start, two for enqueue then start
    expect(lifecycle.roundTrips).toEqual({ storeStartAtOnce: 1, storeStart: 2 });
    const profile = output.sections.profile!.data as {
      cpu: Record<string, { wallUs: number; byCategory: Record<string, number> }>;
      server: Record<string, Footprint>;
      memory: { bytesPerRun: number }[];
    };
    expect(profile.cpu.enqueue!.wallUs).toBeGreaterThan(0);
    expect(profile.cpu.list!.byCategory.core).toBeGreaterThan(0);
    expectSaneFootprint(profile.server.list!);
    expect(profile.memory.every((m) => m.bytesPerRun >= 0)).toBe(true);
  });

  it('memory and the sweeper: per-run bytes in range, every lapsed run expired and reported once', () => {
    const memory = output.sections.memory!.data as {
      variants: { perRun: Record<string, number> }[];
    };
    expect(memory.variants).toHaveLength(2);
    for (const v of memory.variants) {
      for (const bytes of Object.values(v.perRun)) {
        expect(bytes).toBeGreaterThan(100);
        expect(bytes).toBeLessThan(20_000);
      }
    }
    const sweeper = output.sections.sweeper!.data as {
      runs: number;
      expired: number;
      reported: number;
      left: number;
      runsPerSecond: number;
    };
    expect(sweeper.expired).toBe(sweeper.runs);
    expect(sweeper.reported).toBe(sweeper.runs);
    expect(sweeper.left).toBe(0);
    expect(sweeper.runsPerSecond).toBeGreaterThan(0);
  });

  it('http: every row answered, the floor sends the adapter’s bytes, each SSE event reached every viewer through one subscriber', () => {
    const http = output.sections.http!.data as {
      frameworks: {
        framework: string;
        sameBytes: boolean;
        rows: Record<string, { requests: number; non2xx: number; errors: number }>;
        sse: {
          expected: number;
          delivered: number;
          serverConnections: number;
          subscriberConnections: number;
          channelSubscribers: number;
          channelSubscribersAfterLeave: number;
        };
      }[];
    };
    expect(http.frameworks.map((f) => f.framework)).toEqual(['fastify', 'nestjs']);
    for (const f of http.frameworks) {
      expect(f.sameBytes).toBe(true);
      expect(Object.keys(f.rows)).toHaveLength(6);
      for (const row of Object.values(f.rows)) {
        expect(row.requests).toBeGreaterThan(0);
        expect(row.non2xx).toBe(0);
        expect(row.errors).toBe(0);
      }
      expect(f.sse.delivered).toBe(f.sse.expected);
      expect(f.sse.subscriberConnections).toBe(1);
      expect(f.sse.serverConnections).toBe(2);
      expect(f.sse.channelSubscribers).toBe(1);
      expect(f.sse.channelSubscribersAfterLeave).toBe(0);
    }
    expect(output.sections.http!.targets.map((t) => t.pass !== null)).toEqual([true, true]);
  });
});
