import type { Redis } from 'ioredis';
import type { LegacyRun } from '../data.js';
import { compareNewestFirst } from '../data.js';
import type { World } from '../world.js';

/** Rows per page, as in the issue and the dashboards that motivated the library. */
export const PAGE_SIZE = 25;
/** Page size while walking to the deep page's cursor (the store's largest page). */
const WALK_PAGE = 500;

/** Which page a contender reads. */
export type PageKind = 'first' | 'deep' | 'running' | 'source' | 'counts';

/** One way of reading a page of active runs. */
export interface ReadContender {
  /** A-G, as in issue 11. */
  readonly letter: string;
  /** What it does, for the tables. */
  readonly name: string;
  readonly page: PageKind;
  /** Reads every run of the project: only measured up to the mode's maxFullScanSize. */
  readonly fullScan: boolean;
  /** Reads the page; returns the page's run ids in order (null: not a page, e.g. counts). */
  readonly op: () => Promise<string[] | null>;
}

/** The source the filtered page asks for. */
export const FILTER_SOURCE = 'api';

function parseAll(values: readonly string[]): LegacyRun[] {
  return values.map((v) => JSON.parse(v) as LegacyRun);
}

function topPage(runs: LegacyRun[], offset: number): string[] {
  runs.sort(compareNewestFirst);
  return runs.slice(offset, offset + PAGE_SIZE).map((r) => r.runUuid);
}

/** (A) The original: HGETALL, parse every run, sort, slice. */
async function hgetallPage(client: Redis, key: string, offset: number): Promise<string[]> {
  const all = await client.hgetall(key);
  return topPage(parseAll(Object.values(all)), offset);
}

/**
 * (B) The "hybrid" fix: HLEN, then HSCAN COUNT 100 to the end, parse, sort, slice: still reads
 * every run, in many round trips. (C) with `stopAfter`: stop once that many runs were scanned,
 * which is fast and returns a page that is mostly wrong.
 */
async function hscanPage(
  client: Redis,
  key: string,
  offset: number,
  stopAfter = Number.POSITIVE_INFINITY,
): Promise<string[]> {
  await client.hlen(key);
  const values: string[] = [];
  let cursor = '0';
  do {
    const [next, entries] = await client.hscan(key, cursor, 'COUNT', 100);
    cursor = next;
    for (let i = 1; i < entries.length; i += 2) values.push(entries[i]!);
  } while (cursor !== '0' && values.length < stopAfter);
  return topPage(parseAll(values), offset);
}

/** (D) The guide's sorted-set prototype: ZRANGE REV by rank, then HMGET: two round trips. */
async function twoTripPage(world: World, offset: number): Promise<string[]> {
  const client = world.server.client;
  const ids = await client.zrange(
    world.legacy.index,
    String(offset),
    String(offset + PAGE_SIZE - 1),
    'REV',
  );
  if (ids.length === 0) return [];
  const values = await client.hmget(world.legacy.hash, ...ids);
  return parseAll(values.filter((v): v is string => v !== null)).map((r) => r.runUuid);
}

/** (E) The floor: the same two reads in one Lua script, one round trip, nothing else. */
const BARE_PAGE_LUA = `
local ids = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'REV')
if #ids == 0 then return {} end
local values = redis.call('HMGET', KEYS[2], unpack(ids))
local out = {}
for i = 1, #ids do
  out[#out + 1] = ids[i]
  out[#out + 1] = values[i]
end
return out`;
const BARE_PAGE_COMMAND = 'benchBarePage';

type BarePage = (index: string, hash: string, start: number, stop: number) => Promise<string[]>;

async function barePage(world: World, offset: number): Promise<string[]> {
  const client = world.server.client as unknown as Redis & Record<string, BarePage>;
  if (typeof client[BARE_PAGE_COMMAND] !== 'function') {
    client.defineCommand(BARE_PAGE_COMMAND, { numberOfKeys: 2, lua: BARE_PAGE_LUA });
  }
  const reply = await client[BARE_PAGE_COMMAND]!(
    world.legacy.index,
    world.legacy.hash,
    offset,
    offset + PAGE_SIZE - 1,
  );
  const ids: string[] = [];
  for (let i = 0; i < reply.length; i += 2) {
    JSON.parse(reply[i + 1]!);
    ids.push(reply[i]!);
  }
  return ids;
}

/** The store's cursor after exactly `offset` runs, found by walking pages of 500 (setup, untimed). */
async function cursorAt(world: World, offset: number): Promise<string | null> {
  let cursor: string | null = null;
  let walked = 0;
  while (walked < offset) {
    const limit = Math.min(WALK_PAGE, offset - walked);
    const page = await world.store.list(world.scope, { limit, cursor });
    walked += page.items.length;
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return cursor;
}

/** Every read contender at the world's current size. */
export async function readContenders(world: World): Promise<ReadContender[]> {
  const client = world.server.client;
  const { hash } = world.legacy;
  const deep = Math.floor(world.size / 2);
  const deepCursor = await cursorAt(world, deep);
  const { store, scope, bull } = world;
  const ids = (items: { id: string }[]) => items.map((r) => r.id);
  const bullIds = (jobs: unknown[]) =>
    jobs.map((j) => String((j as { data: { runUuid: string } }).data.runUuid));
  return [
    {
      letter: 'A',
      name: 'HGETALL + parse all + sort',
      page: 'first',
      fullScan: true,
      op: () => hgetallPage(client, hash, 0),
    },
    {
      letter: 'A',
      name: 'HGETALL + parse all + sort',
      page: 'deep',
      fullScan: true,
      op: () => hgetallPage(client, hash, deep),
    },
    {
      letter: 'B',
      name: 'HLEN + HSCAN to the end + sort',
      page: 'first',
      fullScan: true,
      op: () => hscanPage(client, hash, 0),
    },
    {
      letter: 'B',
      name: 'HLEN + HSCAN to the end + sort',
      page: 'deep',
      fullScan: true,
      op: () => hscanPage(client, hash, deep),
    },
    {
      letter: 'C',
      name: 'HSCAN, early exit at 100',
      page: 'first',
      fullScan: false,
      op: () => hscanPage(client, hash, 0, 100),
    },
    {
      letter: 'D',
      name: 'ZRANGE + HMGET (2 round trips)',
      page: 'first',
      fullScan: false,
      op: () => twoTripPage(world, 0),
    },
    {
      letter: 'D',
      name: 'ZRANGE + HMGET (2 round trips)',
      page: 'deep',
      fullScan: false,
      op: () => twoTripPage(world, deep),
    },
    {
      letter: 'E',
      name: 'bare Lua page (the floor)',
      page: 'first',
      fullScan: false,
      op: () => barePage(world, 0),
    },
    {
      letter: 'E',
      name: 'bare Lua page (the floor)',
      page: 'deep',
      fullScan: false,
      op: () => barePage(world, deep),
    },
    {
      letter: 'F',
      name: "BullMQ getJobs(['active'])",
      page: 'first',
      fullScan: false,
      op: async () => bullIds(await bull.page(0, PAGE_SIZE - 1)),
    },
    {
      letter: 'F',
      name: "BullMQ getJobs(['active'])",
      page: 'deep',
      fullScan: false,
      op: async () => bullIds(await bull.page(deep, deep + PAGE_SIZE - 1)),
    },
    {
      letter: 'G',
      name: 'store.list',
      page: 'first',
      fullScan: false,
      op: async () => ids((await store.list(scope, { limit: PAGE_SIZE })).items),
    },
    {
      letter: 'G',
      name: 'store.list',
      page: 'deep',
      fullScan: false,
      op: async () =>
        ids((await store.list(scope, { limit: PAGE_SIZE, cursor: deepCursor })).items),
    },
    {
      letter: 'G',
      name: "store.list status 'running'",
      page: 'running',
      fullScan: false,
      op: async () => ids((await store.list(scope, { limit: PAGE_SIZE, status: 'running' })).items),
    },
    {
      letter: 'G',
      name: `store.list source '${FILTER_SOURCE}'`,
      page: 'source',
      fullScan: false,
      op: async () =>
        ids((await store.list(scope, { limit: PAGE_SIZE, source: FILTER_SOURCE })).items),
    },
    {
      letter: 'G',
      name: 'store.counts',
      page: 'counts',
      fullScan: false,
      op: async () => {
        await store.counts(scope);
        return null;
      },
    },
  ];
}
