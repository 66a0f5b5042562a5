import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RedisServerHandle } from '@active-runs/test-utils';
import { connect, startRedisServer, uniquePrefix } from '@active-runs/test-utils';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { Scope } from '../../src/index.js';
import { createActiveRunStore } from '../../src/index.js';
import { sleep } from '../harness.js';
import {
  checkAfterFault,
  connectionChaos,
  describeLoad,
  expectGuarantees,
  flushUnderLoad,
  servingAgainAfter,
  startLoad,
  steadyLoad,
  verify,
  verifyLegacy,
} from './load.js';

/*
 * Chaos on throwaway redis-servers, each started and stopped by pid: connections killed every
 * 100 ms, a server that stalls, restarts on its AOF, scripts flushed under load, and close() of
 * a process with 1,000 calls in flight. Every loop is bounded; the numbers are printed.
 */

const COMMAND_TIMEOUT_MS = 1_000;
/**
 * commandTimeout of the SCRIPT FLUSH test, where every call must succeed: long enough that a
 * stall of this process on a loaded 2-core CI machine is not reported as a TIMEOUT (one call in
 * 33k once was, at 1 s). A NOSCRIPT reaching the app still fails the test at once.
 */
const FLUSH_TIMEOUT_MS = 5_000;
/** commandTimeout of the connection-kill test (ioredis reconnects in 50-250 ms). */
const KILL_TIMEOUT_MS = 150;
const scopes: Scope[] = [0, 1, 2, 3].map((i) => ({ workspaceId: `chaos${i}`, projectId: 'p' }));

/** An app's client as most apps make one: ioredis defaults, plus the commandTimeout the store needs. */
function appClient(url: string, commandTimeout = COMMAND_TIMEOUT_MS): Redis {
  const client = new Redis(url, { commandTimeout });
  client.on('error', () => {});
  return client;
}

describe('chaos on a standalone Redis', () => {
  it('connection chaos: 20k writes from 20 callers, CLIENT KILL TYPE normal every 100 ms', async () => {
    const server = await startRedisServer();
    const admin = connect(server.url);
    // a short commandTimeout, so that calls waiting for the client to reconnect time out before
    // they are sent (REDIS_UNAVAILABLE) and sit in ioredis's offline queue when it comes back
    const client = appClient(server.url, KILL_TIMEOUT_MS);
    const store = createActiveRunStore({ redis: client, prefix: uniquePrefix('chaos-kill') });
    try {
      await connectionChaos({
        label: 'connection kills (standalone)',
        store,
        scopes,
        reader: client,
        commandTimeoutMs: KILL_TIMEOUT_MS,
        kill: () => void admin.call('CLIENT', 'KILL', 'TYPE', 'normal').catch(() => {}),
      });
    } finally {
      await store.close();
      client.disconnect();
      admin.disconnect();
      await server.stop();
    }
  });

  it('rollout mode: writes under CLIENT KILL every 100 ms leave both layouts as the calls said', async () => {
    const server = await startRedisServer();
    const admin = connect(server.url);
    const client = appClient(server.url, KILL_TIMEOUT_MS);
    const prefix = uniquePrefix('chaos-rollout');
    const keyOf = (s: Scope) => `${prefix}:old:runs:active:${s.workspaceId}:${s.projectId}`;
    const store = createActiveRunStore({ redis: client, prefix, legacy: { keyOf } });
    // the new layout alone, for the checks (the rollout store lists the legacy hash)
    const plain = createActiveRunStore({ redis: client, prefix });
    try {
      // bounded: a few seconds (a rollout write is 2-4 round trips, each one a chance to fail)
      let kills = 0;
      const load = startLoad({
        store,
        scopes,
        callers: 10,
        maxCalls: 3_000,
        maxMs: 8_000,
        commandTimeoutMs: KILL_TIMEOUT_MS,
        // 3,000 calls can all land between kills (they once did, in about a second): go on until
        // some calls failed and the kills went on for a while, or the run proves nothing
        until: (stats) =>
          kills > 10 && (stats.byCode.REDIS_UNAVAILABLE ?? 0) + (stats.byCode.TIMEOUT ?? 0) >= 5,
      });
      const killer = setInterval(() => {
        kills++;
        void admin.call('CLIENT', 'KILL', 'TYPE', 'normal').catch(() => {});
      }, 100);
      const stats = await load.finished;
      clearInterval(killer);
      for (const scope of scopes) await servingAgainAfter(plain, scope);
      await sleep(500); // anything ioredis still held would land now
      const verdict = await verify(plain, scopes, load.runs, client);
      const legacy = await verifyLegacy(plain, scopes, load.runs, client, keyOf);
      const extra = `, kill rounds=${kills}; legacy layout: checked=${legacy.checked}, lost=${legacy.lost.length}, ghost writes=${legacy.ghosts.length}, runs of unknown fate whose layouts differ=${legacy.diverged}`;
      console.log(
        describeLoad('connection kills, rollout mode (standalone)', stats, verdict, extra),
      );
      expect(kills).toBeGreaterThan(10);
      expect((stats.byCode.REDIS_UNAVAILABLE ?? 0) + (stats.byCode.TIMEOUT ?? 0)).toBeGreaterThan(
        0,
      );
      expectGuarantees(stats, verdict);
      expect(legacy.ghosts, 'legacy writes applied although reported REDIS_UNAVAILABLE').toEqual(
        [],
      );
      expect(legacy.lost, 'acknowledged legacy writes lost').toEqual([]);
    } finally {
      await store.close();
      await plain.close();
      client.disconnect();
      admin.disconnect();
      await server.stop();
    }
  });

  it('server stalls (DEBUG SLEEP, CLIENT PAUSE, SIGSTOP/SIGCONT): calls fail typed in time, nothing lost, serving again at once', async () => {
    const server = await startRedisServer({ args: ['--enable-debug-command', 'local'] });
    const admin = connect(server.url);
    const client = appClient(server.url);
    const store = createActiveRunStore({ redis: client, prefix: uniquePrefix('chaos-stall') });
    const stalls: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
      ['DEBUG SLEEP 1.5', () => admin.call('DEBUG', 'SLEEP', '1.5'), async () => {}],
      [
        'CLIENT PAUSE 1500 ALL',
        () => admin.call('CLIENT', 'PAUSE', '1500', 'ALL'),
        () => sleep(1_500),
      ],
      [
        'SIGSTOP 1.5 s',
        async () => process.kill(server.pid, 'SIGSTOP'),
        async () => {
          await sleep(1_500);
          process.kill(server.pid, 'SIGCONT');
        },
      ],
    ];
    try {
      for (const [name, stall, resume] of stalls) {
        const load = steadyLoad(store, scopes, COMMAND_TIMEOUT_MS);
        await sleep(300);
        const stalled = stall().catch(() => {});
        await resume();
        await stalled;
        const stats = await checkAfterFault(`stall: ${name}`, load, store, scopes, client);
        expect(stats.byCode.TIMEOUT ?? 0).toBeGreaterThan(0);
      }
    } finally {
      process.kill(server.pid, 'SIGCONT');
      await store.close();
      client.disconnect();
      admin.disconnect();
      await server.stop();
    }
  });

  it('restart on the AOF (SIGTERM and SIGKILL, down 1 s): nothing acknowledged lost, serving again within 2 s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'active-runs-chaos-aof-'));
    // fsync on every write: a crash (SIGKILL) then loses nothing acknowledged. With the usual
    // `everysec`, a crash can lose up to a second of writes; a SIGTERM loses nothing either way.
    const args = ['--appendonly', 'yes', '--appendfsync', 'always'];
    let server: RedisServerHandle = await startRedisServer({ dir, args });
    const port = server.port;
    const client = appClient(server.url);
    const store = createActiveRunStore({ redis: client, prefix: uniquePrefix('chaos-aof') });
    try {
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        const load = steadyLoad(store, scopes, COMMAND_TIMEOUT_MS);
        await sleep(500);
        await server.kill(signal);
        await sleep(1_000);
        server = await startRedisServer({ dir, args, port });
        await checkAfterFault(`restart (${signal}, down 1 s, AOF)`, load, store, scopes, client);
      }
    } finally {
      await store.close();
      client.disconnect();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SCRIPT FLUSH every second under load: no NOSCRIPT reaches the app, durable writes included', async () => {
    const primary = await startRedisServer();
    const replica = await startRedisServer({
      args: ['--replicaof', '127.0.0.1', String(primary.port)],
    });
    const admin = connect(primary.url);
    const onReplica = connect(replica.url);
    for (let i = 0; i < 100; i++) {
      if (/master_link_status:up/.test(await onReplica.info('replication'))) break;
      await sleep(50);
    }
    const client = appClient(primary.url, FLUSH_TIMEOUT_MS);
    try {
      await flushUnderLoad({
        label: 'SCRIPT FLUSH every second',
        client,
        scopes,
        commandTimeoutMs: FLUSH_TIMEOUT_MS,
        flush: () => void admin.script('FLUSH').catch(() => {}),
      });
    } finally {
      client.disconnect();
      admin.disconnect();
      onReplica.disconnect();
      await replica.stop();
      await primary.stop();
    }
  });
});

/**
 * A process that creates a store from a URL with a hook that never settles, waits for the hook,
 * then (the server stalled by the parent) makes 1,000 calls and closes the store; it prints what
 * it saw and must exit by itself (no process.exit()). Its third argument `rollout` makes it a
 * store in rollout mode (each call several Redis calls, over both layouts).
 */
const CLOSE_UNDER_FIRE = `
import { createActiveRunStore } from ${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)};
const [url, prefix, mode] = process.argv.slice(1);
const scope = { workspaceId: 'w', projectId: 'p' };
let hooked;
const store = createActiveRunStore({
  redis: url, prefix, commandTimeoutMs: 30000,
  ...(mode === 'rollout' ? { legacy: { keyPrefix: prefix + ':old:' } } : {}),
  onExpired: (run, s, report) => { hooked = report.signal; return new Promise(() => {}); },
});
await store.enqueue(scope, { id: 'lapsing', leaseMs: 100 });
await new Promise((r) => setTimeout(r, 150));
store.startSweeper({ intervalMs: 60000 });
while (!hooked) await new Promise((r) => setTimeout(r, 10));
console.log('hooked');
process.stdin.once('data', async () => {
  process.stdin.pause();
  const outcomes = Array.from({ length: 1000 }, (_, i) =>
    (i % 2 ? store.enqueue(scope, { id: 'r' + i }) : store.list(scope)).then(() => 'ok', (e) => e.code ?? 'untyped'));
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  await store.close();
  const closeMs = performance.now() - t0;
  const codes = {};
  for (const code of await Promise.all(outcomes)) codes[code] = (codes[code] ?? 0) + 1;
  console.log(JSON.stringify({ closeMs, codes, hookAborted: hooked.aborted }));
});
`;

describe('close() under fire', () => {
  it.each(['plain', 'rollout'])(
    '1,000 calls in flight on a stalled Redis and a hung hook (%s store): close() within 2 s, every call typed, the process exits',
    async (mode) => {
      const server = await startRedisServer();
      const prefix = uniquePrefix('chaos-close');
      const child = spawn(
        process.execPath,
        ['--input-type=module', '-e', CLOSE_UNDER_FIRE, server.url, prefix, mode],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      let output = '';
      let errors = '';
      child.stdout.on('data', (chunk) => {
        output += String(chunk);
      });
      child.stderr.on('data', (chunk) => {
        errors += String(chunk);
      });
      try {
        for (let i = 0; i < 500 && !output.includes('hooked'); i++) await sleep(10);
        expect(output, errors).toContain('hooked');
        process.kill(server.pid, 'SIGSTOP');
        const stalledAt = performance.now();
        child.stdin.end('go\n');
        const code = await Promise.race([exited, sleep(10_000).then(() => 'still running')]);
        const exitMs = performance.now() - stalledAt;
        const report = JSON.parse(output.split('\n').find((line) => line.startsWith('{')) ?? '{}');
        console.log(
          `[chaos] close() under fire (${mode} store): ${JSON.stringify(report)}, process exited ${exitMs.toFixed(0)} ms after the stall began`,
        );
        expect(code, errors).toBe(0);
        expect(errors).not.toMatch(/Unhandled error event/);
        expect(report.closeMs).toBeLessThan(2_000 + 300);
        expect(report.hookAborted).toBe(true);
        const codes = report.codes as Record<string, number>;
        expect(Object.values(codes).reduce((a, b) => a + b, 0)).toBe(1_000);
        expect(
          Object.keys(codes).filter((c) => !['TIMEOUT', 'REDIS_UNAVAILABLE'].includes(c)),
        ).toEqual([]);
      } finally {
        child.kill('SIGKILL');
        process.kill(server.pid, 'SIGCONT');
      }
      // the hung hook's report is still in the outbox, for the next sweeper
      const admin = connect(server.url);
      const reader = createActiveRunStore({ redis: admin, prefix });
      try {
        expect(
          (await reader.stats({ workspaceId: 'w', projectId: 'p' })).pendingExpiredReports,
        ).toBe(1);
      } finally {
        await reader.close();
        admin.disconnect();
        await server.stop();
      }
    },
  );
});
