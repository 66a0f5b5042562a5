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
  const decode = list.top
    .filter((t) => t.fn.startsWith('decodeRun'))
    .reduce((sum, t) => sum + t.us, 0);
  const cursor = list.top.find((t) => t.fn.startsWith('encodeCursor'))?.us ?? 0;
  const lua = profile.lua;
  if (g.timing.medianRatio > 2.4) {
    out.push(
      `**A page ≤ 2.4× PING** (measured ${times(g.timing.medianRatio)} at ${count(largest)}, first page). The floor E, the same ZRANGE + HMGET in one bare script, costs ${times(e.timing.medianRatio)} here, and the two-round-trip D ${times(d.timing.medianRatio)}: ${e.timing.medianRatio > 2.4 ? 'on this machine the floor itself is above the target' : 'the target is within reach of the floor'}. Redis spends ${duration(g.footprint.redisUs)} on the page script against ${duration(e.footprint.redisUs)} for the floor and ${duration(d.footprint.redisUs)} for D's plain commands: moving 25 values of ~800 B into Lua costs ${duration(lua.pageInUs)} by itself (${duration(lua.smallPageInUs)} for the same HMGET of 8 B values), so any Lua page pays it. The list script makes ${inner(profile, 'list')}. On the client a page costs ${duration(busy(list))} of CPU: decoding the 25 runs ${duration(decode)} (\`decodeRunLazily\`: \`data\` is parsed only when read, so a page parses no payload the caller does not read), \`encodeCursor\` ${duration(cursor)} (an HMAC per page), zod ${duration(list.byCategory.zod)} (only for options that fail the plain checks), ioredis ${duration(list.byCategory.ioredis)}. The store's page costs ${times(g.timing.medianRatio / e.timing.medianRatio)} the floor E in the same loop: ${g.timing.medianRatio / e.timing.medianRatio <= 1.05 ? 'what is left over the target is the floor itself, i.e. the round trip and the Lua page on this machine (the ratio grows with the load average; ~2.2× quiet for E)' : "the rest is the page script's extra calls (meta, TIME, totals, the cursor score) and the client work above"}.`,
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
      `**≤ 60 KiB of JS garbage a page** (measured ${bytes(g.footprint.heapBytes)}). The floor E allocates ${bytes(e.footprint.heapBytes)} and D ${bytes(d.footprint.heapBytes)} for the same 25 runs parsed (the reply's ${bytes(g.footprint.replyBytes)} as strings, then the parsed objects); \`store.list\` ${g.footprint.heapBytes > e.footprint.heapBytes ? `adds ${bytes(g.footprint.heapBytes - e.footprint.heapBytes)}` : `saves ${bytes(e.footprint.heapBytes - g.footprint.heapBytes)}`} with its run objects (\`data\` parsed only when read), the cursor and option checks; what remains is the reply's strings and one object per run.`,
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

/** What a layout change would do to one variant's store figure, from its measured structures. */
function layoutOptions(v: MemoryData['variants'][0]) {
  const st = v.structures!;
  const binary = st.runs - st.runsBinaryIds + 3 * (st.idx - st.idxBinaryIds);
  const compact = st.runs - st.runsCompactValues;
  return {
    binary,
    compact,
    both: binary + compact,
    noSrc: st.src,
    ratio: (saved: number) => (v.perRun.store - saved) / v.perRun.hash,
    bull: (saved: number) => v.perRun.bullmq / (v.perRun.store - saved),
  };
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
      const st = v.structures;
      const parts = st
        ? ` MEMORY USAGE per run: the runs hash ${bytes(st.runs)} (a ${bytes(st.valueBytes)} value, its 36-character id and a dict entry), idx ${bytes(st.idx)}, src ${bytes(st.src)}, lease ${bytes(st.lease)}: ${bytes(st.idx + st.src + st.lease)} of sorted-set entries whatever the payload (each repeats the id, with a skiplist node and a dict entry), against ${bytes(v.perRun.hash)} for the legacy layout's whole run. ${goal}× needs ${bytes(v.perRun.store - v.perRun.hash * goal)} less a run.`
        : '';
      return `at ~${bytes(v.jsonBytes)} it measured ${times(v.perRun.store / v.perRun.hash)} (${bytes(v.perRun.store)} against ${bytes(v.perRun.hash)} a run), and ${goal}× leaves ${bytes(room)} a run beyond the data: room for ${Math.floor(room / (zsets / 3))} of today's sorted-set entries, not 3.${parts}`;
    });
    const options = missed
      .filter((v) => v.structures)
      .map((v) => {
        const o = layoutOptions(v);
        const st = v.structures!;
        return `at ~${bytes(v.jsonBytes)}: ids kept as their 16 bytes instead of 36 characters in all four structures save ${bytes(o.binary)} a run (a sorted-set entry ${bytes(st.idx)} -> ${bytes(st.idxBinaryIds)}: the member moves down one allocator size class), giving ${times(o.ratio(o.binary))}; values with times as base-36 deltas and the source as its rank (${bytes(st.valueBytes)} -> ${bytes(st.compactValueBytes)}) save ${bytes(o.compact)} (allocator size classes decide: nothing unless the value crosses one), ${times(o.ratio(o.both))} with both; without the by-source set, ${times(o.ratio(o.noSrc))}`;
      });
    out.push(
      `**Memory against the hash-only layout**: ${each.join(' ')}${options.length > 0 ? ` Measured in this run on copies of the store's own keys: ${options.join('; ')}.` : ''} So the target is missed by the layout, not by waste: the three sorted sets are what makes a page, a filter and the sweep O(log N). Binary ids would work only for UUIDs (ids are any string up to 128 characters) and, like dropping the by-source set, change every script, the import script, src/legacy/ and the layout version; dropping src would make an unfiltered page merge one range per source (a score per row to format, offset pages O(offset)), which the page targets cannot afford. Not changed in this build.`,
    );
  }
  const worst = Math.min(...memory.variants.map((v) => v.perRun.bullmq / v.perRun.store));
  if (worst < 1.4) {
    const worstVariant = memory.variants.reduce((a, b) =>
      b.perRun.bullmq / b.perRun.store < a.perRun.bullmq / a.perRun.store ? b : a,
    );
    const bull = worstVariant.bull;
    const how = bull
      ? ` Per job, BullMQ keeps a hash of ${bytes(bull.jobHash)} (${bull.jobHashEncoding}-encoded: its ${Object.keys(bull.fields).length} fields ${Object.keys(bull.fields).join(', ')}, and \`data\` of ${bytes(bull.fields.data ?? Number.NaN)} is over Redis' 64-byte listpack limit, so every field gets its own dict entry) and a lock key of ${bytes(bull.lock)}; its data is the legacy JSON (it repeats the id and status the store keeps out of the value). That is BullMQ's real layout with its defaults, so the comparison stands.`
      : '';
    const fix = worstVariant.structures
      ? ` With 16-byte ids (above) it would be ${times(layoutOptions(worstVariant).bull(layoutOptions(worstVariant).binary))}.`
      : '';
    out.push(
      `**≥ 1.4× less memory than BullMQ** (measured ${times(worst)} at ~${bytes(worstVariant.jsonBytes)}): the three sorted-set entries above are the store's overhead.${how} Without one sorted set (~${bytes(zsets / 3)} a run) the worst variant would be ${times(Math.min(...memory.variants.map((v) => v.perRun.bullmq / (v.perRun.store - zsets / 3))))}.${fix}`,
    );
  }
  return out;
}

function sweeperFindings(sweeper: SweeperData): string[] {
  const out: string[] = [];
  const quiet = sweeper.withoutEvents;
  // from the p99, not the longest: the longest may be a script the OS paused
  const perRunUs = sweeper.p99SweepScriptUs / sweeper.batchSize;
  if (sweeper.longestScriptUs > 5_000) {
    const parts: string[] = [];
    if (sweeper.longestSweepScriptUs > 5_000) {
      const events =
        quiet.longestSweepScriptUs < sweeper.longestSweepScriptUs
          ? `; without events the longest batch takes ${duration(quiet.longestSweepScriptUs)}, so the per-run \`expired\` event (a new Lua string holding the value, then PUBLISH) is ${percent(1 - quiet.longestSweepScriptUs / sweeper.longestSweepScriptUs)} of it`
          : '; turning events off made no measurable difference';
      parts.push(
        `a batch of ${sweeper.batchSize} runs took up to ${duration(sweeper.longestSweepScriptUs)} (p99 ${duration(sweeper.p99SweepScriptUs)}; SLOWLOG times are wall-clock, so on a loaded machine the longest may be a script the OS paused), ${duration(perRunUs)} a run at the p99: at that rate the p99 stays under 5 ms up to ${Math.floor(5_000 / perRunUs)} runs a batch, and the longest script, ${(sweeper.longestSweepScriptUs / sweeper.p99SweepScriptUs).toFixed(1)}× the p99, is the tail of this machine rather than the batch size${events}`,
      );
    }
    if (sweeper.longestRegistryReadUs > 5_000) {
      parts.push(
        `a read of the slot registries took ${duration(sweeper.longestRegistryReadUs)}: it asks 256 registries per call (the sweeper's SLOT_CHUNK); fewer per call bounds it`,
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
    const perRunUs = sweeper.scriptsTotalUs / sweeper.expired;
    const bound =
      rest < sweeper.scriptsTotalUs * 0.25
        ? `the pass is bound by Redis: the client's work overlaps it (two claims wait at Redis while the hooks of a batch run), so 50k runs/s needs at most 20 µs of Redis a run, against ${duration(perRunUs)} here. Inside a batch script most of it goes to settling the previous batch (each answer reads its whole outbox entry, value included, to check that this pass still owns it), building each outbox entry (a new string of the value's size) and reading the values; keeping the owner token apart from the value in the outbox would cut both, a change of the outbox layout (every script that reads it, the import, the layout version) not made in this build`
        : `the other ${duration(rest)} are the client's and the round trips (two claims wait at Redis while the hooks of a batch run, so they overlap Redis's work, but not entirely on this machine)`;
    out.push(
      `**≥ 50k runs/s** (measured ${count(sweeper.runsPerSecond)}; ${count(quiet.runsPerSecond)} without events): the pass took ${duration(sweeper.passMs * 1_000)}, of which Redis ran its ${count(sweeper.scripts)} scripts for ${duration(sweeper.scriptsTotalUs)} (${duration(perRunUs)} a run); ${bound}.`,
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
