import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { connect, keysUnder, startRedisServer, uniquePrefix } from '@active-runs/test-utils';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { LAYOUT_VERSION } from '../src/constants.js';
import type { ActiveRunStore, RedisLike } from '../src/index.js';
import { createActiveRunStore, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { SCRIPTS } from '../src/scripts/index.js';
import { expectFailure } from './expect-failure.js';
import { sleep, useStoreHarness, useThrowawayRedis } from './harness.js';

const h = useStoreHarness();
const scope = { workspaceId: 'w1', projectId: 'p1' };

/**
 * Resolves once the client's connection is closed for good. ioredis resolves quit() when Redis
 * answers OK and reports 'end' a moment later, when the socket closes; the guard only turns a
 * client that is never closed into a clear failure instead of a hung test.
 */
async function ended(client: Redis): Promise<string> {
  if (client.status === 'end') return 'end';
  return Promise.race([
    new Promise<string>((resolve) => client.once('end', () => resolve('end'))),
    new Promise<string>((resolve) => setTimeout(() => resolve(`still ${client.status}`), 10_000)),
  ]);
}

/**
 * A process that creates a store from a URL (argv: url, prefix), enqueues, then waits for a line on
 * stdin (the server is stopped meanwhile); then, with a call still waiting for Redis, it closes
 * the store and leaves: no process.exit().
 */
const CLOSE_WHILE_DOWN = `
import { createActiveRunStore } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
const [url, prefix] = process.argv.slice(1);
const store = createActiveRunStore({ redis: url, prefix, commandTimeoutMs: 1000 });
store.redis.on('error', () => {});
await store.enqueue({ workspaceId: 'w', projectId: 'p' }, { id: 'a' });
console.log('enqueued');
process.stdin.once('data', async () => {
  process.stdin.pause();
  store.get({ workspaceId: 'w', projectId: 'p' }, 'a').catch(() => {});
  await store.close();
  console.log('closed');
});
`;

const asRedisLike = (client: Redis | Cluster) => client as unknown as RedisLike;
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

// ---------------------------------------------------------------------------------------------
// Client ownership, close, and anything that needs a Redis of its own: a throwaway standalone
// redis-server, so it runs once (in the standalone project), whatever the project's topology.

describe.skipIf(h.topology === 'cluster')('on a throwaway redis-server', () => {
  const throwaway = useThrowawayRedis();

  /** Every method of a closed store fails with a clear error and writes nothing. */
  async function expectClosed(store: ActiveRunStore<unknown>) {
    const before = await keysUnder(throwaway.admin, store.prefix);
    const calls: (() => unknown)[] = [
      () => store.enqueue(scope, { id: 'after-close' }),
      () => store.start(scope, 'a'),
      () => store.progress(scope, 'a', { caption: 'x' }),
      () => store.heartbeat(scope, 'a'),
      () => store.end(scope, 'a'),
      () => store.get(scope, 'a'),
      () => store.list(scope),
      () => store.counts(scope),
      () => store.stats(scope),
      () => store.sweep(),
    ];
    for (const call of calls) {
      const error = await expectFailure(call, 'REDIS_UNAVAILABLE', 'closed', 'create a new one');
      expect(error).toBeInstanceOf(Error);
    }
    expect(await keysUnder(throwaway.admin, store.prefix)).toEqual(before);
  }

  describe('ownership and close()', () => {
    it('a store created from a URL quits its own client on close(); close() twice is fine', async () => {
      const store = createActiveRunStore({ redis: throwaway.url, prefix: uniquePrefix('url') });
      await store.enqueue(scope, { id: 'a' });
      const client = store.redis as unknown as Redis;
      expect(client.status).toBe('ready');
      await store.close();
      expect(await ended(client)).toBe('end');
      await expect(store.close()).resolves.toBeUndefined();
      await expectClosed(store);
      // the run is still in Redis: closing a store deletes nothing
      expect(await throwaway.admin.hlen(scopeKeys(store.prefix, parseScope(scope)).runs)).toBe(1);
    });

    it('a store created from a URL with closeClient: false leaves its client open', async () => {
      const store = createActiveRunStore({
        redis: throwaway.url,
        closeClient: false,
        prefix: uniquePrefix('url'),
      });
      const client = store.redis as unknown as Redis;
      try {
        await store.enqueue(scope, { id: 'a' });
        await store.close();
        expect(await client.ping()).toBe('PONG');
        await expectClosed(store);
      } finally {
        await client.quit();
      }
    });

    it('a client passed in is not closed by close(); the store is; other stores keep working', async () => {
      const client = connect(throwaway.url);
      try {
        const first = createActiveRunStore({ redis: client, prefix: uniquePrefix('own') });
        const second = createActiveRunStore({ redis: client, prefix: uniquePrefix('own') });
        expect(first.redis).toBe(client);
        await first.enqueue(scope, { id: 'a' });
        await first.close();
        await first.close();
        expect(client.status).toBe('ready');
        expect(await client.ping()).toBe('PONG');
        await expectClosed(first);
        await second.enqueue(scope, { id: 'b' });
        expect(await second.get(scope, 'b')).toMatchObject({ id: 'b' });
        await second.close();
        expect(await client.ping()).toBe('PONG');
      } finally {
        await client.quit();
      }
    });

    it('a client passed in with closeClient: true is quit by close()', async () => {
      const client = connect(throwaway.url);
      const store = createActiveRunStore({
        redis: client,
        closeClient: true,
        prefix: uniquePrefix('own'),
      });
      await store.enqueue(scope, { id: 'a' });
      await store.close();
      expect(await ended(client)).toBe('end');
      await expect(store.close()).resolves.toBeUndefined();
      await expectClosed(store);
    });

    it('close() of a store whose client was already quit by the app resolves', async () => {
      const client = connect(throwaway.url);
      const store = createActiveRunStore({
        redis: client,
        closeClient: true,
        prefix: uniquePrefix('own'),
      });
      await store.counts(scope);
      await client.quit();
      await expect(store.close()).resolves.toBeUndefined();
    });

    it('close() of a store that created its client lets the process exit while Redis is down', async () => {
      const own = await startRedisServer();
      // a separate process using the built package: it must exit by itself after close()
      const child = spawn(
        process.execPath,
        ['--input-type=module', '-e', CLOSE_WHILE_DOWN, own.url, uniquePrefix('down')],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      let output = '';
      child.stdout.on('data', (chunk) => {
        output += String(chunk);
      });
      try {
        for (let i = 0; i < 500 && !output.includes('enqueued'); i++) await sleep(10);
        expect(output).toContain('enqueued');
        await own.stop();
        child.stdin.end('go\n');
        const code = await Promise.race([exited, sleep(8_000).then(() => 'still running')]);
        expect(code, output).toBe(0);
        expect(output).toContain('closed');
      } finally {
        child.kill('SIGKILL');
        await own.stop();
      }
    });

    it('startSweeper after close() fails with a clear error instead of starting a timer', async () => {
      const store = createActiveRunStore({ redis: throwaway.url, prefix: uniquePrefix('url') });
      await store.close();
      try {
        await expectFailure(
          () => store.startSweeper({ intervalMs: 60_000 }),
          'REDIS_UNAVAILABLE',
          'closed',
        );
      } finally {
        await store.stopSweeper();
      }
    });
  });

  describe('scripts survive SCRIPT FLUSH and are read-only where declared', () => {
    it('after SCRIPT FLUSH every operation still works (ioredis falls back to EVAL)', async () => {
      const store = createActiveRunStore({ redis: throwaway.url, prefix: uniquePrefix('flush') });
      try {
        await store.enqueue(scope, { id: 'a', source: 'api' });
        await store.start(scope, 'a');
        expect((await store.list(scope)).total).toBe(1);
        await store.counts(scope);
        expect(await throwaway.admin.script('EXISTS', sha1(SCRIPTS.enqueue.lua))).toEqual([1]);

        expect(await throwaway.admin.script('FLUSH')).toBe('OK');
        expect(await throwaway.admin.script('EXISTS', sha1(SCRIPTS.enqueue.lua))).toEqual([0]);

        await store.enqueue(scope, { id: 'b', source: 'api', data: { n: 1 } });
        await store.start(scope, 'b');
        await store.progress(scope, 'b', { caption: 'half' });
        await store.heartbeat(scope, 'b');
        expect(await store.get(scope, 'b')).toMatchObject({
          id: 'b',
          caption: 'half',
          status: 'running',
        });
        expect((await store.list(scope, { source: 'api', status: 'running' })).total).toBe(2);
        expect(await store.counts(scope)).toMatchObject({ total: 2, bySource: { api: 2 } });
        expect((await store.stats(scope)).total).toBe(2);
        expect(await store.end(scope, 'a')).toMatchObject({ id: 'a' });
        expect(await store.sweep()).toMatchObject({ ran: true });
        expect(await throwaway.admin.script('EXISTS', sha1(SCRIPTS.enqueue.lua))).toEqual([1]);
      } finally {
        await store.close();
      }
    });

    it('a durable write in a pipeline also survives SCRIPT FLUSH', async () => {
      const store = createActiveRunStore({
        redis: throwaway.url,
        prefix: uniquePrefix('flush'),
        durableWrites: { replicas: 1, timeoutMs: 10 },
      });
      try {
        await expectFailure(
          () => store.enqueue(scope, { id: 'a' }),
          'TIMEOUT',
          'applied on the primary',
        );
        await throwaway.admin.script('FLUSH');
        // not INTERNAL/NOSCRIPT: the script is loaded again and the write applied
        await expectFailure(() => store.start(scope, 'a'), 'TIMEOUT', 'applied on the primary');
        expect(await store.get(scope, 'a')).toMatchObject({ status: 'running' });
      } finally {
        await store.close();
      }
    });

    it('read scripts run with EVAL_RO (no-writes); write scripts are refused by EVAL_RO', async () => {
      const store = createActiveRunStore({ redis: throwaway.url, prefix: uniquePrefix('ro') });
      try {
        await store.enqueue(scope, { id: 'a', source: 'api' });
        const k = scopeKeys(store.prefix, parseScope(scope));
        const write = [k.runs, k.index, k.bySource, k.lease, k.meta, k.registry];
        const got = (await throwaway.admin.call(
          'EVAL_RO',
          SCRIPTS.get.lua,
          2,
          k.runs,
          k.meta,
          'a',
        )) as string[];
        expect(got[0]).toContain('\napi\n');
        const page = (await throwaway.admin.call(
          'EVAL_RO',
          SCRIPTS.list.lua,
          6,
          ...write,
          k.tag,
          'all',
          '',
          10,
          0,
          '',
          '',
          1000,
        )) as unknown[];
        expect(page[0]).toBe(1);
        const counts = (await throwaway.admin.call(
          'EVAL_RO',
          SCRIPTS.counts.lua,
          3,
          k.lease,
          k.meta,
          k.index,
          k.tag,
          '1',
        )) as unknown[];
        expect(counts[0]).toBe(1);
        for (const def of [SCRIPTS.enqueue, SCRIPTS.start, SCRIPTS.progress, SCRIPTS.end]) {
          await expect(
            throwaway.admin.call('EVAL_RO', def.lua, 6, ...write, k.tag, 'a'),
          ).rejects.toThrow(/write flag|read-only|not allowed/i);
        }
      } finally {
        await store.close();
      }
    });
  });

  describe('durableWrites on a standalone server without replicas', () => {
    it('a write fails TIMEOUT "applied on the primary but not confirmed" and IS in Redis', async () => {
      const store = createActiveRunStore({
        redis: throwaway.url,
        prefix: uniquePrefix('durable'),
        durableWrites: { replicas: 1, timeoutMs: 50 },
      });
      try {
        const error = await expectFailure(
          () => store.enqueue(scope, { id: 'a', source: 'api', data: { n: 1 } }),
          'TIMEOUT',
          'enqueue',
          'applied on the primary',
          '0 of 1 replica',
          'Retrying is safe',
        );
        expect(error.details).toMatchObject({ acknowledgedReplicas: 0 });
        expect(await store.get(scope, 'a')).toMatchObject({
          id: 'a',
          status: 'queued',
          data: { n: 1 },
        });

        // retrying is safe: the same payload again is the same run, not a CONFLICT
        await expectFailure(
          () => store.enqueue(scope, { id: 'a', source: 'api', data: { n: 1 } }),
          'TIMEOUT',
        );
        expect(await store.counts(scope)).toMatchObject({ total: 1, bySource: { api: 1 } });

        await expectFailure(
          () => store.start(scope, 'a'),
          'TIMEOUT',
          'start',
          'applied on the primary',
        );
        expect(await store.get(scope, 'a')).toMatchObject({ status: 'running' });
        await expectFailure(
          () => store.progress(scope, 'a', { caption: 'x' }),
          'TIMEOUT',
          'progress',
        );
        expect((await store.get(scope, 'a'))?.caption).toBe('x');
        await expectFailure(() => store.heartbeat(scope, 'a'), 'TIMEOUT', 'heartbeat');
        await expectFailure(
          () => store.end(scope, 'a'),
          'TIMEOUT',
          'end',
          'applied on the primary',
        );
        expect(await store.get(scope, 'a')).toBeNull();

        // a write refused by the script is reported as such, not as an unconfirmed write
        await expectFailure(() => store.end(scope, 'a'), 'NOT_FOUND', 'end');
        // reads do not wait for replicas
        expect((await store.list(scope)).total).toBe(0);
      } finally {
        await store.close();
      }
    });
  });

  describe('either wire protocol of the app’s client', () => {
    /** What a user sees of one lifecycle, whatever the protocol. */
    async function tour(options: RedisOptions) {
      const client = new Redis(throwaway.url, { commandTimeout: 5_000, ...options });
      const store = createActiveRunStore({ redis: client, prefix: uniquePrefix('resp') });
      const events: string[] = [];
      try {
        const unsubscribe = await store.subscribe(scope, (event) => {
          events.push(event.type === 'gap' ? `gap:${event.reason}` : `${event.type}:${event.id}`);
        });
        const queued = await store.enqueue(scope, {
          id: 'a',
          source: 'api',
          caption: 'c',
          data: { n: 1.5, list: [1, 'x', null], ok: true },
        });
        await store.enqueue(scope, { id: 'lapsing', leaseMs: 100 });
        const started = await store.start(scope, 'a', { startedAt: queued.queuedAt + 1 });
        const progressed = await store.progress(scope, 'a', { caption: 'half' });
        await store.heartbeat(scope, 'a', { leaseMs: 60_000 });
        await sleep(150);
        const seen = {
          queued: { ...queued, queuedAt: 0, leaseExpiresAt: 0 },
          started: started.status,
          progressed: progressed.caption,
          get: (await store.get(scope, 'a'))?.data,
          missing: await store.get(scope, 'nope'),
          page: (await store.list(scope, { limit: 5 })).items.map((r) => [r.id, r.status]),
          counts: await store.counts(scope),
          stats: await store.stats(scope, { memory: true }).then((s) => [s.lapsed, s.total]),
          sweep: await store.sweep().then((r) => [r.ran, r.expired]),
          ended: (await store.end(scope, 'a')).id,
        };
        await sleep(100);
        await unsubscribe();
        return { ...seen, events };
      } finally {
        await store.close();
        client.disconnect();
      }
    }

    it('RESP2, RESP3, and RESP3 with the "resp3" reply mapping give the same results', async () => {
      const resp2 = await tour({ protocol: 2 });
      expect(resp2.events).toEqual([
        'gap:subscribed',
        'queued:a',
        'queued:lapsing',
        'started:a',
        'progress:a',
        'heartbeat:a',
        'expired:lapsing',
        'ended:a',
      ]);
      expect(resp2.missing).toBeNull();
      expect(resp2.get).toEqual({ n: 1.5, list: [1, 'x', null], ok: true });
      expect(await tour({ protocol: 3 })).toEqual(resp2);
      expect(await tour({ protocol: 3, replyMapping: 'resp3' } as RedisOptions)).toEqual(resp2);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('clients the store refuses', () => {
  it('an ioredis client with keyPrefix, explaining that Lua never sees it', async () => {
    const client = new Redis({ lazyConnect: true, commandTimeout: 1_000, keyPrefix: 'app:' });
    try {
      const error = await expectFailure(
        () => createActiveRunStore({ redis: asRedisLike(client) }),
        'INVALID_ARGUMENT',
        'keyPrefix "app:"',
        'Lua',
        'prefix option',
      );
      expect(error.details).toMatchObject({ field: 'options.redis' });
      // refusing a client does not touch it
      expect(client.status).toBe('wait');
    } finally {
      client.disconnect();
    }
  });

  it.each([
    ['no commandTimeout', {}],
    ['commandTimeout 0', { commandTimeout: 0 }],
  ])('an ioredis client with %s, saying to set it', async (_label, options) => {
    const client = new Redis({ lazyConnect: true, ...options });
    try {
      await expectFailure(
        () => createActiveRunStore({ redis: asRedisLike(client), closeClient: true }),
        'INVALID_ARGUMENT',
        'commandTimeout',
        'hang',
      );
      expect(client.status).toBe('wait');
    } finally {
      client.disconnect();
    }
  });

  it('an ioredis Cluster without redisOptions.commandTimeout (no cluster needs to run)', async () => {
    const noOptions = new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true });
    const topLevelOnly = new Cluster([{ host: '127.0.0.1', port: 7000 }], {
      lazyConnect: true,
      redisOptions: { connectTimeout: 1_000 },
    });
    try {
      for (const cluster of [noOptions, topLevelOnly]) {
        await expectFailure(
          () => createActiveRunStore({ redis: asRedisLike(cluster) }),
          'INVALID_ARGUMENT',
          'commandTimeout',
          'redisOptions',
        );
        expect(cluster.status).toBe('wait');
      }
    } finally {
      noOptions.disconnect();
      topLevelOnly.disconnect();
    }
  });

  it('an ioredis Cluster with keyPrefix (top level or in redisOptions)', async () => {
    const top = new Cluster([{ host: '127.0.0.1', port: 7000 }], {
      lazyConnect: true,
      keyPrefix: 'app:',
      redisOptions: { commandTimeout: 1_000 },
    });
    const nested = new Cluster([{ host: '127.0.0.1', port: 7000 }], {
      lazyConnect: true,
      redisOptions: { commandTimeout: 1_000, keyPrefix: 'app:' },
    });
    try {
      for (const cluster of [top, nested]) {
        await expectFailure(
          () => createActiveRunStore({ redis: asRedisLike(cluster) }),
          'INVALID_ARGUMENT',
          'keyPrefix',
          'Lua',
        );
      }
    } finally {
      top.disconnect();
      nested.disconnect();
    }
  });

  it('an ioredis Cluster with redisOptions.commandTimeout is accepted without connecting, and not closed', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 7000 }], {
      lazyConnect: true,
      redisOptions: { commandTimeout: 1_000 },
    });
    try {
      const store = createActiveRunStore({ redis: asRedisLike(cluster), prefix: 'app' });
      expect(store.redis).toBe(cluster);
      expect(cluster.status).toBe('wait');
      await store.close();
      expect(cluster.status).toBe('wait');
    } finally {
      cluster.disconnect();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('scripts: names, flags, sharing one client', () => {
  const READ_ONLY = ['counts', 'get', 'list'];
  // what must work over maxmemory: ending runs, sweeping them, settling reports, the sweep lock
  const FREES_MEMORY = ['end', 'sweep', 'settle', 'lock', 'renew', 'release'];

  it('command names are versioned and content-addressed', () => {
    const names = new Set<string>();
    for (const [name, def] of Object.entries(SCRIPTS)) {
      expect(def.command).toBe(
        `activeRuns_v${LAYOUT_VERSION}_${name}_${sha1(def.lua).slice(0, 8)}`,
      );
      expect(def.command).toMatch(/^activeRuns_v\d+_[a-z]+_[0-9a-f]{8}$/);
      names.add(def.command);
    }
    expect(names.size).toBe(Object.keys(SCRIPTS).length);
  });

  it('read scripts start with "#!lua flags=no-writes", scripts that free memory declare allow-oom, other writes "#!lua"', () => {
    for (const [name, def] of Object.entries(SCRIPTS)) {
      const firstLine = def.lua.slice(0, def.lua.indexOf('\n'));
      if (READ_ONLY.includes(name)) {
        expect(firstLine, name).toBe('#!lua flags=no-writes');
        expect(def.readOnly, name).toBe(true);
      } else if (FREES_MEMORY.includes(name)) {
        expect(firstLine, name).toBe('#!lua flags=allow-oom');
        expect(def.allowOom, name).toBe(true);
      } else {
        expect(firstLine, name).toBe('#!lua');
        expect([def.readOnly, def.allowOom], name).toEqual([false, false]);
      }
    }
  });

  it('a store registers every script on its client', () => {
    const store = h.store();
    const client = store.redis as unknown as Record<string, unknown>;
    for (const def of Object.values(SCRIPTS))
      expect(typeof client[def.command], def.command).toBe('function');
  });

  it('two library versions can share one client: each calls its own scripts', async () => {
    const store = h.store();
    await store.enqueue(scope, { id: 'a', caption: 'current' });
    // Another version of the library registers its own `get` on the same client: a different
    // layout version and body give a different name, so neither overwrites the other.
    const otherLua = `#!lua flags=no-writes\nreturn 'other library version'`;
    const otherName = `activeRuns_v${LAYOUT_VERSION + 1}_get_${sha1(otherLua).slice(0, 8)}`;
    expect(otherName).not.toBe(SCRIPTS.get.command);
    h.client.defineCommand(otherName, { numberOfKeys: 2, lua: otherLua, readOnly: true });
    const k = scopeKeys(store.prefix, parseScope(scope));
    const call = (h.client as unknown as Record<string, (...a: string[]) => Promise<unknown>>)[
      otherName
    ]!;
    expect(await call.call(h.client, k.runs, k.lease, 'a')).toBe('other library version');
    expect(await store.get(scope, 'a')).toMatchObject({ id: 'a', caption: 'current' });
    // and a second store of this version reuses the registered commands
    const again = h.store({ prefix: store.prefix });
    expect(await again.get(scope, 'a')).toMatchObject({ caption: 'current' });
    expect(await call.call(h.client, k.runs, k.lease, 'a')).toBe('other library version');
  });

  it('two stores with different prefixes on one client are isolated (even a nested prefix)', async () => {
    const a = h.store();
    const b = h.store({ prefix: `${a.prefix}:nested` });
    await a.enqueue(scope, { id: 'same', caption: 'in a', source: 'api' });
    await b.enqueue(scope, { id: 'same', caption: 'in b', source: 'web' });
    await b.enqueue(scope, { id: 'only-b' });
    await a.start(scope, 'same');
    expect(await a.get(scope, 'same')).toMatchObject({ caption: 'in a', status: 'running' });
    expect(await b.get(scope, 'same')).toMatchObject({ caption: 'in b', status: 'queued' });
    expect(await a.counts(scope)).toEqual({
      total: 1,
      byStatus: { queued: 0, running: 1 },
      bySource: { api: 1 },
    });
    expect(await b.counts(scope)).toEqual({
      total: 2,
      byStatus: { queued: 2, running: 0 },
      bySource: { web: 1 },
    });
    expect((await a.list(scope)).items.map((r) => r.id)).toEqual(['same']);
    await a.end(scope, 'same');
    expect(await b.get(scope, 'same')).toMatchObject({ caption: 'in b' });
    expect(await a.get(scope, 'same')).toBeNull();

    const keysOfB = await keysUnder(h.client, b.prefix);
    expect(keysOfB.length).toBeGreaterThan(0);
    const keysOfAOnly = (await keysUnder(h.client, a.prefix)).filter((k) => !keysOfB.includes(k));
    expect(keysOfAOnly.length).toBeGreaterThan(0);
    for (const key of keysOfAOnly) expect(key.startsWith(`${b.prefix}:`), key).toBe(false);
  });
});
