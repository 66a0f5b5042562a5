import type { WriteOp } from '../contenders/writes.js';
import { WRITE_OPS } from '../contenders/writes.js';
import type { CpuBreakdown } from '../measure/cpu-profile.js';
import type { LifecycleData } from '../sections/lifecycle.js';
import type { MemoryData } from '../sections/memory.js';
import type { ProfileData } from '../sections/profile.js';
import type { ReadRow, ReadsData } from '../sections/reads.js';
import { speedupOver } from '../sections/reads.js';
import type { SectionResult } from '../sections/section.js';
import type { SweeperData } from '../sections/sweeper.js';
import type { WritesData } from '../sections/writes.js';
import { bytes, count, duration, percent, times } from './markdown.js';

/**
 * "Where the time goes": for each target of issue 11 that this run missed, where its cost sits,
 * from this run's own numbers, and what changing it would save. Written from the measurements
 * each time, so it stays true as the core changes.
 */

/** Client CPU of a call, not waiting for Redis: what the JS costs. */
function busy(c: CpuBreakdown): number {
  return c.wallUs - c.byCategory.idle;
}

function inner(profile: ProfileData, op: keyof ProfileData['server']): string {
  const commands = Object.entries(profile.server[op].commands).filter(
    ([n]) => !n.startsWith('eval'),
  );
  const calls = commands.reduce((s, [, c]) => s + c.calls, 0);
  const usec = commands.reduce((s, [, c]) => s + c.usec, 0);
  return `${Math.round(calls)} redis.calls (${duration(usec)} of command time)`;
}

function pageFindings(reads: ReadsData, profile: ProfileData): string[] {
  const largest = Math.max(...reads.rows.map((r) => r.size));
  const at = (letter: string, page: ReadRow['page']) =>
    reads.rows.find((r) => r.letter === letter && r.page === page && r.size === largest);
  const g = at('G', 'first');
  const e = at('E', 'first');
  const d = at('D', 'first');
  if (!g || !e || !d) return [];
  const out: string[] = [];
  const list = profile.cpu.list;
  const decode = list.top.find((t) => t.fn.startsWith('decodeRun'))?.us ?? 0;
  const cursor = list.top.find((t) => t.fn.startsWith('encodeCursor'))?.us ?? 0;
  const lua = profile.lua;
  if (g.timing.medianRatio > 2.4) {
    out.push(
      `**A page ≤ 2.4× PING** (measured ${times(g.timing.medianRatio)} at ${count(largest)}, first page). The floor E, the same ZRANGE + HMGET in one bare script, costs ${times(e.timing.medianRatio)} here, and the two-round-trip D ${times(d.timing.medianRatio)}: ${e.timing.medianRatio > 2.4 ? 'on this machine the floor itself is above the target' : 'the target is within reach of the floor'}. Redis spends ${duration(g.footprint.redisUs)} on the page script against ${duration(e.footprint.redisUs)} for the floor and ${duration(d.footprint.redisUs)} for D's plain commands: moving 25 values of ~800 B into Lua costs ${duration(lua.pageInUs)} by itself (${duration(lua.smallPageInUs)} for the same HMGET of 8 B values), so any Lua page pays it. The list script makes ${inner(profile, 'list')}. On the client a page costs ${duration(busy(list))} of CPU: \`decodeRun\` ${duration(decode)} (it JSON.parses all 25 payloads eagerly), \`encodeCursor\` ${duration(cursor)} (an HMAC per page), zod ${duration(list.byCategory.zod)}, ioredis ${duration(list.byCategory.ioredis)}. Suggestions: parse \`data\` lazily (or hand adapters the raw JSON they re-serialize anyway), saving about ${duration(decode)} of CPU and most of the garbage a page.`,
    );
  }
  const speedups: string[] = [];
  for (const [letter, n, goal] of [
    ['A', 10_000, 250],
    ['A', 100_000, 3_000],
    ...[...new Set(reads.rows.map((r) => r.size))].map((m) => ['F', m, 2.5] as const),
  ] as const) {
    const them = reads.rows.find((r) => r.letter === letter && r.page === 'first' && r.size === n);
    const ours = reads.rows.find((r) => r.letter === 'G' && r.page === 'first' && r.size === n);
    const floor = reads.rows.find((r) => r.letter === 'E' && r.page === 'first' && r.size === n);
    if (!them || !ours || !floor) continue;
    const speedup = speedupOver(them, ours);
    if (speedup >= goal) continue;
    speedups.push(
      `${letter === 'A' ? '(A) HGETALL' : "BullMQ's page"} at ${count(n)}: ${times(them.timing.medianRatio)} PING against the store's ${times(ours.timing.medianRatio)} (${times(speedup)}); ${goal}× needs a page of ${times(them.timing.medianRatio / goal)} PING, and the floor E measured ${times(floor.timing.medianRatio)}`,
    );
  }
  if (speedups.length > 0) {
    out.push(
      `**Speed-ups over the old ways and BullMQ**: ${speedups.join('; ')}. These move only with the page's own cost (above): the contenders are what they are.`,
    );
  }
  if (g.footprint.heapBytes > 60 * 1024) {
    out.push(
      `**≤ 60 KiB of JS garbage a page** (measured ${bytes(g.footprint.heapBytes)}). The floor E allocates ${bytes(e.footprint.heapBytes)} and D ${bytes(d.footprint.heapBytes)} for the same 25 runs parsed (the reply's ${bytes(g.footprint.replyBytes)} as strings, then the parsed objects); \`store.list\` adds ${bytes(g.footprint.heapBytes - e.footprint.heapBytes)} for its run objects, the cursor and option parsing. Not parsing \`data\` until it is read would take the parsed payloads (most of the difference between a reply string and its objects) out of every page.`,
    );
  }
  return out;
}

function writeFindings(writes: WritesData, profile: ProfileData): string[] {
  const out: string[] = [];
  const hsetUs = writes.sequential.enqueue.baselineMedianUs;
  const hsetCpu = busy(profile.cpu.hset);
  const hsetRedis = writes.footprints.hset.redisUs;
  const missed = WRITE_OPS.filter((op) => writes.sequential[op].medianRatio > 1.4);
  if (missed.length > 0) {
    const rows = missed.map((op: WriteOp) => {
      const t = writes.sequential[op];
      const cpu = profile.cpu[op].byCategory;
      return `\`${op}\` ${times(t.medianRatio)} (${duration(t.medianUs - hsetUs)} more than the HSET in the loop): Redis runs it for ${duration(writes.footprints[op].redisUs)} (${inner(profile, op)}; HSET ${duration(hsetRedis)}), replies ${bytes(writes.footprints[op].replyBytes)} (HSET ${bytes(writes.footprints.hset.replyBytes)}), and the client spends ${duration(busy(profile.cpu[op]))} of CPU on it (HSET ${duration(hsetCpu)}: core ${duration(cpu.core)}, zod ${duration(cpu.zod)}, ioredis ${duration(cpu.ioredis)}, GC ${duration(cpu.gc)}).`;
    });
    const f = profile.floors;
    const hsetFloor = f.hset.timing.medianUs;
    const minimal = f.minimalScript.timing.medianUs / hsetFloor;
    const enqueue = f.enqueue.timing.medianUs / hsetFloor;
    out.push(
      `**Each write ≤ 1.4× a bare HSET** (missed by ${missed.join(', ')}; 1.4× leaves ${duration(hsetUs * 0.4)} over the HSET's ${duration(hsetUs)}). ${rows.join(' ')} The floors, timed in one loop: an empty script receiving enqueue's 8 keys and 14 arguments and replying as enqueue does costs ${times(f.emptyScript.timing.medianUs / hsetFloor)} the HSET (${duration(f.emptyScript.footprint.redisUs)} of Redis), the least consistent enqueue (HSET + 2 ZADD + HINCRBY, 4 redis.calls, ${duration(f.minimalScript.footprint.redisUs)} of Redis) ${times(minimal)}, \`store.enqueue\` ${times(enqueue)} (${duration(f.enqueue.footprint.redisUs)}), ${times(f.enqueueNoEvents.timing.medianUs / hsetFloor)} without events and ${times(f.enqueueSchema.timing.medianUs / hsetFloor)} with a zod \`dataSchema\`. ${minimal > 1.4 ? `So no Lua write that keeps a run and two indexes consistent meets 1.4× here: the 4-call script alone is ${times(minimal)}, and the target would need it to cost no more than ${duration(hsetUs * 0.4)} beyond an HSET, client and Redis together.` : 'The 4-call script is within the target: what separates the store from it is below.'} What \`store.enqueue\` adds to the 4-call script (${times(enqueue - minimal)} of an HSET) is one redis.call each for the scope's clock (TIME), its meta (one HMGET: counters, event sequence, source rank, registry bound), the type check that keeps a failed write from changing anything (one ZINTERCARD over the sorted sets, as Redis does not roll a script back), the by-source index (the source filter), the meta write (one HSET) and the events check (PUBSUB NUMSUB); each redis.call costs about ${duration(profile.lua.callUs)} (TIME, the cheapest) and each new ~800 B Lua string ${duration(profile.lua.string800Us)}. Ruled out by measurement: validation (zod 4 parses enqueue's input in ~0.14 µs, a hand-written check was slower) and the reply (enqueue now answers a few numbers and the client builds the run from its input: ${bytes(writes.footprints.enqueue.replyBytes)} a call). start, progress, heartbeat and end reply the whole run because they return it and the client does not hold it; they take the lease from the value (no ZSCORE). What is left would cost a guarantee: dropping the type check (a foreign key of the wrong type could leave a write half done), the by-source index (the source filter would scan), or the events check (every write would copy an event to every replica).`,
    );
  }
  const share = writes.pipelined.enqueue.share;
  if (share < 0.5) {
    const p = writes.pipelined.enqueue;
    const budgetUs = 1e6 / (p.hsetOpsPerSecond / 2);
    out.push(
      `**Pipelined enqueue ≥ 50% of pipelined HSET** (measured ${percent(share)}: ${count(p.opsPerSecond)} enqueues/s against ${count(p.hsetOpsPerSecond)} HSETs/s, i.e. ${duration(1e6 / p.opsPerSecond)} a call). Inside a batch Redis runs an enqueue for ${duration(p.redisUs)} and an HSET for ${duration(writes.pipelinedHsetRedisUs)}; the client spends ${duration(busy(profile.cpu.enqueue))} of CPU per enqueue (${duration(busy(profile.cpu.hset))} per HSET; measured on lone calls), and both processes share the two cores. Half this loop's HSET rate leaves ${duration(budgetUs)} a call for both sides together; the empty script with enqueue's arguments already costs ${duration(profile.floors.emptyScript.footprint.redisUs)} of Redis alone and the minimal 4-write one ${duration(profile.floors.minimalScript.footprint.redisUs)} (lone calls). Redis runs one command at a time and the client's calls share the two cores with it, so 50% needs both the script's Redis time and the client's work per call under ${duration(budgetUs)}: the 4-write script takes ${duration(profile.floors.minimalScript.footprint.redisUs)} of Redis on a lone call and the store's enqueue ${duration(profile.floors.enqueue.footprint.redisUs)}, the client ${duration(busy(profile.cpu.enqueue))} of CPU per enqueue (lone calls, so upper bounds: in a batch both run hot).`,
    );
  }
  return out;
}

function lifecycleFindings(life: LifecycleData): string[] {
  const ours = life.timings.storeStartAtOnce;
  const bull = life.timings.bullStart;
  const out: string[] = [];
  if (life.roundTrips.storeStartAtOnce !== 1) {
    out.push(
      `**A run that starts at once is one call**: the store's client sent ${life.roundTrips.storeStartAtOnce} commands per \`enqueue\` with \`start\`; it should send one EVALSHA (a NOSCRIPT retry or a rollout-mode store sends more).`,
    );
  }
  const cheaper = bull.medianUs / ours.medianUs;
  if (cheaper < 1.5) {
    const f = life.footprints;
    const pingUs = ours.baselineMedianUs;
    out.push(
      `**A run start ≥ 1.5× cheaper than BullMQ's** (measured ${times(cheaper)}: one call at ${times(ours.medianRatio)} PING against BullMQ's two at ${times(bull.medianRatio)}). Redis time per run start is ${duration(f.storeStartAtOnce.redisUs)} for the store against ${duration(f.bullStart.redisUs)} for BullMQ's two scripts, heap ${bytes(f.storeStartAtOnce.heapBytes)} against ${bytes(f.bullStart.heapBytes)}. With the round trips down to one, what is left is the enqueue script's own time: 1.5× needs a run start of ${times(bull.medianRatio / 1.5)} PING (${duration(bull.medianUs / 1.5 - pingUs)} over a PING for the client and Redis together); see the writes above for where an enqueue spends it.`,
    );
  }
  return out;
}

function memoryFindings(memory: MemoryData, profile: ProfileData): string[] {
  const out: string[] = [];
  const structure = (prefix: string) =>
    profile.memory.find((m) => m.structure.startsWith(prefix))?.bytesPerRun ?? Number.NaN;
  const zsets = structure('store: idx') + structure('store: src') + structure('store: lease');
  const missed = memory.variants.filter(
    (v) => v.perRun.store / v.perRun.hash > (v.variant === 'large' ? 1.35 : 1.5),
  );
  if (missed.length > 0) {
    const each = missed.map((v) => {
      const goal = v.variant === 'large' ? 1.35 : 1.5;
      const room = v.perRun.hash * (goal - 1);
      return `at ~${bytes(v.jsonBytes)} it measured ${times(v.perRun.store / v.perRun.hash)} (${bytes(v.perRun.store)} against ${bytes(v.perRun.hash)} a run), and ${goal}× leaves ${bytes(room)} a run beyond the data: room for ${Math.floor(room / (zsets / 3))} of today's sorted-set entries, not 3`;
    });
    out.push(
      `**Memory against the hash-only layout**: ${each.join('; ')}. MEMORY USAGE of the project of ~800 B runs splits a run into its value in the runs hash (${bytes(structure('store: runs'))}; the legacy hash's entry is ${bytes(structure('legacy hash'))}, as the value leaves out the id and status) and three sorted-set entries: idx ${bytes(structure('store: idx'))}, src ${bytes(structure('store: src'))}, lease ${bytes(structure('store: lease'))} (${bytes(zsets)} together, the same at any payload size: each holds the 36-character id again, a skiplist node and a dict entry). So the smaller the payload, the larger the ratio. Options: drop one index (the lease set could carry the phase and serve the status filter, or src could become per-source ranges of idx), or keep ids as 16 binary bytes instead of 36 characters in every structure.`,
    );
  }
  const worst = Math.min(...memory.variants.map((v) => v.perRun.bullmq / v.perRun.store));
  if (worst < 1.4) {
    out.push(
      `**≥ 1.4× less memory than BullMQ** (measured ${times(worst)} in the worst variant): the three sorted-set entries above are the store's overhead; BullMQ's is a hash per job with its options and a lock key per active job. Without one sorted set (~${bytes(zsets / 3)} a run) the worst variant would be ${times(Math.min(...memory.variants.map((v) => v.perRun.bullmq / (v.perRun.store - zsets / 3))))}.`,
    );
  }
  return out;
}

function sweeperFindings(sweeper: SweeperData): string[] {
  const out: string[] = [];
  const quiet = sweeper.withoutEvents;
  // from the p99, not the longest: the longest may be a script the OS paused
  const perRunUs = sweeper.p99SweepScriptUs / 200;
  if (sweeper.longestScriptUs > 5_000) {
    const parts: string[] = [];
    if (sweeper.longestSweepScriptUs > 5_000) {
      const events =
        quiet.longestSweepScriptUs < sweeper.longestSweepScriptUs
          ? `; without events the longest batch takes ${duration(quiet.longestSweepScriptUs)}, so the per-run \`expired\` event (a new Lua string holding the value, then PUBLISH) is ${percent(1 - quiet.longestSweepScriptUs / sweeper.longestSweepScriptUs)} of it`
          : '; turning events off made no measurable difference';
      parts.push(
        `a batch of 200 runs took up to ${duration(sweeper.longestSweepScriptUs)} (p99 ${duration(sweeper.p99SweepScriptUs)}; SLOWLOG times are wall-clock, so on a loaded machine the longest may be a script the OS paused), ${duration(perRunUs)} a run at the p99, so a default batch of ${Math.floor(5_000 / perRunUs)} would stay under 5 ms here${events}`,
      );
    }
    if (sweeper.longestRegistryReadUs > 5_000) {
      parts.push(
        `a read of the slot registries took ${duration(sweeper.longestRegistryReadUs)}: it asks 1,024 registries per call; fewer per call (e.g. 256) bounds it`,
      );
    }
    if (sweeper.longestAckUs > 5_000) {
      parts.push(`an acknowledgement took ${duration(sweeper.longestAckUs)}`);
    }
    out.push(
      `**No sweep script over 5 ms** (longest ${duration(sweeper.longestScriptUs)}): ${parts.join('; ')}.`,
    );
  }
  if (sweeper.runsPerSecond < 50_000) {
    const rest = sweeper.passMs * 1_000 - sweeper.scriptsTotalUs;
    out.push(
      `**≥ 50k runs/s** (measured ${count(sweeper.runsPerSecond)}; ${count(quiet.runsPerSecond)} without events): the pass took ${duration(sweeper.passMs * 1_000)}, of which Redis ran its ${count(sweeper.scripts)} scripts for ${duration(sweeper.scriptsTotalUs)} (${duration(sweeper.scriptsTotalUs / sweeper.expired)} a run); the other ${duration(rest)} are the client's: one round trip per batch and one per acknowledgement, in turn, and decoding every run for the hook. 50k runs/s leaves 20 µs a run for Redis and the client together; acknowledging a batch inside the next batch's call halves the round trips.`,
    );
  }
  return out;
}

/** The findings, as markdown (empty when every target this run measured was met). */
export function diagnosis(
  profile: ProfileData,
  results: ReadonlyMap<string, SectionResult>,
): string {
  const data = <T>(id: string) => results.get(id)?.data as T | undefined;
  const reads = data<ReadsData>('reads');
  const writes = data<WritesData>('writes');
  const life = data<LifecycleData>('lifecycle');
  const memory = data<MemoryData>('memory');
  const sweeper = data<SweeperData>('sweeper');
  const findings = [
    ...(reads ? pageFindings(reads, profile) : []),
    ...(writes ? writeFindings(writes, profile) : []),
    ...(life ? lifecycleFindings(life) : []),
    ...(memory ? memoryFindings(memory, profile) : []),
    ...(sweeper ? sweeperFindings(sweeper) : []),
  ];
  if (findings.length === 0) return 'Every target this run measured was met.';
  return [
    "For each target this run missed: where its cost sits, from this run's measurements (tables below), and what a change would save. The core is not changed by the bench; these are the leads for whoever changes it.",
    ...findings.map((f) => `- ${f}`),
  ].join('\n\n');
}
