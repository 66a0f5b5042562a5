import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, startRedisServer, uniquePrefix } from '@active-runs/test-utils';
import { Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { ActiveRunStore } from '../src/index.js';
import { createActiveRunStore } from '../src/index.js';
import { storeCaller } from '../src/store.js';
import { expectFailure } from './expect-failure.js';
import { persistent, sleep, until, useStoreHarness } from './harness.js';

/*
 * What each failure code promises, on throwaway redis-servers (standalone project only):
 * REDIS_UNAVAILABLE = never applied, not now and not after Redis comes back; TIMEOUT = sent, no
 * answer, outcome unknown; one deadline per call, fallbacks and retries included.
 */

const h = useStoreHarness();
const scope = { workspaceId: 'w1', projectId: 'p1' };

describe.skipIf(h.topology === 'cluster')('what REDIS_UNAVAILABLE and TIMEOUT promise', () => {
  it.each<[string, RedisOptions | 'url']>([
    ['a client passed in, ioredis defaults', {}],
    ['a client passed in, maxRetriesPerRequest: null', { maxRetriesPerRequest: null }],
    ['the store’s own client (a URL)', 'url'],
  ])(
    'no ghost write: a call reported REDIS_UNAVAILABLE while Redis is down is never applied after it comes back (%s)',
    async (_label, options) => {
      const dir = mkdtempSync(join(tmpdir(), 'active-runs-ghost-'));
      let server = await persistent(dir);
      const port = server.port;
      const prefix = uniquePrefix('ghost');
      const client =
        options === 'url' ? undefined : new Redis(server.url, { ...options, commandTimeout: 300 });
      client?.on('error', () => {});
      const store: ActiveRunStore = createActiveRunStore({
        redis: client ?? server.url,
        commandTimeoutMs: 300,
        prefix,
      });
      const own = store.redis as unknown as Redis;
      own.on('error', () => {});
      try {
        await store.enqueue(scope, { id: 'queued', caption: 'before' });
        await store.enqueue(scope, { id: 'running', caption: 'before' });
        await store.start(scope, 'running');
        await server.kill('SIGKILL');
        await until('the client noticed', () => own.status !== 'ready');
        const calls: [string, () => Promise<unknown>][] = [
          ['enqueue', () => store.enqueue(scope, { id: 'ghost' })],
          ['start', () => store.start(scope, 'queued')],
          ['progress', () => store.progress(scope, 'running', { caption: 'ghost' })],
          ['heartbeat', () => store.heartbeat(scope, 'running', { leaseMs: 60_000 })],
          ['end', () => store.end(scope, 'running')],
        ];
        for (const [name, call] of calls) {
          const t0 = performance.now();
          const error = await expectFailure(call, 'REDIS_UNAVAILABLE', name, 'not sent');
          expect(error.message).toContain('never will be');
          // one deadline: commandTimeout (300 ms), plus scheduling slack on a shared machine
          expect(performance.now() - t0).toBeLessThan(300 + 250);
        }
        server = await persistent(dir, port);
        await until('the client reconnected', () => own.status === 'ready');
        // ioredis flushes its offline queue on ready: give anything it held time to land
        await sleep(300);
        expect(await store.get(scope, 'ghost')).toBeNull();
        expect(await store.get(scope, 'queued')).toMatchObject({
          status: 'queued',
          caption: 'before',
        });
        expect(await store.get(scope, 'running')).toMatchObject({
          status: 'running',
          caption: 'before',
        });
        expect((await store.counts(scope)).total).toBe(2);
      } finally {
        await store.close();
        client?.disconnect();
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('storeCaller: code outside store.ts gets the store’s deadline, typed outcomes, and close()', async () => {
    const server = await startRedisServer();
    const store = createActiveRunStore({
      redis: server.url,
      commandTimeoutMs: 300,
      prefix: uniquePrefix('caller'),
    });
    const caller = storeCaller(store);
    expect(caller).toBeDefined();
    try {
      expect(await caller!.command('ping', [], 'ping')).toBe('PONG');
      process.kill(server.pid, 'SIGSTOP');
      const t0 = performance.now();
      await expectFailure(
        () => caller!.command('hset', ['k', 'f', 'v'], 'legacy write', { isWrite: true }),
        'TIMEOUT',
        'legacy write',
      );
      expect(performance.now() - t0).toBeLessThan(300 + 250);
      const pending = caller!.command('get', ['k'], 'legacy read').catch((error: unknown) => error);
      await store.close();
      expect(await pending).toMatchObject({ code: 'TIMEOUT' });
      expect(caller!.pending).toBe(0);
    } finally {
      process.kill(server.pid, 'SIGCONT');
      await store.close();
      await server.stop();
    }
  });

  it('a client that is not ioredis as the store knows it: the fallback works and stays conservative', async () => {
    const server = await startRedisServer();
    const real = new Redis(server.url, { commandTimeout: 300 });
    real.on('error', () => {});
    // a wrapper that hides ioredis's classes (no instanceof, no Command to guard)
    const wrapped = new Proxy(real, {
      getPrototypeOf: () => Object.prototype,
      get(target, key) {
        if (key === 'constructor') return Object;
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const store = createActiveRunStore({ redis: wrapped, prefix: uniquePrefix('fallback') });
    try {
      await store.enqueue(scope, { id: 'a', caption: 'c' });
      expect(await store.get(scope, 'a')).toMatchObject({ caption: 'c' });
      await server.kill('SIGKILL');
      await until('the client noticed', () => real.status !== 'ready');
      // without a Command to guard, whether a failed call was sent cannot be known: TIMEOUT
      await expectFailure(() => store.enqueue(scope, { id: 'b' }), 'TIMEOUT', 'may or may not');
    } finally {
      await store.close();
      real.disconnect();
      await server.stop();
    }
  });

  it('a call sent to a stalled server is TIMEOUT, settles at its deadline, and is applied once Redis runs again', async () => {
    const server = await startRedisServer();
    const store = createActiveRunStore({
      redis: server.url,
      commandTimeoutMs: 300,
      prefix: uniquePrefix('stall'),
    });
    try {
      await store.enqueue(scope, { id: 'warm' });
      process.kill(server.pid, 'SIGSTOP');
      const t0 = performance.now();
      await expectFailure(
        () => store.enqueue(scope, { id: 'sent' }),
        'TIMEOUT',
        'may or may not have been applied',
      );
      expect(performance.now() - t0).toBeLessThan(300 + 250);
      process.kill(server.pid, 'SIGCONT');
      // the outcome really was unknown: the server had it in its socket buffer
      expect(await store.get(scope, 'sent')).toMatchObject({ id: 'sent' });
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it('durableWrites: the NOSCRIPT fallback and the WAIT share one deadline', async () => {
    const server = await startRedisServer();
    const admin = connect(server.url);
    const store = createActiveRunStore({
      redis: server.url,
      commandTimeoutMs: 500,
      prefix: uniquePrefix('deadline'),
      // no replica: WAIT blocks its whole timeout
      durableWrites: { replicas: 1, timeoutMs: 600 },
    });
    try {
      await expectFailure(() => store.enqueue(scope, { id: 'a' }), 'TIMEOUT', 'applied');
      await sleep(200); // its WAIT is over on the server too
      await admin.script('FLUSH');
      // Redis stalls for 400 ms: the NOSCRIPT answer comes then, and the script goes out again
      // behind the WAIT. Before, the re-sent script had a timeout of its own (400 + 500 ms).
      process.kill(server.pid, 'SIGSTOP');
      setTimeout(() => process.kill(server.pid, 'SIGCONT'), 400);
      const t0 = performance.now();
      await expectFailure(() => store.start(scope, 'a'), 'TIMEOUT');
      expect(performance.now() - t0).toBeLessThan(500 + 150);
    } finally {
      process.kill(server.pid, 'SIGCONT');
      await store.close();
      admin.disconnect();
      await server.stop();
    }
  });

  it('durableWrites: a script sent again after NOSCRIPT goes out with its own WAIT', async () => {
    const primary = await startRedisServer();
    const replica = await startRedisServer({
      args: ['--replicaof', '127.0.0.1', String(primary.port)],
    });
    const admin = connect(primary.url);
    const onReplica = connect(replica.url);
    const prefix = uniquePrefix('noscript-wait');
    const store = createActiveRunStore({
      redis: primary.url,
      prefix,
      durableWrites: { replicas: 1, timeoutMs: 2_000 },
    });
    const replicaStore = createActiveRunStore({ redis: onReplica, prefix });
    /** Calls per command on the primary since the last reset. */
    const calls = async () => {
      const out: Record<string, number> = {};
      for (const m of (await admin.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)) {
        out[m[1]!] = Number(m[2]);
      }
      return out;
    };
    try {
      for (let i = 0; i < 100; i++) {
        if (/master_link_status:up/.test(await onReplica.info('replication'))) break;
        await sleep(50);
      }
      await store.enqueue(scope, { id: 'a' }); // loads the scripts on the store's connection
      await admin.script('FLUSH');
      await admin.config('RESETSTAT');
      await store.enqueue(scope, { id: 'b' });
      // the replica has it the moment it is acknowledged
      expect(await replicaStore.get(scope, 'b')).toMatchObject({ id: 'b' });
      const stats = await calls();
      // EVALSHA (NOSCRIPT) + WAIT, then EVAL + WAIT: every attempt covered by its own WAIT.
      // Before the fix the EVAL went out alone, after the pipeline's WAIT (1 WAIT for 2 scripts).
      expect({ evalsha: stats.evalsha, eval: stats.eval, wait: stats.wait }).toEqual({
        evalsha: 1,
        eval: 1,
        wait: 2,
      });
    } finally {
      await store.close();
      await replicaStore.close();
      admin.disconnect();
      onReplica.disconnect();
      await replica.stop();
      await primary.stop();
    }
  });
});
