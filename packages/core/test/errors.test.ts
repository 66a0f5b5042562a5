import { connect, keysUnder, startRedisServer, uniquePrefix } from '@active-runs/test-utils';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ActiveRunStore, ActiveRunsErrorCode } from '../src/index.js';
import {
  ACTIVE_RUNS_ERROR_CODES,
  ActiveRunsError,
  createActiveRunStore,
  HTTP_STATUS_BY_CODE,
  isActiveRunsError,
  scopeKeys,
} from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { expectFailure } from './expect-failure.js';
import { useStoreHarness } from './harness.js';
import { loose } from './loose-store.js';

const h = useStoreHarness();
const scope = { workspaceId: 'w1', projectId: 'p1' };
const otherScope = { workspaceId: 'w2', projectId: 'p2' };
const THIRTY_DAYS = 30 * 24 * 3_600_000;

async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(predicate()).toBe(true);
}

/** Every key under the prefix with its type, TTL and full content (to prove nothing changed). */
async function snapshot(prefix: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of await keysUnder(h.client, prefix)) {
    const type = await h.client.type(key);
    let content: unknown;
    if (type === 'hash') content = await h.client.hgetall(key);
    else if (type === 'zset') content = await h.client.zrange(key, '0', '-1', 'WITHSCORES');
    else if (type === 'string') content = await h.client.get(key);
    else content = `<${type}>`;
    out[key] = { type, content, expireAt: await h.client.pexpiretime(key) };
  }
  return out;
}

/**
 * A store whose prefix holds one queued and one running run in `scope`, and a checker that every
 * failing call leaves Redis exactly as it was.
 */
async function storeWithState(options: Parameters<typeof h.store>[0] = {}) {
  const store = h.store(options);
  await store.enqueue(scope, { id: 'queued-run', source: 'api', caption: 'c', data: { n: 1 } });
  await store.enqueue(scope, { id: 'running-run', source: 'web' });
  await store.start(scope, 'running-run');
  const before = await snapshot(store.prefix);
  expect(Object.keys(before).length).toBeGreaterThan(0);
  return {
    store,
    s: loose(store),
    /** Asserts the call fails with code/message and Redis is unchanged afterwards. */
    async fails(call: () => unknown, code: ActiveRunsErrorCode, ...parts: (string | RegExp)[]) {
      const error = await expectFailure(call, code, ...parts);
      expect(await snapshot(store.prefix)).toEqual(before);
      return error;
    },
  };
}

// ---------------------------------------------------------------------------------------------

describe('ActiveRunsError and isActiveRunsError', () => {
  it('lists every code and exposes name, code, message, cause and details', () => {
    expect([...ACTIVE_RUNS_ERROR_CODES].sort()).toEqual(
      [
        'CONFLICT',
        'INTERNAL',
        'INVALID_ARGUMENT',
        'NOT_FOUND',
        'PAYLOAD_TOO_LARGE',
        'REDIS_UNAVAILABLE',
        'TIMEOUT',
      ].sort(),
    );
    const cause = new Error('root');
    const error = new ActiveRunsError('CONFLICT', 'boom', { cause, details: { field: 'x' } });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ActiveRunsError');
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toBe('boom');
    expect(error.cause).toBe(cause);
    expect(error.details).toEqual({ field: 'x' });
    expect(error.stack).toContain('ActiveRunsError');
    expect(String(error)).toBe('ActiveRunsError: boom');
    expect('cause' in new ActiveRunsError('INTERNAL', 'no cause')).toBe(false);
  });

  it('isActiveRunsError narrows by class and code, and rejects look-alikes', () => {
    const error = new ActiveRunsError('NOT_FOUND', 'gone');
    expect(isActiveRunsError(error)).toBe(true);
    expect(isActiveRunsError(error, 'NOT_FOUND')).toBe(true);
    for (const other of ACTIVE_RUNS_ERROR_CODES.filter((c) => c !== 'NOT_FOUND')) {
      expect(isActiveRunsError(error, other)).toBe(false);
    }
    const lookAlike = Object.assign(new Error('gone'), {
      name: 'ActiveRunsError',
      code: 'NOT_FOUND',
    });
    for (const value of [lookAlike, new Error('x'), { code: 'NOT_FOUND' }, null, undefined, 'x']) {
      expect(isActiveRunsError(value)).toBe(false);
      expect(isActiveRunsError(value, 'NOT_FOUND')).toBe(false);
    }
  });

  it('store methods never throw synchronously: bad input is a rejected promise', async () => {
    const s = loose(h.store());
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = s.get(null, 'x');
    }).not.toThrow();
    await expectFailure(() => promise, 'INVALID_ARGUMENT', 'scope');
  });
});

// ---------------------------------------------------------------------------------------------

/** Bad scope parts / ids, with what the message must say about them. */
const BAD_TOKENS: [label: string, value: unknown, reason: string | RegExp][] = [
  ['null', null, 'got null'],
  ['undefined', undefined, 'got undefined'],
  ['a boolean', true, 'got boolean'],
  ['an object', { id: 1 }, 'got object'],
  ['an array', ['a'], 'got object'],
  ['an empty string', '', 'is empty'],
  ['a negative integer', -1, 'non-negative safe integer'],
  ['a float', 1.5, 'non-negative safe integer'],
  ['an unsafe integer', 2 ** 53, 'non-negative safe integer'],
  ['NaN', Number.NaN, 'non-negative safe integer'],
  ['Infinity', Number.POSITIVE_INFINITY, 'non-negative safe integer'],
  ['"{"', 'a{b', '"{" or "}"'],
  ['"}"', 'a}b', '"{" or "}"'],
  ['a whole hash tag', '{x}', '"{" or "}"'],
  ['":"', 'a:b', '":"'],
  ['a space', 'a b', 'whitespace'],
  ['a newline', 'a\nb', 'whitespace or a newline'],
  ['a tab', 'a\tb', 'whitespace'],
  ['a carriage return', 'a\rb', 'whitespace'],
  ['a non-breaking space', 'a\u00a0b', /whitespace|printable ASCII/],
  ['non-ASCII letters', 'žluť', 'printable ASCII'],
  ['an emoji', 'run-🐎', 'printable ASCII'],
  ['a NUL byte', 'a\u0000b', 'printable ASCII'],
  ['DEL', 'a\u007fb', 'printable ASCII'],
  ['129 characters', 'a'.repeat(129), 'longer than 128'],
];

describe('INVALID_ARGUMENT: scopes', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'w1:p1'],
    ['a number', 42],
    ['a boolean', true],
  ])('a scope that is %s is refused by every operation', async (_label, bad) => {
    const { s, fails } = await storeWithState();
    const calls: (() => Promise<unknown>)[] = [
      () => s.enqueue(bad, { id: 'x' }),
      () => s.start(bad, 'queued-run'),
      () => s.progress(bad, 'running-run', { caption: 'x' }),
      () => s.heartbeat(bad, 'running-run'),
      () => s.end(bad, 'running-run'),
      () => s.get(bad, 'running-run'),
      () => s.list(bad),
      () => s.counts(bad),
      () => s.stats(bad),
    ];
    for (const call of calls) {
      await fails(call, 'INVALID_ARGUMENT', 'scope must be an object { workspaceId, projectId }');
    }
  });

  it('a scope missing a part names the missing part', async () => {
    const { s, fails } = await storeWithState();
    await fails(
      () => s.enqueue({ workspaceId: 'w1' }, { id: 'x' }),
      'INVALID_ARGUMENT',
      'scope.projectId',
      'got undefined',
    );
    await fails(
      () => s.enqueue({ projectId: 'p1' }, { id: 'x' }),
      'INVALID_ARGUMENT',
      'scope.workspaceId',
      'got undefined',
    );
    await fails(() => s.list({}), 'INVALID_ARGUMENT', 'scope.workspaceId');
    await fails(() => s.get([], 'x'), 'INVALID_ARGUMENT', 'scope.workspaceId');
    await fails(
      () => s.enqueue({ workspaceID: 'w1', projectId: 'p1' }, { id: 'x' }),
      'INVALID_ARGUMENT',
      'scope.workspaceId',
    );
  });

  it.each(BAD_TOKENS)(
    'a scope part that is %s is refused, naming the part',
    async (_l, bad, reason) => {
      const { s, fails } = await storeWithState();
      const ws = { workspaceId: bad, projectId: 'p1' };
      const ps = { workspaceId: 'w1', projectId: bad };
      const calls: [() => Promise<unknown>, string][] = [
        [() => s.enqueue(ws, { id: 'x' }), 'scope.workspaceId'],
        [() => s.enqueue(ps, { id: 'x' }), 'scope.projectId'],
        [() => s.start(ws, 'queued-run'), 'scope.workspaceId'],
        [() => s.progress(ps, 'running-run', { caption: 'x' }), 'scope.projectId'],
        [() => s.heartbeat(ws, 'running-run'), 'scope.workspaceId'],
        [() => s.end(ps, 'running-run'), 'scope.projectId'],
        [() => s.get(ws, 'running-run'), 'scope.workspaceId'],
        [() => s.list(ps), 'scope.projectId'],
        [() => s.counts(ws), 'scope.workspaceId'],
        [() => s.stats(ps), 'scope.projectId'],
      ];
      for (const [call, field] of calls) await fails(call, 'INVALID_ARGUMENT', field, reason);
    },
  );

  it('accepts the boundaries: 128 characters, every printable ASCII but space { } :, 0, MAX_SAFE_INTEGER', async () => {
    const store = h.store();
    const printable = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) =>
      String.fromCharCode(0x21 + i),
    )
      .filter((c) => !'{}:'.includes(c))
      .join('');
    const scopes = [
      { workspaceId: 'w'.repeat(128), projectId: 'p'.repeat(128) },
      { workspaceId: printable, projectId: printable },
      { workspaceId: 0, projectId: Number.MAX_SAFE_INTEGER },
    ];
    for (const good of scopes) {
      await store.enqueue(good, { id: 'r'.repeat(128) });
      await store.enqueue(good, { id: printable });
      expect((await store.counts(good)).total).toBe(2);
      expect(await store.get(good, printable)).toMatchObject({ id: printable });
    }
  });
});

describe('INVALID_ARGUMENT: run ids', () => {
  it.each(BAD_TOKENS)('an id that is %s is refused by every operation', async (_l, bad, reason) => {
    const { s, fails } = await storeWithState();
    const calls: (() => Promise<unknown>)[] = [
      () => s.enqueue(scope, { id: bad }),
      () => s.start(scope, bad),
      () => s.progress(scope, bad, { caption: 'x' }),
      () => s.heartbeat(scope, bad),
      () => s.end(scope, bad),
      () => s.get(scope, bad),
    ];
    for (const call of calls) await fails(call, 'INVALID_ARGUMENT', /\bid\b/, reason);
  });

  it('an enqueue input without an id is refused', async () => {
    const { s, fails } = await storeWithState();
    await fails(
      () => s.enqueue(scope, { source: 'api' }),
      'INVALID_ARGUMENT',
      /\bid\b/,
      'undefined',
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('INVALID_ARGUMENT: enqueue input', () => {
  const cases: [label: string, input: Record<string, unknown>, field: string][] = [
    ['queuedAt as a string', { queuedAt: '1700000000000' }, 'input.queuedAt'],
    ['queuedAt negative', { queuedAt: -1 }, 'input.queuedAt'],
    ['queuedAt a float', { queuedAt: 1700000000000.5 }, 'input.queuedAt'],
    ['queuedAt = 2^44', { queuedAt: 2 ** 44 }, 'input.queuedAt'],
    ['queuedAt > 2^44', { queuedAt: 2 ** 50 }, 'input.queuedAt'],
    ['queuedAt NaN', { queuedAt: Number.NaN }, 'input.queuedAt'],
    ['queuedAt Infinity', { queuedAt: Number.POSITIVE_INFINITY }, 'input.queuedAt'],
    ['queuedAt a Date', { queuedAt: new Date() }, 'input.queuedAt'],
    ['queuedAt null', { queuedAt: null }, 'input.queuedAt'],
    ['leaseMs 0', { leaseMs: 0 }, 'input.leaseMs'],
    ['leaseMs 50', { leaseMs: 50 }, 'input.leaseMs'],
    ['leaseMs 99', { leaseMs: 99 }, 'input.leaseMs'],
    ['leaseMs negative', { leaseMs: -1000 }, 'input.leaseMs'],
    ['leaseMs beyond 30 days', { leaseMs: THIRTY_DAYS + 1 }, 'input.leaseMs'],
    ['leaseMs a float', { leaseMs: 1000.5 }, 'input.leaseMs'],
    ['leaseMs a string', { leaseMs: '60000' }, 'input.leaseMs'],
    ['leaseMs Infinity', { leaseMs: Number.POSITIVE_INFINITY }, 'input.leaseMs'],
    ['source with a space', { source: 'my api' }, 'input.source'],
    ['source of 65 characters', { source: 's'.repeat(65) }, 'input.source'],
    ['source empty', { source: '' }, 'input.source'],
    ['source starting with "-"', { source: '-api' }, 'input.source'],
    ['source with ":"', { source: 'a:b' }, 'input.source'],
    ['source with braces', { source: '{api}' }, 'input.source'],
    ['source with a newline', { source: 'api\n' }, 'input.source'],
    ['source non-ASCII', { source: 'apí' }, 'input.source'],
    ['source a number', { source: 5 }, 'input.source'],
    ['caption a number', { caption: 5 }, 'input.caption'],
    ['caption an object', { caption: { text: 'x' } }, 'input.caption'],
    ['unknown key status', { status: 'running' }, 'status'],
    ['unknown key startedAt', { startedAt: 1 }, 'startedAt'],
    ['unknown key leaseExpiresAt', { leaseExpiresAt: 1 }, 'leaseExpiresAt'],
    ['unknown key (typo)', { lease: 1000 }, 'lease'],
  ];
  it.each(cases)('%s is refused, naming the field', async (_label, extra, field) => {
    const { s, fails } = await storeWithState();
    // a new run in the same scope, and one in a scope that does not exist yet
    await fails(() => s.enqueue(scope, { id: 'new-run', ...extra }), 'INVALID_ARGUMENT', field);
    await fails(
      () => s.enqueue(otherScope, { id: 'new-run', ...extra }),
      'INVALID_ARGUMENT',
      field,
    );
    // re-sending an existing run with a bad field fails the same way (not CONFLICT, not ok)
    await fails(() => s.enqueue(scope, { id: 'queued-run', ...extra }), 'INVALID_ARGUMENT', field);
  });

  it('status cannot be written by the app: the unknown key is named', async () => {
    const { s, fails } = await storeWithState();
    const error = await fails(
      () => s.enqueue(scope, { id: 'x', status: 'running' }),
      'INVALID_ARGUMENT',
      'input',
      'status',
    );
    expect(error.details).toMatchObject({ field: 'input' });
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'run-1'],
    ['an array', ['run-1']],
  ])('an input that is %s is refused', async (_label, input) => {
    const { s, fails } = await storeWithState();
    await fails(() => s.enqueue(scope, input), 'INVALID_ARGUMENT', 'input');
  });

  it('messages say what a valid value looks like', async () => {
    const { s, fails } = await storeWithState();
    await fails(
      () => s.enqueue(scope, { id: 'x', leaseMs: 50 }),
      'INVALID_ARGUMENT',
      'at least 100',
    );
    await fails(
      () => s.enqueue(scope, { id: 'x', leaseMs: THIRTY_DAYS + 1 }),
      'INVALID_ARGUMENT',
      '30 days',
    );
    await fails(
      () => s.enqueue(scope, { id: 'x', queuedAt: 2 ** 44 }),
      'INVALID_ARGUMENT',
      String(2 ** 44),
    );
    await fails(
      () => s.enqueue(scope, { id: 'x', source: 's'.repeat(65) }),
      'INVALID_ARGUMENT',
      '1-64',
    );
  });

  it('error details name the field and carry the zod error as cause', async () => {
    const { s, fails } = await storeWithState();
    const error = await fails(
      () => s.enqueue(scope, { id: 'x', queuedAt: 'soon' }),
      'INVALID_ARGUMENT',
    );
    expect(error.details).toMatchObject({ field: 'input.queuedAt' });
    expect(error.cause).toBeInstanceOf(Error);
    expect((error.cause as Error).name).toBe('ZodError');
  });

  it('accepts the boundaries of every field', async () => {
    const store = h.store();
    const a = await store.enqueue(scope, {
      id: 'a',
      queuedAt: 0,
      leaseMs: 100,
      source: 's'.repeat(64),
    });
    expect(a).toMatchObject({ queuedAt: 0, source: 's'.repeat(64) });
    const b = await store.enqueue(scope, { id: 'b', queuedAt: 2 ** 44 - 1, leaseMs: THIRTY_DAYS });
    expect(b.queuedAt).toBe(2 ** 44 - 1);
    const c = await store.enqueue(scope, { id: 'c', source: 'A.b_c-9', caption: null, data: null });
    expect(c).toMatchObject({ source: 'A.b_c-9', caption: null, data: null });
    expect((await store.get(scope, 'b'))?.queuedAt).toBe(2 ** 44 - 1);
  });
});

describe('INVALID_ARGUMENT: start, progress, heartbeat options', () => {
  const leaseCases: [string, unknown][] = [
    ['0', 0],
    ['50', 50],
    ['beyond 30 days', THIRTY_DAYS + 1],
    ['a float', 500.5],
    ['a string', '1000'],
    ['negative', -100],
  ];

  it.each(leaseCases)(
    'leaseMs %s is refused by start, progress and heartbeat',
    async (_l, leaseMs) => {
      const { s, fails } = await storeWithState();
      await fails(
        () => s.start(scope, 'queued-run', { leaseMs }),
        'INVALID_ARGUMENT',
        'options.leaseMs',
      );
      await fails(
        () => s.progress(scope, 'running-run', { caption: 'x', leaseMs }),
        'INVALID_ARGUMENT',
        'input.leaseMs',
      );
      await fails(
        () => s.heartbeat(scope, 'running-run', { leaseMs }),
        'INVALID_ARGUMENT',
        'options.leaseMs',
      );
    },
  );

  it.each([
    ['a string', '1700000000000'],
    ['negative', -1],
    ['a float', 1.5],
    ['2^44', 2 ** 44],
    ['NaN', Number.NaN],
  ])('startedAt %s is refused', async (_l, startedAt) => {
    const { s, fails } = await storeWithState();
    await fails(
      () => s.start(scope, 'queued-run', { startedAt }),
      'INVALID_ARGUMENT',
      'options.startedAt',
    );
  });

  it('unknown keys and non-object options are refused', async () => {
    const { s, fails } = await storeWithState();
    await fails(
      () => s.start(scope, 'queued-run', { status: 'running' }),
      'INVALID_ARGUMENT',
      'status',
    );
    await fails(
      () => s.start(scope, 'queued-run', { queuedAt: 5 }),
      'INVALID_ARGUMENT',
      'queuedAt',
    );
    await fails(() => s.start(scope, 'queued-run', null), 'INVALID_ARGUMENT', 'options');
    await fails(() => s.start(scope, 'queued-run', 'now'), 'INVALID_ARGUMENT', 'options');
    await fails(
      () => s.progress(scope, 'running-run', { status: 'queued' }),
      'INVALID_ARGUMENT',
      'status',
    );
    await fails(
      () => s.progress(scope, 'running-run', { source: 'other' }),
      'INVALID_ARGUMENT',
      'source',
    );
    await fails(() => s.progress(scope, 'running-run', { id: 'other' }), 'INVALID_ARGUMENT', 'id');
    await fails(
      () => s.progress(scope, 'running-run', { startedAt: 1 }),
      'INVALID_ARGUMENT',
      'startedAt',
    );
    await fails(() => s.progress(scope, 'running-run', undefined), 'INVALID_ARGUMENT', 'input');
    await fails(() => s.progress(scope, 'running-run', null), 'INVALID_ARGUMENT', 'input');
    await fails(
      () => s.progress(scope, 'running-run', { caption: 5 }),
      'INVALID_ARGUMENT',
      'input.caption',
    );
    await fails(
      () => s.progress(scope, 'running-run', { caption: ['x'] }),
      'INVALID_ARGUMENT',
      'input.caption',
    );
    await fails(
      () => s.heartbeat(scope, 'running-run', { caption: 'x' }),
      'INVALID_ARGUMENT',
      'caption',
    );
    await fails(() => s.heartbeat(scope, 'running-run', null), 'INVALID_ARGUMENT', 'options');
    await fails(() => s.heartbeat(scope, 'running-run', 1000), 'INVALID_ARGUMENT', 'options');
  });

  it('validation happens before the run is looked up (bad input on an unknown run is INVALID_ARGUMENT)', async () => {
    const { s, fails } = await storeWithState();
    await fails(
      () => s.start(scope, 'nope', { leaseMs: 1 }),
      'INVALID_ARGUMENT',
      'options.leaseMs',
    );
    await fails(
      () => s.progress(scope, 'nope', { caption: 1 }),
      'INVALID_ARGUMENT',
      'input.caption',
    );
    await fails(
      () => s.heartbeat(otherScope, 'nope', { leaseMs: 1 }),
      'INVALID_ARGUMENT',
      'options.leaseMs',
    );
  });
});

describe('INVALID_ARGUMENT: list options', () => {
  const cases: [label: string, options: unknown, field: string | RegExp][] = [
    ['limit 0', { limit: 0 }, 'options.limit'],
    ['limit 501', { limit: 501 }, 'options.limit'],
    ['limit a float', { limit: 2.5 }, 'options.limit'],
    ['limit a string', { limit: '10' }, 'options.limit'],
    ['limit negative', { limit: -5 }, 'options.limit'],
    ['pageSize 0', { page: 1, pageSize: 0 }, 'options.pageSize'],
    ['pageSize 501', { page: 1, pageSize: 501 }, 'options.pageSize'],
    ['page 0', { page: 0 }, 'options.page'],
    ['page negative', { page: -1 }, 'options.page'],
    ['page a float', { page: 1.5 }, 'options.page'],
    ['page a string', { page: '2' }, 'options.page'],
    ['status unknown', { status: 'done' }, 'options.status'],
    ['status upper case', { status: 'QUEUED' }, 'options.status'],
    ['status a number', { status: 1 }, 'options.status'],
    ['source with a space', { source: 'a b' }, 'options.source'],
    ['source of 65 characters', { source: 'x'.repeat(65) }, 'options.source'],
    ['cursor a number', { cursor: 5 }, 'options.cursor'],
    ['cursor garbage', { cursor: 'garbage' }, 'cursor is invalid'],
    ['cursor empty-ish', { cursor: '.' }, 'cursor is invalid'],
    ['both page and cursor', { page: 1, cursor: 'abc.def' }, /cursor.*page|page.*cursor/],
    ['limit and pageSize disagree', { limit: 10, pageSize: 20 }, 'limit and pageSize'],
    ['an offset deeper than 10000 rows', { page: 401, pageSize: 25 }, 'nextCursor'],
    ['unknown key offset', { offset: 10 }, 'offset'],
    ['unknown key sort', { sort: 'asc' }, 'sort'],
    ['options null', null, 'options'],
    ['options a string', 'running', 'options'],
  ];
  it.each(cases)('%s is refused', async (_label, options, field) => {
    const { s, fails } = await storeWithState();
    await fails(() => s.list(scope, options), 'INVALID_ARGUMENT', field);
  });

  it('a cursor edited, or used with another scope or filter, is refused and says what to do', async () => {
    const store = h.store();
    for (let i = 0; i < 3; i++) await store.enqueue(scope, { id: `r${i}`, source: 'api' });
    await store.enqueue(otherScope, { id: 'o' });
    const first = await store.list(scope, { limit: 1 });
    const cursor = first.nextCursor!;
    expect(cursor).toBeTruthy();
    const s = loose(store);
    const what = 'pass back the nextCursor of the previous page unchanged';
    await expectFailure(() => s.list(otherScope, { cursor, limit: 1 }), 'INVALID_ARGUMENT', what);
    await expectFailure(
      () => s.list(scope, { cursor, status: 'queued' }),
      'INVALID_ARGUMENT',
      what,
    );
    await expectFailure(() => s.list(scope, { cursor, source: 'api' }), 'INVALID_ARGUMENT', what);
    const flipped = `${cursor.slice(0, 3)}${cursor[3] === 'A' ? 'B' : 'A'}${cursor.slice(4)}`;
    await expectFailure(() => s.list(scope, { cursor: flipped }), 'INVALID_ARGUMENT', what);
    await expectFailure(() => s.list(scope, { cursor: `${cursor}x` }), 'INVALID_ARGUMENT', what);
    await expectFailure(
      () => s.list(scope, { cursor: 'x'.repeat(10_000) }),
      'INVALID_ARGUMENT',
      what,
    );
    // the untouched cursor still works
    expect((await store.list(scope, { cursor, limit: 1 })).items).toHaveLength(1);
  });
});

describe('INVALID_ARGUMENT: stats and startSweeper options', () => {
  it('stats options null is INVALID_ARGUMENT (not an INTERNAL "unexpected Redis error")', async () => {
    const { s, fails } = await storeWithState();
    await fails(() => s.stats(scope, null), 'INVALID_ARGUMENT', 'options');
  });

  it('stats options of the wrong type or with unknown keys are refused like every other options', async () => {
    const { s, fails } = await storeWithState();
    await fails(() => s.stats(scope, { memory: 'yes' }), 'INVALID_ARGUMENT', 'memory');
    await fails(() => s.stats(scope, { memroy: true }), 'INVALID_ARGUMENT', 'memroy');
  });

  it('startSweeper refuses a bad intervalMs synchronously and starts nothing', async () => {
    const s = loose(h.store());
    for (const options of [{ intervalMs: 5 }, { intervalMs: 1.5 }, { intervalMs: '1000' }]) {
      expect(() => s.startSweeper(options)).toThrow(ActiveRunsError);
      await expectFailure(() => s.startSweeper(options), 'INVALID_ARGUMENT', 'intervalMs');
    }
    // nothing was started: a valid start works (a running sweeper would make it CONFLICT)
    s.startSweeper({ intervalMs: 60_000 });
    await expectFailure(() => s.startSweeper({ intervalMs: 60_000 }), 'CONFLICT', 'stopSweeper');
    await s.stopSweeper();
  });

  it('startSweeper(null) is INVALID_ARGUMENT, not a TypeError', async () => {
    const s = loose(h.store());
    try {
      await expectFailure(() => s.startSweeper(null), 'INVALID_ARGUMENT', 'options');
    } finally {
      await s.stopSweeper();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('INVALID_ARGUMENT: data', () => {
  const circular: Record<string, unknown> = { a: 1 };
  circular.self = circular;
  const cases: [label: string, data: unknown, field: string][] = [
    ['a BigInt', 10n, 'data'],
    ['an object holding a BigInt', { tokens: 10n }, 'data.tokens'],
    ['a circular object', circular, 'data.self'],
    ['a function', () => 1, 'data'],
    ['a symbol', Symbol('x'), 'data'],
  ];
  it.each(cases)('%s is refused by enqueue and progress', async (_label, data, field) => {
    const { s, fails } = await storeWithState();
    for (const call of [
      () => s.enqueue(scope, { id: 'new-run', data }),
      () => s.progress(scope, 'running-run', { data }),
    ]) {
      const error = await fails(call, 'INVALID_ARGUMENT', field, 'JSON-serializable');
      expect(error.details).toMatchObject({ field });
    }
  });

  it('data that does not match the dataSchema names the field path', async () => {
    const store = h.store({
      dataSchema: z.object({ model: z.string(), usage: z.object({ tokens: z.number().int() }) }),
    });
    const s = loose(store);
    await store.enqueue(scope, { id: 'r', data: { model: 'm', usage: { tokens: 1 } } });
    const before = await snapshot(store.prefix);
    const error = await expectFailure(
      () => s.enqueue(scope, { id: 'x', data: { model: 'm', usage: { tokens: 'many' } } }),
      'INVALID_ARGUMENT',
      'data.usage.tokens',
    );
    expect(error.cause).toBeInstanceOf(Error);
    await expectFailure(
      () => s.progress(scope, 'r', { data: { model: 1, usage: { tokens: 1 } } }),
      'INVALID_ARGUMENT',
      'data.model',
    );
    expect(await snapshot(store.prefix)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------

describe('INVALID_ARGUMENT: createActiveRunStore options', () => {
  const create = (options: unknown) => () =>
    createActiveRunStore(options as Parameters<typeof createActiveRunStore>[0]);

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a URL string instead of an object', 'redis://127.0.0.1:6379'],
  ])('options that are %s are refused', async (_label, options) => {
    await expectFailure(create(options), 'INVALID_ARGUMENT', 'options');
  });

  it.each([
    ['missing', undefined],
    ['null', null],
    ['a number', 6379],
    ['an empty object', {}],
    ['a plain object with host/port', { host: '127.0.0.1', port: 6379 }],
    ['a URL without scheme', 'localhost:6379'],
    ['an http URL', 'http://127.0.0.1:6379'],
    ['an empty string', ''],
  ])('redis that is %s is refused with a message saying what it must be', async (_l, redis) => {
    await expectFailure(
      create({ redis }),
      'INVALID_ARGUMENT',
      'options.redis',
      /ioredis/,
      /redis:\/\//,
    );
  });

  const cases: [label: string, options: Record<string, unknown>, field: string][] = [
    ['prefix with braces', { prefix: 'app{1}' }, 'options.prefix'],
    ['prefix with "{"', { prefix: 'app{' }, 'options.prefix'],
    ['prefix with a space', { prefix: 'my app' }, 'options.prefix'],
    ['prefix with a newline', { prefix: 'app\n' }, 'options.prefix'],
    ['prefix empty', { prefix: '' }, 'options.prefix'],
    ['prefix of 65 characters', { prefix: 'p'.repeat(65) }, 'options.prefix'],
    ['prefix starting with ":"', { prefix: ':app' }, 'options.prefix'],
    ['prefix a number', { prefix: 5 }, 'options.prefix'],
    ['leaseMs 0', { leaseMs: 0 }, 'options.leaseMs'],
    ['leaseMs 50', { leaseMs: 50 }, 'options.leaseMs'],
    ['leaseMs beyond 30 days', { leaseMs: THIRTY_DAYS + 1 }, 'options.leaseMs'],
    ['leaseMs a float', { leaseMs: 1000.5 }, 'options.leaseMs'],
    ['leaseMs a string', { leaseMs: '3h' }, 'options.leaseMs'],
    ['maxCaptionLength 0', { maxCaptionLength: 0 }, 'options.maxCaptionLength'],
    ['maxDataBytes 1', { maxDataBytes: 1 }, 'options.maxDataBytes'],
    ['maxDataBytes a string', { maxDataBytes: '16kb' }, 'options.maxDataBytes'],
    ['commandTimeoutMs 0', { commandTimeoutMs: 0 }, 'options.commandTimeoutMs'],
    ['commandTimeoutMs a float', { commandTimeoutMs: 1.5 }, 'options.commandTimeoutMs'],
    ['closeClient a string', { closeClient: 'yes' }, 'options.closeClient'],
    ['cursorSecret too short', { cursorSecret: 'short' }, 'options.cursorSecret'],
    ['publishEvents a string', { publishEvents: 'yes' }, 'options.publishEvents'],
    ['dataSchema not a schema', { dataSchema: { type: 'object' } }, 'options.dataSchema'],
    ['onExpired not a function', { onExpired: 'mark-failed' }, 'options.onExpired'],
    ['logger not an object', { logger: 'info' }, 'options.logger'],
    ['warnScopeSize 0', { warnScopeSize: 0 }, 'options.warnScopeSize'],
    ['sweeper.lockMs too small', { sweeper: { lockMs: 5 } }, 'options.sweeper.lockMs'],
    ['sweeper.batchSize 0', { sweeper: { batchSize: 0 } }, 'options.sweeper.batchSize'],
    ['sweeper unknown key', { sweeper: { intervalMs: 5 } }, 'intervalMs'],
    [
      'durableWrites.replicas 0',
      { durableWrites: { replicas: 0 } },
      'options.durableWrites.replicas',
    ],
    ['durableWrites without replicas', { durableWrites: {} }, 'options.durableWrites.replicas'],
  ];
  it.each(cases)('%s is refused, naming the field', async (_label, extra, field) => {
    // with a client and with a URL: a URL store must not create (and leak) a client either
    await expectFailure(create({ redis: h.client, ...extra }), 'INVALID_ARGUMENT', field);
    await expectFailure(create({ redis: h.url, ...extra }), 'INVALID_ARGUMENT', field);
  });

  it('a bad prefix message says which characters are allowed', async () => {
    await expectFailure(
      create({ redis: h.client, prefix: 'a{b}' }),
      'INVALID_ARGUMENT',
      'no braces',
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('PAYLOAD_TOO_LARGE', () => {
  it('caption over the default 500 characters, by enqueue and progress', async () => {
    const { s, fails } = await storeWithState();
    const error = await fails(
      () => s.enqueue(scope, { id: 'long', caption: 'x'.repeat(501) }),
      'PAYLOAD_TOO_LARGE',
      'caption',
      '501',
      '500',
    );
    expect(error.details).toMatchObject({ field: 'caption', limit: 500 });
    await fails(
      () => s.progress(scope, 'running-run', { caption: 'x'.repeat(501) }),
      'PAYLOAD_TOO_LARGE',
      'caption',
    );
    // the boundary is accepted
    await s.progress(scope, 'running-run', { caption: 'x'.repeat(500) });
  });

  it('caption over a configured maxCaptionLength', async () => {
    const { s, fails } = await storeWithState({ maxCaptionLength: 5 });
    await fails(
      () => s.enqueue(scope, { id: 'n', caption: 'abcdef' }),
      'PAYLOAD_TOO_LARGE',
      'maxCaptionLength (5)',
    );
    await expect(s.enqueue(scope, { id: 'n', caption: 'abcde' })).resolves.toMatchObject({
      caption: 'abcde',
    });
  });

  it('data over the default 16384 bytes of JSON', async () => {
    const { s, fails } = await storeWithState();
    // JSON of a string is the string plus two quotes
    const error = await fails(
      () => s.enqueue(scope, { id: 'big', data: 'x'.repeat(16_383) }),
      'PAYLOAD_TOO_LARGE',
      'data',
      '16385 bytes',
      'maxDataBytes (16384)',
    );
    expect(error.details).toMatchObject({ field: 'data', limit: 16_384, bytes: 16_385 });
    await fails(
      () => s.progress(scope, 'running-run', { data: 'x'.repeat(20_000) }),
      'PAYLOAD_TOO_LARGE',
      'data',
    );
    await expect(s.enqueue(scope, { id: 'big', data: 'x'.repeat(16_382) })).resolves.toMatchObject({
      id: 'big',
    });
  });

  it('multi-byte UTF-8 data is counted in bytes, not characters', async () => {
    const { s, fails } = await storeWithState({ maxDataBytes: 20 });
    // 10 x 'é' is 12 characters of JSON but 22 bytes
    await fails(
      () => s.enqueue(scope, { id: 'e', data: 'é'.repeat(10) }),
      'PAYLOAD_TOO_LARGE',
      '22 bytes',
    );
    // 5 emoji: 4 bytes each (2 UTF-16 units) -> 22 bytes
    await fails(
      () => s.enqueue(scope, { id: 'e', data: '🐎'.repeat(5) }),
      'PAYLOAD_TOO_LARGE',
      '22 bytes',
    );
    await fails(
      () => s.progress(scope, 'running-run', { data: { k: 'žžžžžžžž' } }),
      'PAYLOAD_TOO_LARGE',
      'bytes',
    );
    // '"' + 9 x 'é' (2 bytes each) + '"' = 20 bytes: fits
    await expect(s.enqueue(scope, { id: 'fits', data: 'é'.repeat(9) })).resolves.toMatchObject({
      data: 'é'.repeat(9),
    });
  });

  it('a too-large progress leaves the run exactly as it was', async () => {
    const { store, s, fails } = await storeWithState({ maxCaptionLength: 3, maxDataBytes: 10 });
    const before = await store.get(scope, 'queued-run');
    await fails(
      () => s.progress(scope, 'queued-run', { caption: 'abcd', data: 1 }),
      'PAYLOAD_TOO_LARGE',
    );
    await fails(
      () => s.progress(scope, 'queued-run', { caption: 'ab', data: 'x'.repeat(20) }),
      'PAYLOAD_TOO_LARGE',
    );
    expect(await store.get(scope, 'queued-run')).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------

describe('NOT_FOUND, CONFLICT and INTERNAL messages', () => {
  it('NOT_FOUND and CONFLICT name the run, say what to do, keep the Redis error as cause', async () => {
    const { s, fails } = await storeWithState();
    const notFound = await fails(
      () => s.heartbeat(scope, 'missing-run'),
      'NOT_FOUND',
      'heartbeat',
      'missing-run',
    );
    expect(notFound.message).not.toMatch(/user_script|ERR_ACTIVE_RUNS/);
    expect(notFound.cause).toBeInstanceOf(Error);
    expect((notFound.cause as Error).message).toContain('ERR_ACTIVE_RUNS NOT_FOUND');
    const conflict = await fails(
      () => s.enqueue(scope, { id: 'queued-run', source: 'api', caption: 'c', data: { n: 2 } }),
      'CONFLICT',
      'queued-run',
      'different payload',
    );
    expect(conflict.message).not.toMatch(/user_script|ERR_ACTIVE_RUNS/);
    expect(conflict.cause).toBeInstanceOf(Error);
  });

  it('an unexpected Redis error (a key of the wrong type) is INTERNAL with the Redis error as cause', async () => {
    const store = h.store();
    const keys = scopeKeys(store.prefix, parseScope(scope));
    await h.client.set(keys.runs, 'not a hash');
    const error = await expectFailure(() => store.get(scope, 'x'), 'INTERNAL', 'get', 'WRONGTYPE');
    expect(error.cause).toBeInstanceOf(Error);
    await expectFailure(() => store.enqueue(scope, { id: 'x' }), 'INTERNAL', 'enqueue');
    expect(await h.client.get(keys.runs)).toBe('not a hash');
  });

  it('a run with data but no lease entry (corrupted by hand) is INTERNAL', async () => {
    const store = h.store();
    await store.enqueue(scope, { id: 'r' });
    const keys = scopeKeys(store.prefix, parseScope(scope));
    await h.client.zrem(keys.lease, 'r');
    await expectFailure(() => store.heartbeat(scope, 'r'), 'INTERNAL', 'heartbeat', 'no lease');
  });
});

describe('CONFLICT: too many distinct sources in one scope', () => {
  async function fillSources(store: ActiveRunStore<unknown>) {
    for (let i = 0; i < 127; i++) await store.enqueue(scope, { id: `r${i}`, source: `src-${i}` });
    // a second run of an existing source is fine
    await store.enqueue(scope, { id: 'r0-bis', source: 'src-0' });
    expect(Object.keys((await store.counts(scope)).bySource)).toHaveLength(127);
  }

  it('the 128th distinct source while 127 are active is CONFLICT and writes nothing', async () => {
    const store = h.store();
    await fillSources(store);
    const before = await snapshot(store.prefix);
    // CONFLICT, not INVALID_ARGUMENT: the call itself is valid (the same call succeeds once a
    // source's runs end); it contradicts the scope's current state.
    const error = await expectFailure(
      () => store.enqueue(scope, { id: 'r-new', source: 'src-new' }),
      'CONFLICT',
      '127 distinct sources',
      'low-cardinality',
    );
    expect(error.cause).toBeInstanceOf(Error);
    expect(await snapshot(store.prefix)).toEqual(before);
  });

  it('ending the last run of a source frees its rank for new sources', async () => {
    const store = h.store();
    await fillSources(store);
    /** The refusal itself (its code is pinned by the test above), and nothing written. */
    const refused = async (id: string, source: string) => {
      const before = await snapshot(store.prefix);
      await expect(store.enqueue(scope, { id, source })).rejects.toBeInstanceOf(ActiveRunsError);
      expect(await snapshot(store.prefix)).toEqual(before);
    };
    await refused('r-new', 'src-new');
    // another scope has its own ranks
    await store.enqueue(otherScope, { id: 'r-new', source: 'src-new' });

    // ending one of two runs of src-0 does not free its rank
    await store.end(scope, 'r0');
    await refused('r-new', 'src-new');
    // ending the last run of a source does (queued or running)
    await store.end(scope, 'r0-bis');
    await store.end(scope, 'r5');
    await store.start(scope, 'r6');
    await store.end(scope, 'r6');
    await store.enqueue(scope, { id: 'r-new', source: 'src-new' });
    await store.enqueue(scope, { id: 'r-new-2', source: 'src-new-2' });
    await store.enqueue(scope, { id: 'r-new-3', source: 'src-new-3' });
    await refused('r-new-4', 'src-new-4');

    // the reused ranks carry only the new sources' runs
    const counts = await store.counts(scope);
    expect(counts.total).toBe(127);
    expect(Object.keys(counts.bySource)).toHaveLength(127);
    expect(counts.bySource).toMatchObject({ 'src-new': 1, 'src-new-2': 1, 'src-new-3': 1 });
    for (const gone of ['src-0', 'src-5', 'src-6']) {
      expect(counts.bySource[gone]).toBeUndefined();
      expect(await store.list(scope, { source: gone })).toEqual({
        items: [],
        total: 0,
        nextCursor: null,
      });
    }
    const reused = [
      ['r-new', 'src-new'],
      ['r-new-2', 'src-new-2'],
      ['r-new-3', 'src-new-3'],
    ] as const;
    for (const [id, source] of reused) {
      const page = await store.list(scope, { source, status: 'queued' });
      expect(page.items.map((r) => r.id)).toEqual([id]);
      expect(page.total).toBe(1);
    }
    // without a status filter too (regression guard: before 38bc1dc a source filter without
    // status, or with status 'running', also returned the runs of higher-ranked sources)
    for (const [id, source] of reused) {
      const page = await store.list(scope, { source });
      expect(
        page.items.map((r) => r.id),
        source,
      ).toEqual([id]);
      expect(page.total).toBe(1);
    }
    await store.start(scope, 'r-new');
    const running = await store.list(scope, { source: 'src-new', status: 'running' });
    expect(running.items.map((r) => r.id)).toEqual(['r-new']);
    expect((await store.list(scope, { source: 'src-7' })).items.map((r) => r.id)).toEqual(['r7']);
  });
});

// ---------------------------------------------------------------------------------------------

// These start their own standalone redis-server, so the topology of the project does not matter:
// they run once, in the standalone project.
describe.skipIf(h.topology === 'cluster')(
  'REDIS_UNAVAILABLE and TIMEOUT (throwaway servers)',
  () => {
    it('a URL store whose server is stopped fails REDIS_UNAVAILABLE: the call was never sent', async () => {
      const server = await startRedisServer();
      const store = createActiveRunStore({
        redis: server.url,
        commandTimeoutMs: 200,
        prefix: uniquePrefix('down'),
      });
      (store.redis as unknown as Redis).on('error', () => {});
      try {
        await store.enqueue(scope, { id: 'before' });
        await server.stop();
        // The client the store creates keeps ioredis's offline queue and reconnect loop, so a
        // call made while the server is down waits in the queue until commandTimeout fires. The
        // client was never ready during the call, so the command was not sent: the store says
        // REDIS_UNAVAILABLE (retry) rather than TIMEOUT (outcome unknown).
        await until(() => (store.redis as unknown as Redis).status !== 'ready');
        const write = await expectFailure(
          () => store.enqueue(scope, { id: 'after' }),
          'REDIS_UNAVAILABLE',
          'enqueue',
          'not sent',
          'retried',
        );
        expect((write.cause as Error).message).toMatch(/timed out/i);
        const read = await expectFailure(
          () => store.get(scope, 'after'),
          'REDIS_UNAVAILABLE',
          'get',
        );
        expect(read.message).not.toContain('may or may not');
        expect(read.cause).toBeInstanceOf(Error);
      } finally {
        await store.close();
        await server.stop();
      }
    });

    it('a client that does not queue offline fails REDIS_UNAVAILABLE at once, saying it can be retried', async () => {
      const server = await startRedisServer();
      await server.stop();
      const client = new Redis(server.url, {
        commandTimeout: 5_000,
        enableOfflineQueue: false,
        lazyConnect: false,
      });
      client.on('error', () => {});
      const store = createActiveRunStore({ redis: client, prefix: uniquePrefix('down') });
      try {
        const error = await expectFailure(
          () => store.enqueue(scope, { id: 'x' }),
          'REDIS_UNAVAILABLE',
          'enqueue',
          'unavailable',
          'retried',
        );
        expect(error.cause).toBeInstanceOf(Error);
        await expectFailure(() => store.list(scope), 'REDIS_UNAVAILABLE', 'list');
      } finally {
        await store.close();
        client.disconnect();
      }
    });

    it('a client with maxRetriesPerRequest 0 fails REDIS_UNAVAILABLE when the server goes away', async () => {
      const server = await startRedisServer();
      const client = new Redis(server.url, { commandTimeout: 5_000, maxRetriesPerRequest: 0 });
      client.on('error', () => {});
      const store = createActiveRunStore({ redis: client, prefix: uniquePrefix('down') });
      try {
        await store.enqueue(scope, { id: 'a' });
        await server.stop();
        const error = await expectFailure(
          () => store.heartbeat(scope, 'a'),
          'REDIS_UNAVAILABLE',
          'heartbeat',
        );
        expect(error.cause).toBeInstanceOf(Error);
      } finally {
        await store.close();
        client.disconnect();
        await server.stop();
      }
    });

    it('CLIENT PAUSE: a write fails TIMEOUT (outcome unknown), a read fails TIMEOUT (retry)', async () => {
      const server = await startRedisServer();
      const admin = connect(server.url);
      const store = createActiveRunStore({
        redis: server.url,
        commandTimeoutMs: 200,
        prefix: uniquePrefix('pause'),
      });
      try {
        // warm up: connection open, scripts known to the server
        await store.enqueue(scope, { id: 'warm' });
        expect(await store.get(scope, 'warm')).not.toBeNull();

        await admin.call('CLIENT', 'PAUSE', '2000', 'ALL');
        const write = await expectFailure(
          () => store.enqueue(scope, { id: 'paused' }),
          'TIMEOUT',
          'enqueue',
          'may or may not have been applied',
        );
        expect(write.cause).toBeInstanceOf(Error);
        expect((write.cause as Error).message).toMatch(/timed out/i);
        const read = await expectFailure(() => store.get(scope, 'warm'), 'TIMEOUT', 'get', 'retry');
        expect(read.message).not.toContain('may or may not');
        await expectFailure(() => store.list(scope), 'TIMEOUT', 'list', 'retry');

        // the outcome really was unknown: once the pause ends the write is applied after all
        // (a second client with a longer timeout waits for the pause to end)
        const reader = connect(server.url);
        try {
          const readerStore = createActiveRunStore({ redis: reader, prefix: store.prefix });
          expect(await readerStore.get(scope, 'paused')).toMatchObject({
            id: 'paused',
            status: 'queued',
          });
          await readerStore.close();
        } finally {
          reader.disconnect();
        }
        expect(await store.get(scope, 'paused')).toMatchObject({ id: 'paused' });
      } finally {
        await store.close();
        admin.disconnect();
        await server.stop();
      }
    });
  },
);

describe('HTTP statuses', () => {
  it('every code has the status an API answers with', () => {
    expect(Object.keys(HTTP_STATUS_BY_CODE).sort()).toEqual([...ACTIVE_RUNS_ERROR_CODES].sort());
    expect(HTTP_STATUS_BY_CODE).toMatchObject({
      INVALID_ARGUMENT: 400,
      NOT_FOUND: 404,
      CONFLICT: 409,
      PAYLOAD_TOO_LARGE: 413,
      REDIS_UNAVAILABLE: 503,
      TIMEOUT: 504,
      INTERNAL: 500,
    });
  });
});
