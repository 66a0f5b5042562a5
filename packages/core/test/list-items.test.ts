/**
 * The runs of a page parse `data` on first read (src/lazy-run.ts); to a caller they are the
 * plain objects `get` returns, whatever the caller does with them.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Scope } from '../src/index.js';
import { useStoreHarness } from './harness.js';

const h = useStoreHarness();
const scope: Scope = { workspaceId: 'w1', projectId: 'items' };

const DATA = {
  model: 'gpt-4o',
  nested: { list: [1, 'two', null, { deep: true }], empty: [], unicode: 'héllo ✓ \u2028' },
  big: 12345678901234,
};

async function seeded() {
  const store = h.store();
  await store.enqueue(scope, { id: 'with-data', source: 'api', caption: 'say "hi"\\', data: DATA });
  await store.enqueue(scope, { id: 'no-data' });
  await store.start(scope, 'with-data');
  // progress changes data and caption: the stored value then ends with a fingerprint
  await store.enqueue(scope, { id: 'progressed', caption: 'first', data: { step: 1 } });
  await store.progress(scope, 'progressed', { caption: 'second', data: { step: 2 } });
  return store;
}

describe('list: page items behave as plain runs', () => {
  it('each item equals what get returns, field by field and serialized', async () => {
    const store = await seeded();
    const page = await store.list(scope);
    expect(page.items.map((r) => r.id).sort()).toEqual(['no-data', 'progressed', 'with-data']);
    for (const item of page.items) {
      const got = await store.get(scope, item.id);
      expect(item).toEqual(got);
      expect(got).toEqual(item);
      expect(JSON.stringify(item)).toBe(JSON.stringify(got));
      expect(Object.keys(item)).toEqual(Object.keys(got!));
      expect({ ...item }).toEqual(got);
      expect(structuredClone(item)).toEqual(got);
    }
    const withData = page.items.find((r) => r.id === 'with-data')!;
    expect(withData.data).toEqual(DATA);
    expect(withData.caption).toBe('say "hi"\\');
    expect(withData.source).toBe('api');
    expect(withData.status).toBe('running');
    expect(page.items.find((r) => r.id === 'no-data')!.data).toBeNull();
    expect(page.items.find((r) => r.id === 'progressed')!.data).toEqual({ step: 2 });
  });

  it('data read twice is the same object; assigned, it keeps the new value', async () => {
    const store = await seeded();
    const [run] = (await store.list(scope, { status: 'running' })).items;
    const first = run!.data;
    expect(run!.data).toBe(first);
    run!.data = { replaced: true };
    expect(run!.data).toEqual({ replaced: true });
    expect(JSON.parse(JSON.stringify(run))).toMatchObject({ data: { replaced: true } });
    delete (run as { data?: unknown }).data;
    expect('data' in run!).toBe(false);
  });

  it('a frozen item still reads its data', async () => {
    const store = await seeded();
    const [run] = (await store.list(scope, { status: 'running' })).items;
    Object.freeze(run);
    expect(run!.data).toEqual(DATA);
    expect(run!.data).toEqual(DATA);
  });

  it('console output shows the data, not an accessor', async () => {
    const store = await seeded();
    const [run] = (await store.list(scope, { status: 'running' })).items;
    const shown = inspect(run, { depth: 5 });
    expect(shown).not.toContain('Getter');
    expect(shown).toContain("model: 'gpt-4o'");
    expect(shown).toBe(inspect({ ...run }, { depth: 5 }));
  });
});
