import type { SectionResult } from '../sections/section.js';
import { table } from './markdown.js';
import type { TargetCheck } from './targets.js';
import { verdict } from './targets.js';

/** Where and how a run was made, printed at the top of BENCHMARKS.md. */
export interface RunInfo {
  /** The root script (`pnpm bench`). */
  command: string;
  /** The node command line it ran. */
  nodeCommand: string;
  mode: string;
  date: string;
  durationS: number;
  machine: string;
  versions: string;
}

/** A section's heading and result, in document order. */
export interface RenderedSection {
  title: string;
  result: SectionResult;
}

const METHOD = `## How it is measured

- **Server.** The bench starts its own \`redis-server\` (Redis 7, no persistence, \`noeviction\`) on a free loopback port through \`@active-runs/test-utils\`' \`startRedisServer\`, and kills it at the end. Node and Redis share the machine's cores with whatever else runs, which is why every latency is a ratio.
- **Data.** One project holds N active runs in three layouts at once: the legacy hash (\`runUuid -> JSON\`, ~800 B a run, with the guide prototype's sorted-set index next to it), the store (seeded through its public \`enqueue\`/\`start\`, a thousand calls in flight at a time, so the bench always measures the store's real layout), and BullMQ active jobs (\`addBulk\`, then a worker takes each job). Runs are generated deterministically (ids, timestamps, source, caption, a parameters object; 60% running). The data grows size by size, so each size is seeded once.
- **Latency.** Each contender runs in a loop with a PING (reads, run start/end) or a bare \`HSET\` of the run's JSON (writes) interleaved, alternating which goes first. Its median and p99 are divided by the baseline's median from the same loop: machine noise slows both alike. One connection, one call in flight, like one API request. Pipelined writes put 512 calls in flight at once and compare batch times with 512 pipelined \`HSET\`s.
- **Heap per request.** The bench runs node with \`--expose-gc\` and otherwise default heap settings (so the timed loops pay the garbage collection an app pays): a full GC, then V8's \`GCProfiler\` around an untimed pass of the contender. Allocated bytes are \`heapUsed after − heapUsed before + Σ(used before − used after)\` over every GC the profiler saw during the pass, so the figure is exact however many scavenges run. It counts everything the call allocates (ioredis' reply parsing, JSON.parse, the result), garbage or kept.
- **Redis time per request.** In the same untimed pass, \`slowlog-log-slower-than 0\` logs every command; the sum of their durations over the contender's own commands is its Redis execution time (top-level commands only, so a script's inner calls are not counted twice; it is the same duration INFO commandstats adds up). INFO commandstats before and after gives the calls per command, including those made inside scripts ("Where the time goes").
- **Bytes.** \`total_net_output_bytes\` / \`total_net_input_bytes\` of INFO stats before and after the pass, minus the INFO calls' own bytes: what crossed the socket per request.
- **Scaling exponent.** Least-squares slope of log(median / PING) against log(N) over every size measured.
- **Memory.** \`used_memory\` before and after seeding a layout on the otherwise idle server, divided by the runs added; the keys are deleted afterwards.
- **Sweeper.** Runs seeded with a short lease, left to lapse, then one \`store.sweep()\` pass; its longest script comes from SLOWLOG (server execution time), its throughput from the pass's wall time.
- **HTTP.** Each framework's app (\`@active-runs/fastify\` on Fastify; \`@active-runs/nestjs\` on NestJS's default platform, Express) runs in its own node process, forked by the bench, over the bench's store, with a header-based \`resolveScope\`; autocannon runs in the bench process with the same settings for every row (printed in the section), each row after an uncounted warm-up, rows alternating order each round. The server gets its own process because on a 2-core machine autocannon in the server's process would take turns with it on one thread and measure both; in a child, the server has a core while Redis and autocannon share the other. Every app also serves its framework's floor (a pre-serialized copy of the adapter's own first page, checked byte for byte, same content type, sent from memory) and the rows between the floor and the adapter, so a miss is split into its steps. Requests/s count 2xx answers over the measured time; "server time" is its inverse. The SSE viewers are \`node:http\` clients parsed by \`eventsource-parser\` in the bench process; a delivery's delay runs from the bench's \`store.progress\` call to the viewer parsing the event (one clock). Redis connections come from CLIENT LIST (the app's connections are named) and PUBSUB NUMSUB.
`;

export function renderDocument(
  info: RunInfo,
  targets: readonly TargetCheck[],
  sections: readonly RenderedSection[],
): string {
  const passed = targets.filter((t) => t.pass === true).length;
  const failed = targets.filter((t) => t.pass === false).length;
  const pending = targets.filter((t) => t.pass === null).length;
  const out = [
    '# Benchmarks',
    `Produced by \`${info.command}\` (\`${info.nodeCommand}\`), mode \`${info.mode}\`, on ${info.date}, in ${Math.round(info.durationS)} s.`,
    `Machine: ${info.machine}. ${info.versions}.`,
    'Absolute times on this shared machine are noisy; every latency below is a ratio to a baseline measured in the same loop. Ratios cancel a uniformly slower machine, not an overloaded one: with more runnable processes than cores, a call that needs CPU on both sides (a page: ~100 µs of Redis, ~300 µs of client JS) waits for the scheduler more often than a PING, so its ratio grows with the load average printed above. Compare ratios within one run. See "How it is measured" at the end.',
    '## Targets (issue 11)',
    `${passed} met, ${failed} missed, ${pending} not measured. Each miss is explained, with measurements, under "Where the time goes".`,
    table(
      ['target', 'measured', ''],
      targets.map((t) => [t.target, t.measured, verdict(t)]),
    ),
  ];
  for (const section of sections) out.push(`## ${section.title}`, section.result.markdown);
  out.push(METHOD);
  return `${out.join('\n\n')}\n`;
}
