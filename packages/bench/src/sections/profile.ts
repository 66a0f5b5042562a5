import { join } from 'node:path';
import { scopeKeys } from '@active-runs/core';
import type { FloorName } from '../contenders/floors.js';
import { createFloors, FLOOR_LABELS, FLOOR_PREFIX } from '../contenders/floors.js';
import type { LuaPrices } from '../contenders/lua-prices.js';
import { measureLuaPrices } from '../contenders/lua-prices.js';
import { PAGE_SIZE } from '../contenders/reads.js';
import type { WriteOp } from '../contenders/writes.js';
import { callWrite, lifecycleFootprints, WRITE_OPS, writeInputs } from '../contenders/writes.js';
import type { CpuBreakdown } from '../measure/cpu-profile.js';
import { profileOp } from '../measure/cpu-profile.js';
import type { Footprint } from '../measure/footprint.js';
import { measureFootprint } from '../measure/footprint.js';
import type { RatioTiming } from '../measure/timing.js';
import { timeSteps } from '../measure/timing.js';
import { diagnosis } from '../report/diagnosis.js';
import { bytes, duration, table, times } from '../report/markdown.js';
import { deleteKeys, scanKeys } from '../server.js';
import { WORLD_PREFIX } from '../world.js';
import type { BenchSection, SectionContext } from './section.js';
import { seededWorld } from './section.js';

const FIRST_INDEX = 40_000_000;
const FLOOR_NAMES = Object.keys(FLOOR_LABELS) as FloorName[];
type Profiled = WriteOp | 'list' | 'hset' | 'ping';

export interface ProfileData {
  size: number;
  /** Client CPU per operation, by category (µs per call). */
  cpu: Record<Profiled, CpuBreakdown>;
  /** Server side per operation: Redis calls by command (commandstats), bytes. */
  server: Record<WriteOp | 'list' | 'counts', Footprint>;
  /** Floors of a write, timed against PING in one loop. */
  floors: Record<FloorName, { timing: RatioTiming; footprint: Footprint }>;
  /** Redis memory of each structure of the world's project, bytes per run (MEMORY USAGE). */
  memory: { structure: string; bytesPerRun: number }[];
  /** What the Lua engine charges for its basic moves. */
  lua: LuaPrices;
}

async function profileClient(ctx: SectionContext): Promise<ProfileData['cpu']> {
  const world = await seededWorld(ctx);
  const { store, scope, server } = world;
  const n = ctx.mode.profileOps;
  const inputs = writeInputs(FIRST_INDEX, n, world.nowMs);
  const save = (name: string) =>
    ctx.cpuProfileDir ? join(ctx.cpuProfileDir, `${name}.cpuprofile`) : undefined;
  const cpu = {} as ProfileData['cpu'];
  cpu.ping = await profileOp(() => server.client.ping(), n, save('ping'));
  cpu.hset = await profileOp(
    (i) => server.client.hset('bench:profile-hset', inputs[i]!.run.id, inputs[i]!.json),
    n,
    save('hset'),
  );
  await server.client.del('bench:profile-hset');
  for (const op of WRITE_OPS) {
    cpu[op] = await profileOp((i) => callWrite(store, scope, op, inputs[i]!), n, save(op));
  }
  cpu.list = await profileOp(() => store.list(scope, { limit: PAGE_SIZE }), n, save('list'));
  return cpu;
}

async function serverSide(ctx: SectionContext): Promise<ProfileData['server']> {
  const world = await seededWorld(ctx);
  const { store, scope, server } = world;
  const k = ctx.mode.footprintIterations * 5;
  const inputs = writeInputs(FIRST_INDEX + ctx.mode.profileOps, k, world.nowMs);
  return {
    ...(await lifecycleFootprints(server.admin, store, scope, inputs)),
    list: await measureFootprint(server.admin, () => store.list(scope, { limit: PAGE_SIZE }), k),
    counts: await measureFootprint(server.admin, () => store.counts(scope), k),
  };
}

async function floors(ctx: SectionContext): Promise<ProfileData['floors']> {
  const world = await seededWorld(ctx);
  const { server } = world;
  const floors = createFloors(server.client);
  const warmup = 20;
  const iterations = ctx.mode.writeIterations;
  const timedInputs = writeInputs(FIRST_INDEX + 1_000_000, iterations + warmup, world.nowMs);
  // each floor gets its own runs: the enqueues would refuse an id twice in one scope
  const perFloor = (name: FloorName, inputs: typeof timedInputs, base: number) =>
    writeInputs(base + FLOOR_NAMES.indexOf(name) * inputs.length, inputs.length, world.nowMs);
  const timedByFloor = FLOOR_NAMES.map((name) =>
    perFloor(name, timedInputs, FIRST_INDEX + 2_000_000),
  );
  const timings = await timeSteps(
    () => server.client.ping(),
    FLOOR_NAMES.map((name, f) => (i: number) => floors.ops[name](timedByFloor[f]![i]!)),
    { iterations, warmup },
  );
  const k = ctx.mode.footprintIterations * 5;
  const out = {} as ProfileData['floors'];
  for (const [f, name] of FLOOR_NAMES.entries()) {
    const inputs = writeInputs(FIRST_INDEX + 3_000_000 + f * k, k, world.nowMs);
    const footprint = await measureFootprint(server.admin, (i) => floors.ops[name](inputs[i]!), k);
    out[name] = { timing: timings[f]!, footprint };
  }
  await floors.close();
  await deleteKeys(server.admin, await scanKeys(server.admin, `${FLOOR_PREFIX}*`));
  return out;
}

async function memoryByStructure(ctx: SectionContext): Promise<ProfileData['memory']> {
  const world = await seededWorld(ctx);
  const admin = world.server.admin;
  const keys = scopeKeys(WORLD_PREFIX, {
    workspaceId: String(world.scope.workspaceId),
    projectId: String(world.scope.projectId),
  });
  const runs = await admin.hlen(keys.runs);
  const usage = async (key: string) =>
    Number((await admin.memory('USAGE', key, 'SAMPLES', 0)) ?? 0);
  const out: ProfileData['memory'] = [];
  for (const [structure, key] of [
    ['store: runs (hash id -> value)', keys.runs],
    ['store: idx (zset by status, time)', keys.index],
    ['store: src (zset by source, status, time)', keys.bySource],
    ['store: lease (zset by source, status, deadline)', keys.lease],
    ['store: meta (counters)', keys.meta],
    ['legacy hash (runUuid -> JSON)', world.legacy.hash],
  ] as const) {
    out.push({ structure, bytesPerRun: (await usage(key)) / runs });
  }
  return out;
}

function cpuTable(cpu: ProfileData['cpu']): string {
  const ops = Object.keys(cpu) as Profiled[];
  return table(
    [
      'call',
      'wall',
      'waiting (idle)',
      'core',
      'zod',
      'ioredis',
      'node',
      'V8 / native',
      'GC',
      'heaviest functions (µs per call)',
    ],
    ops.map((op) => {
      const c = cpu[op];
      const b = c.byCategory;
      return [
        op,
        duration(c.wallUs),
        duration(b.idle),
        duration(b.core),
        duration(b.zod),
        duration(b.ioredis),
        duration(b.node + b.other),
        duration(b.program),
        duration(b.gc),
        c.top
          .slice(0, 4)
          .map((t) => `${t.fn.replace(/\|/g, '\\|')} ${t.us.toFixed(1)}`)
          .join('; '),
      ];
    }),
  );
}

function serverTable(server: ProfileData['server']): string {
  return table(
    ['call', 'script (Redis time)', 'redis.call inside, per call', 'request', 'reply'],
    (Object.keys(server) as (keyof ProfileData['server'])[]).map((op) => {
      const f = server[op];
      const inner = Object.entries(f.commands)
        .filter(([name]) => !name.startsWith('eval'))
        .map(
          ([name, c]) =>
            `${name.toUpperCase()} ${c.calls.toFixed(c.calls % 1 ? 1 : 0)} (${duration(c.usec)})`,
        )
        .join(', ');
      return [op, duration(f.redisUs), inner, bytes(f.requestBytes), bytes(f.replyBytes)];
    }),
  );
}

export const profileSection: BenchSection = {
  id: 'profile',
  title: 'Where the time goes',
  async run(ctx) {
    const world = await seededWorld(ctx);
    const data: ProfileData = {
      size: world.size,
      cpu: await profileClient(ctx),
      server: await serverSide(ctx),
      floors: await floors(ctx),
      memory: await memoryByStructure(ctx),
      lua: await measureLuaPrices(
        world.server.client,
        world.server.admin,
        ctx.mode.footprintIterations * 5,
      ),
    };
    ctx.log('profile done');
    const hset = data.floors.hset;
    return {
      data,
      targets: [],
      markdown: [
        diagnosis(data, ctx.results),
        '### Client CPU per call',
        `V8's sampling profiler (50 µs) around ${ctx.mode.profileOps} sequential calls of each operation on the project of ${world.size.toLocaleString('en-US')} runs; self time per call by who runs the code. "waiting" is the event loop idle, i.e. the round trip and Redis. Run with \`--cpu-prof-dir DIR\` to keep the .cpuprofile files for DevTools.`,
        cpuTable(data.cpu),
        '### Redis side per call',
        "INFO commandstats around each operation (commands called inside the script included), the script's own execution time, and bytes on the socket.",
        serverTable(data.server),
        '### What Lua charges',
        'Redis time of tiny scripts, differenced: the price of each move a script makes on this server.',
        table(
          ['move', 'Redis time'],
          [
            ['an EVALSHA that does nothing', duration(data.lua.scriptUs)],
            ['one more redis.call (TIME)', duration(data.lua.callUs)],
            ['one new ~800 B string built in Lua (concatenation)', duration(data.lua.string800Us)],
            [
              '25 values of ~800 B read into Lua by one HMGET (beyond the call)',
              duration(data.lua.pageInUs),
            ],
            [
              '25 values of ~8 B read into Lua by one HMGET (beyond the call)',
              duration(data.lua.smallPageInUs),
            ],
            ['25 values of ~800 B returned from Lua to the client', duration(data.lua.pageOutUs)],
          ],
        ),
        '### Floors of a write',
        `Each timed against a PING interleaved in one loop; "× HSET" divides the medians. The empty script takes the same request as an enqueue (8 keys, 14 arguments, the data), makes no Redis call and replies as an enqueue does (a few numbers).`,
        table(
          ['', 'median', '× HSET', 'Redis / call', 'heap / call'],
          FLOOR_NAMES.map((name) => {
            const f = data.floors[name];
            return [
              FLOOR_LABELS[name],
              times(f.timing.medianRatio),
              times(f.timing.medianUs / hset.timing.medianUs),
              duration(f.footprint.redisUs),
              bytes(f.footprint.heapBytes),
            ];
          }),
        ),
        '### Redis memory by structure',
        `MEMORY USAGE (all elements) of each key of the project of ${world.size.toLocaleString('en-US')} runs, per run.`,
        table(
          ['structure', 'bytes per run'],
          data.memory.map((m) => [m.structure, bytes(m.bytesPerRun)]),
        ),
      ].join('\n\n'),
    };
  },
};
