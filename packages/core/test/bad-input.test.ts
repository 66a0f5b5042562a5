import { uniquePrefix } from '@active-runs/test-utils';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ActiveRunStore } from '../src/index.js';
import { createActiveRunStore } from '../src/index.js';
import { MAX_DATA_DEPTH } from '../src/payload.js';
import { expectFailure } from './expect-failure.js';
import { useStoreHarness } from './harness.js';
import { loose } from './loose-store.js';

/*
 * Bad input in any shape is a typed INVALID_ARGUMENT or PAYLOAD_TOO_LARGE before any Redis call.
 * "Before any Redis call" is checked with a client that connects lazily: it is still in 'wait'
 * (never connected, nothing sent) after every bad call. The harness's Redis is only read from.
 */

const h = useStoreHarness();
const scope = { workspaceId: 'w1', projectId: 'p1' };

/** A store on a lazy client: if any call reached Redis, the client would have connected. */
function lazyStore(options: { dataSchema?: z.ZodType } = {}) {
  const client = new Redis(h.url, { lazyConnect: true, commandTimeout: 5_000 });
  const store = createActiveRunStore({ redis: client, prefix: uniquePrefix('bad'), ...options });
  lazy.push({ client, store });
  return { client, store: loose(store) };
}
const lazy: { client: Redis; store: ActiveRunStore }[] = [];
afterAll(async () => {
  for (const { client, store } of lazy) {
    await store.close();
    client.disconnect();
  }
});

/** An object whose every property read throws. */
const throwingGetters = () =>
  new Proxy(
    {},
    {
      get() {
        throw new Error('boom from a getter');
      },
      ownKeys() {
        throw new Error('boom from ownKeys');
      },
    },
  );
const revoked = () => {
  const { proxy, revoke } = Proxy.revocable({ workspaceId: 'w', projectId: 'p' }, {});
  revoke();
  return proxy;
};
const withGetter = (base: object, key: string) =>
  Object.defineProperty({ ...base }, key, {
    enumerable: true,
    get() {
      throw new TypeError(`${key} is not readable`);
    },
  });

describe('bad input in any shape: typed, and before any Redis call', () => {
  it('scopes with throwing getters, throwing proxies or revoked proxies', async () => {
    const { client, store } = lazyStore();
    const bad = [
      withGetter(scope, 'workspaceId'),
      withGetter(scope, 'projectId'),
      throwingGetters(),
      revoked(),
    ];
    for (const badScope of bad) {
      const calls: (() => Promise<unknown>)[] = [
        () => store.enqueue(badScope, { id: 'a' }),
        () => store.start(badScope, 'a'),
        () => store.progress(badScope, 'a', { caption: 'x' }),
        () => store.heartbeat(badScope, 'a'),
        () => store.end(badScope, 'a'),
        () => store.get(badScope, 'a'),
        () => store.list(badScope),
        () => store.counts(badScope),
        () => store.stats(badScope),
        () => store.subscribe(badScope, () => {}),
      ];
      for (const call of calls) {
        const error = await expectFailure(call, 'INVALID_ARGUMENT', 'scope');
        expect(error.details?.field).toMatch(/^scope/);
      }
    }
    expect(client.status).toBe('wait');
  });

  it('inputs and options with throwing getters or proxies', async () => {
    const { client, store } = lazyStore();
    const calls: [string, () => Promise<unknown>][] = [
      ['input', () => store.enqueue(scope, withGetter({ id: 'a' }, 'caption'))],
      ['input', () => store.enqueue(scope, throwingGetters())],
      ['input', () => store.enqueue(scope, revoked())],
      ['options', () => store.start(scope, 'a', withGetter({}, 'startedAt'))],
      ['input', () => store.progress(scope, 'a', withGetter({}, 'data'))],
      ['options', () => store.heartbeat(scope, 'a', throwingGetters())],
      ['options', () => store.list(scope, withGetter({ limit: 5 }, 'cursor'))],
      ['options', () => store.list(scope, revoked())],
      ['options', () => store.stats(scope, throwingGetters())],
    ];
    for (const [field, call] of calls) {
      const error = await expectFailure(call, 'INVALID_ARGUMENT', field);
      expect(String(error.details?.field)).toMatch(new RegExp(`^${field}`));
    }
    expect(client.status).toBe('wait');
  });

  it('data that JSON would silently drop or change names the offending path', async () => {
    const { client, store } = lazyStore();
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < MAX_DATA_DEPTH + 5; i++) {
      const next = {};
      at.a = next;
      at = next;
    }
    const cyclic: unknown[] = [1];
    cyclic.push({ back: cyclic });
    const cases: [label: string, data: unknown, field: string, says: string][] = [
      ['a function inside', { model: 'm', callback: () => 1 }, 'data.callback', 'function'],
      ['a symbol inside', { tags: ['a', Symbol('b')] }, 'data.tags[1]', 'symbol'],
      ['NaN', { score: Number.NaN }, 'data.score', 'NaN'],
      ['Infinity', [Number.POSITIVE_INFINITY], 'data[0]', 'Infinity'],
      ['a Map', { byId: new Map([['a', 1]]) }, 'data.byId', 'Map'],
      ['a Set', new Set([1]), 'data', 'Set'],
      ['undefined in an array', [1, undefined, 3], 'data[1]', 'undefined'],
      ['a BigInt deep inside', { a: { b: [{ c: 1n }] } }, 'data.a.b[0].c', 'BigInt'],
      ['a cycle through an array', cyclic, 'data[1].back', 'circular'],
      ['nesting deeper than the limit', deep, 'data.a', `deeper than ${MAX_DATA_DEPTH}`],
    ];
    for (const [label, data, field, says] of cases) {
      for (const call of [
        () => store.enqueue(scope, { id: 'a', data }),
        () => store.progress(scope, 'a', { data }),
      ]) {
        const error = await expectFailure(call, 'INVALID_ARGUMENT', says, 'JSON');
        expect(String(error.details?.field), label).toContain(field);
      }
    }
    expect(client.status).toBe('wait');
  });

  it('data with throwing getters, proxies or a throwing toJSON', async () => {
    for (const dataSchema of [undefined, z.object({ a: z.number() }).passthrough()]) {
      const { client, store } = lazyStore(dataSchema ? { dataSchema } : {});
      const throwingJson = {
        a: 1,
        b: {
          toJSON: () => {
            throw new Error('no JSON for you');
          },
        },
      };
      for (const data of [withGetter({ a: 1 }, 'b'), throwingGetters(), revoked(), throwingJson]) {
        const error = await expectFailure(
          () => store.enqueue(scope, { id: 'a', data }),
          'INVALID_ARGUMENT',
          'data',
        );
        expect(String(error.details?.field)).toMatch(/^data/);
        expect(error.cause).toBeInstanceOf(Error);
      }
      expect(client.status).toBe('wait');
    }
  });

  it('undefined object fields are left out, as JSON does (an optional field), and data round-trips', async () => {
    const store = h.store();
    const run = await store.enqueue(scope, {
      id: 'ok',
      data: { model: 'm', note: undefined, at: new Date(0), list: [1, null, 'x'] },
    });
    expect(run.data).toEqual({ model: 'm', at: '1970-01-01T00:00:00.000Z', list: [1, null, 'x'] });
  });

  it('a payload far over the limit is refused without serializing it (100 MiB of data, huge captions)', async () => {
    for (const dataSchema of [undefined, z.array(z.number())]) {
      const { client, store } = lazyStore(dataSchema ? { dataSchema } : {});
      // 100 MiB of JSON: a string, then 5 million numbers
      const bigString = 'x'.repeat(100 * 1024 * 1024);
      const bigArray = new Array<number>(5_000_000).fill(7);
      for (const data of [bigString, bigArray]) {
        if (dataSchema && typeof data === 'string') continue;
        const t0 = performance.now();
        const error = await expectFailure(
          () => store.enqueue(scope, { id: 'a', data }),
          'PAYLOAD_TOO_LARGE',
          'maxDataBytes (16384)',
        );
        const refusedMs = performance.now() - t0;
        const t1 = performance.now();
        JSON.stringify(data);
        const stringifyMs = performance.now() - t1;
        console.log(
          `[bad-input] ${typeof data === 'string' ? '100 MiB string' : '5M numbers'}${dataSchema ? ' (dataSchema)' : ''}: refused in ${refusedMs.toFixed(2)} ms; JSON.stringify alone takes ${stringifyMs.toFixed(0)} ms`,
        );
        expect(error.details).toMatchObject({ field: 'data', limit: 16_384 });
        // measured in the same run: refusing costs a small fraction of serializing
        expect(refusedMs * 10).toBeLessThan(stringifyMs);
      }
      const caption = 'y'.repeat(50 * 1024 * 1024);
      await expectFailure(
        () => store.enqueue(scope, { id: 'a', caption }),
        'PAYLOAD_TOO_LARGE',
        'maxCaptionLength (500)',
      );
      await expectFailure(
        () => store.progress(scope, 'a', { caption }),
        'PAYLOAD_TOO_LARGE',
        'caption',
      );
      await expectFailure(() => store.get(scope, 'z'.repeat(10_000_000)), 'INVALID_ARGUMENT', 'id');
      await expectFailure(
        () => store.list(scope, { cursor: 'c'.repeat(10_000_000) }),
        'INVALID_ARGUMENT',
        'cursor',
      );
      expect(client.status).toBe('wait');
    }
  });
});
