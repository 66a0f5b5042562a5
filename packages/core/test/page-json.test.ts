/**
 * `listPageJson` (src/page-json.ts): the JSON text of a page, written from each run's stored
 * JSON without parsing `data`, parses to exactly what `JSON.stringify` of the page gives.
 */
import { uniquePrefix } from '@active-runs/test-utils';
import { describe, expect, it } from 'vitest';
import type { ActiveRunStore, ListPage, Scope } from '../src/index.js';
import { listPageJson } from '../src/index.js';
import { unreadDataJson } from '../src/lazy-run.js';
import { useStoreHarness } from './harness.js';

const h = useStoreHarness();
const scope: Scope = { workspaceId: 'w1', projectId: 'page-json' };
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

const DATA = {
  model: 'gpt-4o',
  nested: { list: [1, 'two', null, { deep: [[], {}] }], empty: [], flag: false },
  unicode: 'héllo ✓ 日本語 🚀 \u2028\u2029 "quoted" \\ back\nslash \u0000',
  big: 12345678901234,
  float: -0.5e-7,
};

/** What a caller of `JSON.stringify(page)` gets back, the reference. */
const viaStringify = (page: ListPage<unknown>) => JSON.parse(JSON.stringify(page)) as unknown;

async function seeded(store: ActiveRunStore<unknown>) {
  await store.enqueue(scope, { id: 'bare' });
  await store.enqueue(scope, { id: 'full', source: 'api', caption: 'say "hi" ✓ \\', data: DATA });
  await store.start(scope, 'full');
  await store.enqueue(scope, { id: 'scalar', data: 'just a string "x"' });
  await store.enqueue(scope, { id: 'array', source: 'eval', data: [1, [2, { three: 3 }]] });
  // an id may hold `"` and `\` (keys.ts): they must be escaped
  await store.enqueue(scope, { id: 'q"uo\\te', caption: '' });
  // progress rewrites caption and data: the stored value then ends with a fingerprint
  await store.enqueue(scope, { id: 'progressed', caption: 'first', data: { step: 1 } });
  await store.progress(scope, 'progressed', { caption: 'second 🚀', data: { step: 2 } });
}

describe('listPageJson', () => {
  it('parses to what JSON.stringify of the page parses to, data never parsed', async () => {
    const store = h.store();
    await seeded(store);
    const page = await store.list(scope, { limit: 4 });
    const text = listPageJson(page);
    // a second page of the same list with the cursor, and the last page (nextCursor null)
    const rest = await store.list(scope, { cursor: page.nextCursor! });
    expect(page.nextCursor).not.toBeNull();
    expect(rest.nextCursor).toBeNull();
    const restText = listPageJson(rest);
    // pasted from the stored text: no run's data was parsed to write the page
    for (const run of [...page.items, ...rest.items])
      expect(unreadDataJson(run)).toBeTypeOf('string');
    expect(JSON.parse(text)).toEqual(viaStringify(page));
    expect(JSON.parse(restText)).toEqual(viaStringify(rest));
    // every field of the response schema, in its order, nothing else
    const parsed = JSON.parse(text) as { items: Record<string, unknown>[] };
    expect(Object.keys(parsed)).toEqual(['items', 'total', 'nextCursor']);
    for (const item of parsed.items) {
      expect(Object.keys(item)).toEqual([
        'id',
        'status',
        'queuedAt',
        'startedAt',
        'source',
        'caption',
        'data',
        'leaseExpiresAt',
      ]);
    }
    const all = [...page.items, ...rest.items];
    expect(all.map((r) => r.id).sort()).toEqual(
      ['array', 'bare', 'full', 'progressed', 'q"uo\\te', 'scalar'].sort(),
    );
    const full = (JSON.parse(text) as ListPage<unknown>).items.find((r) => r.id === 'full');
    expect(full?.data).toEqual(DATA);
  });

  it('writes a run whose data was read, assigned or changed as it is now', async () => {
    const store = h.store();
    await seeded(store);
    const page = await store.list(scope);
    const [first, second, third] = page.items;
    expect(first && second && third).toBeTruthy();
    void first!.data;
    second!.data = { replaced: ['yes'] };
    third!.caption = 'changed "caption"';
    const full = page.items.find((r) => r.id === 'full')!;
    (full.data as typeof DATA).nested.flag = true;
    expect(JSON.parse(listPageJson(page))).toEqual(viaStringify(page));
    expect(JSON.parse(listPageJson(page)).items[1].data).toEqual({ replaced: ['yes'] });
  });

  it('writes an empty page and plain runs of another store (JSON.stringify)', async () => {
    const store = h.store();
    const empty = await store.list(scope);
    expect(JSON.parse(listPageJson(empty))).toEqual({ items: [], total: 0, nextCursor: null });
    const plain: ListPage<unknown> = {
      items: [
        {
          id: 'p',
          status: 'running',
          queuedAt: 1,
          startedAt: 2,
          source: null,
          caption: null,
          data: { a: [1] },
          leaseExpiresAt: 3,
        },
      ],
      total: 1,
      nextCursor: 'c',
    };
    expect(JSON.parse(listPageJson(plain))).toEqual(viaStringify(plain));
  });

  it('writes a rollout page read from the legacy hash', async () => {
    const prefix = uniquePrefix('page-json-rollout');
    const keyPrefix = `${prefix}:old:`;
    const store = h.store({ prefix, legacy: { keyPrefix } });
    const now = Date.now();
    await h.client.hset(`${keyPrefix}runs:active:${scope.workspaceId}:${scope.projectId}`, {
      q1: JSON.stringify({ uuid: 'q1', queuedAt: iso(now - 60_000), source: 'api', model: 'ü' }),
      r1: JSON.stringify({
        uuid: 'r1',
        queuedAt: iso(now - HOUR),
        startedAt: iso(now - 10_000),
        caption: 'legacy ✓',
      }),
    });
    // a rollout write goes to both layouts
    await store.enqueue(scope, { id: 'new', data: DATA });
    const page = await store.list(scope);
    expect(page.items.map((r) => r.id).sort()).toEqual(['new', 'q1', 'r1']);
    expect(JSON.parse(listPageJson(page))).toEqual(viaStringify(page));
  });
});
