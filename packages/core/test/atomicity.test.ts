import { describe, expect, it } from 'vitest';
import type { ActiveRunStore } from '../src/index.js';
import { ActiveRunsError, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { sleep, useStoreHarness } from './harness.js';

const h = useStoreHarness();
const scope = { workspaceId: 'atom', projectId: 'p' };

/** Every key of the scope with its type and content, to prove a failed call wrote nothing. */
async function snapshot(store: ActiveRunStore) {
  const keys = scopeKeys(store.prefix, parseScope(scope));
  const names = [
    keys.runs,
    keys.index,
    keys.bySource,
    keys.lease,
    keys.meta,
    keys.registry,
    keys.expired,
  ];
  const out: Record<string, unknown> = {};
  for (const key of names) {
    const type = await h.client.type(key);
    if (type === 'hash') out[key] = await h.client.hgetall(key);
    else if (type === 'zset') out[key] = await h.client.zrange(key, '0', '-1', 'WITHSCORES');
    else if (type === 'string') out[key] = await h.client.get(key);
    else out[key] = type;
  }
  return out;
}

const KEY_NAMES = ['runs', 'index', 'bySource', 'lease', 'meta', 'registry', 'expired'] as const;

describe('a failing write writes nothing', () => {
  for (const name of KEY_NAMES) {
    it(`with the ${name} key of the wrong type, a write that fails changes nothing`, async () => {
      const store = h.store({ leaseMs: 60_000 });
      await store.enqueue(scope, { id: 'queued', source: 'api' });
      await store.enqueue(scope, { id: 'running', source: 'api' });
      await store.start(scope, 'running');
      await store.enqueue(scope, { id: 'lapsing', source: 'api', leaseMs: 100 });
      await sleep(150);
      const keys = scopeKeys(store.prefix, parseScope(scope));
      const key = keys[name];
      // replace the key by a string (the registry is shared by the slot: keep its entries aside)
      const saved = await h.client.dumpBuffer(key);
      await h.client.del(key);
      await h.client.set(key, 'intruder');
      const before = await snapshot(store);
      const writes: [string, () => Promise<unknown>][] = [
        ['enqueue', () => store.enqueue(scope, { id: 'new', source: 'api', data: { a: 1 } })],
        ['enqueue without source', () => store.enqueue(scope, { id: 'new2' })],
        ['start', () => store.start(scope, 'queued')],
        ['progress', () => store.progress(scope, 'running', { caption: 'x' })],
        ['heartbeat', () => store.heartbeat(scope, 'running')],
        ['end', () => store.end(scope, 'queued')],
        ['sweep', () => store.sweep()],
      ];
      let failures = 0;
      let baseline = before;
      for (const [label, write] of writes) {
        try {
          await write();
          // a write that never touches the corrupted key may succeed; it becomes the new baseline
          baseline = await snapshot(store);
        } catch (error) {
          failures++;
          expect(error, label).toBeInstanceOf(ActiveRunsError);
          expect(await snapshot(store), `${label} with ${name} corrupted`).toEqual(baseline);
        }
      }
      expect(failures, `writes that failed with ${name} corrupted`).toBeGreaterThan(0);
      await h.client.del(key);
      if (saved) await h.client.restore(key, 0, saved);
    });
  }
});
