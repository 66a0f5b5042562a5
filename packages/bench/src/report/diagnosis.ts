import type { WriteOp } from '../contenders/writes.js';
import { WRITE_OPS } from '../contenders/writes.js';
import type { CpuBreakdown } from '../measure/cpu-profile.js';
import type { LifecycleData } from '../sections/lifecycle.js';
import type { MemoryData } from '../sections/memory.js';
import type { ProfileData } from '../sections/profile.js';
import type { ReadRow, ReadsData } from '../sections/reads.js';
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
      `**A page ≤ 2.4× PING** (measured ${times(g.timing.medianRatio)} at ${count(largest)}, first page). The floor E, the same ZRANGE + HMGET in one bare script, costs ${times(e.timing.medianRatio)} here, and the two-round-trip D ${times(d.timing.medianRatio)}: ${e.timing.medianRatio > 2.4 ? 'on this machine the floor itself is above the target' : 'the target is within reach of the floor'}. Redis spends ${duration(g.footprint.redisUs)} on the page script against ${duration(e.footprint.redisUs)} for the floor and ${duration(d.footprint.redisUs)} for D's plain commands: moving 25 values of ~800 B into Lua costs ${duration(lua.pageInUs)} by itself (${duration(lua.smallPageInUs)} for the same HMGET of 8 B values), so any Lua page pays it. The list script makes ${inner(profile, 'list')}. On the client a page costs ${duration(busy(list))} of CPU: \`decodeRun\` ${duration(decode)} (it JSON.parses all 25 payloads eagerly), \`encodeCursor\` ${duration(cursor)} (an HMAC per page), zod ${duration(list.byCategory.zod)}, ioredis ${duration(list.byCategory.ioredis)}. Suggestions: parse \`data\` lazily (or hand adapters the raw JSON they re-serialize anyway), saving about ${duration(decode)} of CPU and most of the garbage a page; and trim the script's calls beyond the floor's two (Redis spends ${duration(g.footprint.redisUs - e.footprint.redisUs)} more than the floor).`,
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
      const extra = t.medianUs - hsetUs;
      const server = writes.footprints[op].redisUs - hsetRedis;
      const client = busy(profile.cpu[op]) - hsetCpu;
      const cpu = profile.cpu[op].byCategory;
      return `\`${op}\` ${times(t.medianRatio)}: ${duration(extra)} over the HSET, of which Redis ${duration(server)} more (${inner(profile, op)}; reply ${bytes(writes.footprints[op].replyBytes)} against ${bytes(writes.footprints.hset.replyBytes)}) and client CPU ${duration(client)} more (core ${duration(cpu.core)}, zod ${duration(cpu.zod)}, ioredis ${duration(cpu.ioredis)}, GC ${duration(cpu.gc)}); the budget for 1.4× is ${duration(hsetUs * 0.4)}.`;
    });
    const f = profile.floors;
    const hsetFloor = f.hset.timing.medianUs;
    out.push(
      `**Each write ≤ 1.4× a bare HSET** (missed by ${missed.join(', ')}). ${rows.join(' ')} The floors in one loop: an empty script receiving enqueue's 6 keys and 11 arguments already costs ${times(f.emptyScript.timing.medianUs / hsetFloor)} the HSET (EVALSHA with a bigger request: ${duration(f.emptyScript.footprint.redisUs)} of Redis), the least consistent enqueue (HSET + 2 ZADD + HINCRBY) ${times(f.minimalScript.timing.medianUs / hsetFloor)}, \`store.enqueue\` ${times(f.enqueue.timing.medianUs / hsetFloor)}, ${times(f.enqueueNoEvents.timing.medianUs / hsetFloor)} without events (PUBLISH of the whole value) and ${times(f.enqueueSchema.timing.medianUs / hsetFloor)} with a zod \`dataSchema\`. Each redis.call costs about ${duration(profile.lua.callUs)} and each new ~800 B Lua string ${duration(profile.lua.string800Us)} (the value, then the event message that repeats it). Suggestions, largest first: return only what the caller lacks (status, times, lease) instead of the whole value, which removes the ${bytes(writes.footprints.enqueue.replyBytes)} reply and its JSON.parse in \`decodeRun\`; publish the event without re-sending the value on progress/heartbeat; fold the meta HMGET + ZINTERCARD type checks into the writes they guard (each is a redis.call); and skip zod on the hot path for inputs that are already plain (ids, numbers), as \`heartbeat\`/\`start\`/\`end\` parse an options object per call.`,
    );
  }
  const share = writes.pipelined.enqueue.share;
  if (share < 0.5) {
    const enqueueRedis = writes.footprints.enqueue.redisUs;
    const enqueueCpu = busy(profile.cpu.enqueue);
    out.push(
      `**Pipelined enqueue ≥ 50% of pipelined HSET** (measured ${percent(share)}). With ${writes.pipelineDepth} in flight the round trip disappears and throughput is bounded by the busier side: Redis spends ${duration(enqueueRedis)} per enqueue against ${duration(hsetRedis)} per HSET (a ceiling of ${percent(hsetRedis / enqueueRedis)} if Redis were the only bound), the client ${duration(enqueueCpu)} of CPU against ${duration(hsetCpu)} (${percent(hsetCpu / enqueueCpu)}). Reaching 50% needs the script's Redis time near ${duration(hsetRedis * 2)} and the client's CPU near ${duration(hsetCpu * 2)} per call: the same cuts as above (fewer redis.calls, no value echoed back, no second copy of the value in the event).`,
    );
  }
  return out;
}

function lifecycleFindings(life: LifecycleData, writes: WritesData | undefined): string[] {
  const ours = life.timings.storeStart;
  const bull = life.timings.bullStart;
  if (!ours || !bull) return [];
  const out: string[] = [];
  if (!life.timings.storeStartAtOnce) {
    const split = writes
      ? writes.sequential.enqueue.medianUs /
        (writes.sequential.enqueue.medianUs + writes.sequential.start.medianUs)
      : 0.5;
    const estimate = ours.medianRatio * split;
    out.push(
      `**A run that starts at once is one call**: not in this build; a run start is \`enqueue\` then \`start\`, two round trips (${times(ours.medianRatio)} PING together, Redis ${duration(life.footprints.storeStart?.redisUs ?? Number.NaN)}). One call that enqueues and starts would cost about one enqueue, ~${times(estimate)} PING by this run's split of the two (enqueue is ${percent(split)} of the pair), i.e. ~${times(bull.medianRatio / estimate)} cheaper than BullMQ's ${times(bull.medianRatio)}: the 1.5× target needs it.`,
    );
  }
  const cheaper = bull.medianUs / ours.medianUs;
  if (cheaper < 1.5) {
    out.push(
      `**A run start ≥ 1.5× cheaper than BullMQ's** (measured ${times(cheaper)}). Both take two round trips; Redis time per run start is ${duration(life.footprints.storeStart?.redisUs ?? Number.NaN)} for the store against ${duration(life.footprints.bullStart?.redisUs ?? Number.NaN)} for BullMQ, heap ${bytes(life.footprints.storeStart?.heapBytes ?? Number.NaN)} against ${bytes(life.footprints.bullStart?.heapBytes ?? Number.NaN)}. The round trip is the larger share, so the one-call start above is the change that moves this target; the write-path cuts shave the rest.`,
    );
  }
  return out;
}

function memoryFindings(memory: MemoryData, profile: ProfileData): string[] {
  const out: string[] = [];
  const structure = (prefix: string) =>
    profile.memory.find((m) => m.structure.startsWith(prefix))?.bytesPerRun ?? Number.NaN;
  const zsets = structure('store: idx') + structure('store: src') + structure('store: lease');
  for (const v of memory.variants) {
    const ratio = v.perRun.store / v.perRun.hash;
    const goal = v.variant === 'large' ? 1.35 : 1.5;
    if (ratio <= goal) continue;
    out.push(
      `**Memory ≤ ${goal}× the hash-only layout at ~${bytes(v.jsonBytes)}** (measured ${times(ratio)}: ${bytes(v.perRun.store)} against ${bytes(v.perRun.hash)} a run). MEMORY USAGE of the big project splits the store's run into its value in the runs hash (${bytes(structure('store: runs'))}, the legacy hash's entry is ${bytes(structure('legacy hash'))}) and three sorted-set entries: idx ${bytes(structure('store: idx'))}, src ${bytes(structure('store: src'))}, lease ${bytes(structure('store: lease'))} (${bytes(zsets)} together; each holds the 36-character id again, a skiplist node and a dict entry). The target leaves ${bytes(v.perRun.hash * (goal - 1))} a run for everything beyond the data: ${Math.floor((v.perRun.hash * (goal - 1)) / (zsets / 3))} sorted-set entries at today's size. Options: drop one index (the lease set could carry the phase and serve the status filter, or src could be replaced by per-source ranges of idx), or store ids as 16 binary bytes instead of 36 characters in every structure.`,
    );
  }
  const worst = Math.min(...memory.variants.map((v) => v.perRun.bullmq / v.perRun.store));
  if (worst < 1.4) {
    out.push(
      `**≥ 1.4× less memory than BullMQ** (measured ${times(worst)} in the worst variant): the same sorted-set entries are the store's overhead; BullMQ spends it on a hash per job with its options and a lock key per active job.`,
    );
  }
  return out;
}

function sweeperFindings(sweeper: SweeperData): string[] {
  const out: string[] = [];
  const perRunUs = sweeper.longestSweepScriptUs / 200;
  if (sweeper.longestScriptUs > 5_000) {
    out.push(
      `**No sweep script over 5 ms** (longest ${duration(sweeper.longestScriptUs)}, batch scripts up to ${duration(sweeper.longestSweepScriptUs)}): a batch of 200 costs up to ${duration(perRunUs)} a run, so a batch size of ${Math.floor(5_000 / perRunUs)} keeps under 5 ms here; the rest of a batch's time is publishing one event per run (each a new Lua string holding the value).`,
    );
  }
  if (sweeper.runsPerSecond < 50_000) {
    out.push(
      `**≥ 50k runs/s** (measured ${count(sweeper.runsPerSecond)}): the pass took ${duration(sweeper.passMs * 1_000)}, of which Redis ran scripts for ${duration(sweeper.scriptsTotalUs)} (${sweeper.scripts} scripts, ${sweeper.sweepScripts} batches); the remaining ${duration(sweeper.passMs * 1_000 - sweeper.scriptsTotalUs)} is round trips (a batch, then an acknowledgement, one after the other) and the client decoding every run for its hook. Acknowledging a batch in the next batch's call, and bigger batches within the 5 ms bound, would halve the round trips.`,
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
    ...(life ? lifecycleFindings(life, writes) : []),
    ...(memory ? memoryFindings(memory, profile) : []),
    ...(sweeper ? sweeperFindings(sweeper) : []),
  ];
  if (findings.length === 0) return 'Every target this run measured was met.';
  return [
    "For each target this run missed: where its cost sits, from this run's measurements (tables below), and what a change would save. The core is not changed by the bench; these are the leads for whoever changes it.",
    ...findings.map((f) => `- ${f}`),
  ].join('\n\n');
}
