import type { Scope } from '@active-runs/core';
import { BENCH_SCOPE } from '../data.js';
import type { ServerChildOptions } from '../http/app-setup.js';
import {
  ADAPTER_PREFIX,
  BARE_PATH,
  FLOOR_PATH,
  LEGACY_PATH,
  LIST_QUERY,
  SERIALIZE_PATH,
  scopeHeaders,
} from '../http/app-setup.js';
import type { LoadResult, LoadSettings } from '../http/load.js';
import { loadRows } from '../http/load.js';
import type { HttpServerProcess } from '../http/server-process.js';
import { startHttpServer } from '../http/server-process.js';
import type { FanoutResult } from '../http/sse-fanout.js';
import { fanoutCaption, measureFanout } from '../http/sse-fanout.js';
import type { HttpBenchMode } from '../modes.js';
import { bytes, count, duration, percent, signed, size, table, times } from '../report/markdown.js';
import type { TargetCheck } from '../report/targets.js';
import { check } from '../report/targets.js';
import { forEachBatch, legacyKeys, seedLegacy, seedStore } from '../seed.js';
import { deleteKeys, scanKeys } from '../server.js';
import type { World } from '../world.js';
import { WORLD_PREFIX } from '../world.js';
import type { BenchSection, SectionContext } from './section.js';

/** The list route is measured against the floor at this share or better (issue 11). */
const FLOOR_SHARE_TARGET = 0.6;
/** The size the targets name. */
const TARGET_SIZE = 1_000_000;
/** The project the HGETALL-style route reads, held in the legacy hash and in the store alike. */
const LEGACY_SCOPE: Scope = { workspaceId: BENCH_SCOPE.workspaceId, projectId: 'proj-http-legacy' };

type Framework = ServerChildOptions['framework'];
const FRAMEWORKS: readonly Framework[] = ['fastify', 'nestjs'];
const FRAMEWORK_NAME: Record<Framework, string> = {
  fastify: 'Fastify',
  nestjs: 'NestJS (Express)',
};
const TARGET_NAME: Record<Framework, string> = { fastify: 'Fastify', nestjs: 'NestJS' };

/** The rows of one app, in table order. */
type RowId = 'floor' | 'serialize' | 'bare' | 'list' | 'listLegacySize' | 'legacy';

/** One framework's figures. */
export interface FrameworkHttp {
  framework: Framework;
  /** The page the floor serves (the adapter's own answer), and whether both routes sent the same bytes. */
  pageBytes: number;
  sameBytes: boolean;
  rows: Record<RowId, LoadResult>;
  /** list requests/s ÷ floor requests/s. */
  floorShare: number;
  /** Adapter at the legacy size ÷ HGETALL route at the same size, requests/s. */
  gainOverLegacy: number;
  sse: FanoutResult;
}

export interface HttpData {
  /** Runs in the listed project, and in the project the legacy route reads. */
  size: number;
  legacySize: number;
  settings: HttpBenchMode;
  frameworks: FrameworkHttp[];
}

async function seedLegacyProject(ctx: SectionContext, world: World, runs: number): Promise<void> {
  const keys = legacyKeys(String(LEGACY_SCOPE.workspaceId), String(LEGACY_SCOPE.projectId));
  await forEachBatch(0, runs, 'large', world.nowMs, async (batch) => {
    await seedStore(world.store, LEGACY_SCOPE, batch);
    await seedLegacy(ctx.server.client, keys, batch, false);
  });
}

async function dropLegacyProject(ctx: SectionContext): Promise<void> {
  const keys = legacyKeys(String(LEGACY_SCOPE.workspaceId), String(LEGACY_SCOPE.projectId));
  const storeKeys = await scanKeys(ctx.server.admin, `${WORLD_PREFIX}:*${LEGACY_SCOPE.projectId}*`);
  await deleteKeys(ctx.server.admin, [keys.hash, ...storeKeys]);
}

/** Fetches a route once from the bench: its body and content type, for the same-bytes check. */
async function fetchPage(url: string, headers: Record<string, string>) {
  const response = await fetch(url, { headers });
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    body: await response.text(),
  };
}

async function measureFramework(
  ctx: SectionContext,
  world: World,
  server: HttpServerProcess,
  settings: LoadSettings & HttpBenchMode,
): Promise<FrameworkHttp> {
  const main = scopeHeaders(world.scope);
  const legacy = scopeHeaders(LEGACY_SCOPE);
  const list = `${server.origin}${ADAPTER_PREFIX}/runs/active${LIST_QUERY}`;
  const [adapterPage, floorPage] = await Promise.all([
    fetchPage(list, main),
    fetchPage(`${server.origin}${FLOOR_PATH}`, main),
  ]);
  if (adapterPage.status !== 200) throw new Error(`list answered ${adapterPage.status}`);
  const sameBytes = adapterPage.body === floorPage.body && adapterPage.type === floorPage.type;

  ctx.log(
    `http ${server.framework}: autocannon, ${settings.rounds} rounds of ${settings.roundS} s a row`,
  );
  const results = await loadRows(
    [
      { id: 'floor', url: `${server.origin}${FLOOR_PATH}`, headers: main },
      { id: 'serialize', url: `${server.origin}${SERIALIZE_PATH}`, headers: main },
      { id: 'bare', url: `${server.origin}${BARE_PATH}${LIST_QUERY}`, headers: main },
      { id: 'list', url: list, headers: main },
      { id: 'listLegacySize', url: list, headers: legacy },
      { id: 'legacy', url: `${server.origin}${LEGACY_PATH}${LIST_QUERY}`, headers: legacy },
    ],
    settings,
    ctx.log,
  );
  const rows = Object.fromEntries(results) as Record<RowId, LoadResult>;

  ctx.log(`http ${server.framework}: ${settings.sseViewers} SSE viewers`);
  const [run] = (await world.store.list(world.scope, { limit: 1 })).items;
  if (!run) throw new Error('the listed project is empty');
  const sse = await measureFanout({
    url: `${server.origin}${ADAPTER_PREFIX}/runs/active/events`,
    headers: main,
    viewers: settings.sseViewers,
    events: settings.sseEvents,
    ratePerS: settings.sseRatePerS,
    admin: ctx.server.admin,
    write: (seq) => world.store.progress(world.scope, run.id, { caption: fanoutCaption(seq) }),
  });
  // the page other sections read stays as it was
  await world.store.progress(world.scope, run.id, { caption: run.caption ?? null });
  return {
    framework: server.framework,
    pageBytes: server.floorBytes,
    sameBytes,
    rows,
    floorShare: rows.list.requestsPerS / rows.floor.requestsPerS,
    gainOverLegacy: rows.listLegacySize.requestsPerS / rows.legacy.requestsPerS,
    sse,
  };
}

function loadRow(f: FrameworkHttp, id: RowId, label: string, runs: number): string[] {
  const r = f.rows[id];
  return [
    FRAMEWORK_NAME[f.framework],
    label,
    size(runs),
    count(r.requestsPerS),
    id === 'floor' ? '100%' : percent(r.requestsPerS / f.rows.floor.requestsPerS),
    `${r.latencyP50Ms} ms`,
    `${r.latencyP99Ms} ms`,
    duration(1e6 / r.requestsPerS),
    bytes(r.bytesPerResponse),
    `${count(r.non2xx)} / ${count(r.errors)}`,
  ];
}

function sseRow(f: FrameworkHttp): string[] {
  const s = f.sse;
  return [
    FRAMEWORK_NAME[f.framework],
    count(s.viewers),
    `${count(s.events)} at ${s.ratePerS}/s`,
    `${count(s.delivered)} of ${count(s.expected)}`,
    duration(s.delayMs.p50 * 1_000),
    duration(s.delayMs.p99 * 1_000),
    duration(s.delayMs.max * 1_000),
    `${s.serverConnections} (${s.subscriberConnections} subscribed)`,
    `${s.channelSubscribers} → ${s.channelSubscribersAfterLeave}`,
    duration(s.openAllMs * 1_000),
  ];
}

/** Server time per request (µs): the server is the bottleneck, so 1 / its requests/s. */
function serverUs(r: LoadResult): number {
  return 1e6 / r.requestsPerS;
}

/** The list route's server time above the floor's, split along the rows that build up to it. */
function breakdownRow(f: FrameworkHttp): string[] {
  const t = (id: RowId) => serverUs(f.rows[id]);
  const us = (v: number) => `${signed(v, 0)} µs`;
  // the share the floor would keep if only this much were added to it
  const share = (id: RowId) => percent(t('floor') / t(id));
  return [
    FRAMEWORK_NAME[f.framework],
    `${Math.round(t('floor'))} µs`,
    `${us(t('serialize') - t('floor'))} (→ ${share('serialize')})`,
    `${us(t('bare') - t('serialize'))} (→ ${share('bare')})`,
    `${us(t('list') - t('bare'))} (→ ${share('list')})`,
    `${Math.round(t('list'))} µs`,
  ];
}

/** Why a framework misses its floor share, in words, from the same run's rows. */
function explainMiss(f: FrameworkHttp): string {
  const t = (id: RowId) => serverUs(f.rows[id]);
  const budget = t('floor') * (1 / FLOOR_SHARE_TARGET - 1);
  const name = FRAMEWORK_NAME[f.framework];
  const adapter = t('list') - t('bare');
  const adapterWords =
    adapter < 0
      ? `the adapter's route takes ${Math.round(-adapter)} µs less than the bare one: it sends the page as JSON text pasted from each run's stored JSON (\`listPageJson\`: no \`JSON.parse\` of \`data\`, no serializer), which saves more than \`resolveScope\` and the zod check of the query cost`
      : `the adapter around it (\`resolveScope\`, the zod check of the query) adds ${Math.round(adapter)} µs, although it sends the page as JSON text pasted from each run's stored JSON (\`listPageJson\`) rather than parsing and serializing \`data\``;
  return `**Why ${name} misses 60% of its floor.** 60% of the floor leaves ${Math.round(budget)} µs of server time per request above the floor's ${Math.round(t('floor'))} µs; the list route takes ${Math.round(t('list') - t('floor'))} µs more. Serializing the same page from an object, with no Redis call at all, would take ${Math.round(t('serialize') - t('floor'))} µs (${percent(f.rows.serialize.requestsPerS / f.rows.floor.requestsPerS)} of the floor); \`store.list\` in a bare route adds ${Math.round(t('bare') - t('serialize'))} µs more (a Redis round trip — one socket write and one read on top of the HTTP ones, ioredis decoding a ${bytes(f.pageBytes)} reply into strings — and \`JSON.parse\` of 25 runs' \`data\` when the framework serializes the page); ${adapterWords}. What the route still pays over the floor is the store's call itself: the round trip and the reply's decoding, which no serialization change removes.`;
}

function targets(data: HttpData): TargetCheck[] {
  const where =
    data.size >= TARGET_SIZE
      ? `at ${size(data.size)}`
      : `at ${size(data.size)}: this mode's largest size, 1M in \`pnpm bench:full\``;
  return data.frameworks.map((f) =>
    check(
      `HTTP list at 1M ≥ 60% of the framework's own floor (${TARGET_NAME[f.framework]})`,
      `${percent(f.floorShare)} (${count(f.rows.list.requestsPerS)} vs ${count(f.rows.floor.requestsPerS)} req/s, ${where})`,
      f.floorShare >= FLOOR_SHARE_TARGET,
    ),
  );
}

function render(data: HttpData): string {
  const s = data.settings;
  const f0 = data.frameworks[0];
  const rows = data.frameworks.flatMap((f) => [
    loadRow(f, 'floor', 'floor: the same page from memory', data.size),
    loadRow(f, 'serialize', 'floor + `JSON.stringify` of the page', data.size),
    loadRow(f, 'bare', '`store.list` in a bare route', data.size),
    loadRow(f, 'list', `\`GET ${ADAPTER_PREFIX}/runs/active${LIST_QUERY}\``, data.size),
    loadRow(
      f,
      'listLegacySize',
      `\`GET ${ADAPTER_PREFIX}/runs/active${LIST_QUERY}\``,
      data.legacySize,
    ),
    loadRow(f, 'legacy', 'HGETALL + parse + sort + slice', data.legacySize),
  ]);
  return [
    `Each framework's app runs in its own node process (\`dist/http-server.js\`, forked by the bench), serving \`@active-runs/fastify\` or \`@active-runs/nestjs\` (NestJS on its default platform, Express) over the bench's store, with a trivial header-based \`resolveScope\` as the adapters' READMEs show. The load comes from the bench process: autocannon with ${s.connections} connections, pipelining ${s.pipelining}, ${s.rounds} round${s.rounds === 1 ? '' : 's'} of ${s.roundS} s per row${s.warmupS > 0 ? ` after a ${s.warmupS} s warm-up` : ''}, rows alternating order each round, the same settings for every row; a row's requests/s and latencies are the median round's. On this 2-core machine a server in autocannon's own process would share one thread with the load generator; in its own process it has a core, and Redis and the bench share the other.`,
    `Rows, each in the same app: the framework's **floor** (a route sending a pre-serialized copy of the adapter's first page — ${f0 ? bytes(f0.pageBytes) : '–'}, the same content type; ${data.frameworks.every((f) => f.sameBytes) ? 'checked byte for byte against the adapter’s answer' : '**the bytes differed from the adapter’s answer**'} — from memory); the floor plus \`JSON.stringify\` of the same page held as an object; \`store.list\` in a bare route (scope from the headers, the page sent as the framework sends any object); the adapter's list route at ${size(data.size)} runs${data.size < TARGET_SIZE ? ` (this mode's largest size; the targets name 1M, which \`pnpm bench:full\` seeds)` : ''}; the same route on a ${size(data.legacySize)}-run project; and the legacy way in a handler on that project (HGETALL, JSON.parse every run, sort, slice 25). "Server time" is 1 / requests/s: the server is the bottleneck, so it is its time per request. Latencies are autocannon's (1 ms resolution).`,
    table(
      [
        'framework',
        'route',
        'runs',
        'requests/s',
        'of the floor',
        'latency p50',
        'latency p99',
        'server time',
        'bytes/response',
        'non-2xx / errors',
      ],
      rows,
    ),
    data.frameworks
      .map(
        (f) =>
          `${FRAMEWORK_NAME[f.framework]}: the adapter at ${size(data.legacySize)} serves ${times(f.gainOverLegacy)} the requests/s of the HGETALL route on the same project.`,
      )
      .join(' '),
    `**Where the server time goes.** Each step of the list route's server time above the floor's, from the rows above (a step's "→" is the share of the floor left once it is added): serializing the page; the store's call (the bare route, which sends the page as an object, so every run's \`data\` is parsed and serialized again); the adapter around it, which sends the page as JSON text pasted from the stored runs instead (so this step can be negative).`,
    table(
      [
        'framework',
        'floor',
        '+ serialize the page',
        '+ store.list (Redis, decode, parse)',
        '+ adapter',
        'list route',
      ],
      data.frameworks.map(breakdownRow),
    ),
    ...data.frameworks.filter((f) => f.floorShare < FLOOR_SHARE_TARGET).map(explainMiss),
    `A profile of each server is one flag away: \`--cpu-prof-dir DIR\` runs the server children under \`node --cpu-prof\` and leaves \`http-fastify.cpuprofile\` and \`http-nestjs.cpuprofile\` there (open them in Chrome DevTools).`,
    `**Live updates.** ${count(s.sseViewers)} SSE viewers of one project (plain \`node:http\` clients parsed by \`eventsource-parser\`, in the bench process) on the adapter's \`GET ${ADAPTER_PREFIX}/runs/active/events\`; the bench then calls \`store.progress\` on one run ${count(s.sseEvents)} times at ${s.sseRatePerS}/s, each with a numbered caption (${count(s.sseViewers * s.sseRatePerS)} SSE messages a second for the server to write), and times every delivery from the write call to the viewer parsing it. Redis connections are the server app's in CLIENT LIST (its client and the store's subscriber), counted with every viewer open; channel subscribers are PUBSUB NUMSUB with the viewers open and after they left.`,
    table(
      [
        'framework',
        'viewers',
        'writes',
        'delivered',
        'delay p50',
        'delay p99',
        'delay max',
        'server Redis connections',
        'channel subscribers (open → left)',
        'all viewers open in',
      ],
      data.frameworks.map(sseRow),
    ),
  ].join('\n\n');
}

export const httpSection: BenchSection = {
  id: 'http',
  title: 'HTTP (Fastify and NestJS adapters)',
  async run(ctx) {
    const world = await ctx.world();
    // the mode's largest project (a no-op after the reads section grew it)
    await world.grow(Math.max(...ctx.mode.sizes), ctx.log);
    const mode = ctx.mode.http;
    await seedLegacyProject(ctx, world, mode.legacySize);
    const frameworks: FrameworkHttp[] = [];
    try {
      for (const framework of FRAMEWORKS) {
        const server = await startHttpServer(
          {
            framework,
            redisUrl: ctx.server.url,
            storePrefix: WORLD_PREFIX,
            floorScope: world.scope,
          },
          ctx.cpuProfileDir,
        );
        try {
          frameworks.push(await measureFramework(ctx, world, server, mode));
        } finally {
          await server.stop();
        }
        const f = frameworks.at(-1)!;
        ctx.log(
          `http ${framework}: list ${percent(f.floorShare)} of the floor, SSE p99 ${f.sse.delayMs.p99.toFixed(1)} ms`,
        );
      }
    } finally {
      await dropLegacyProject(ctx);
    }
    const data: HttpData = {
      size: world.size,
      legacySize: mode.legacySize,
      settings: mode,
      frameworks,
    };
    return { data, targets: targets(data), markdown: render(data) };
  },
};
