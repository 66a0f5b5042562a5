import {
  connectCluster,
  type RedisClusterHandle,
  startRedisCluster,
  uniquePrefix,
} from '@active-runs/test-utils';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActiveRunStore, Scope } from '../../src/index.js';
import { createActiveRunStore } from '../../src/index.js';
import { sleep } from '../harness.js';
import { describeLoad, expectGuarantees, startLoad, verify } from './load.js';

/*
 * The connection-chaos and script-flush tests on a local Redis Cluster of its own (3 masters + 3
 * replicas), through a Cluster client set up as the README says.
 */

const COMMAND_TIMEOUT_MS = 1_000;
/**
 * commandTimeout of the connection-kill test: shorter than the client's retry delay after a
 * closed connection (200 ms) plus a reconnect, so that calls time out before they are sent
 * (REDIS_UNAVAILABLE) while ioredis still holds them to retry.
 */
const KILL_TIMEOUT_MS = 150;
let cluster: RedisClusterHandle;
let client: Cluster;
let killClient: Cluster;
let scopes: Scope[];

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  client = connectCluster(cluster.startupNodes, {
    redisOptions: { commandTimeout: COMMAND_TIMEOUT_MS },
  });
  client.on('error', () => {});
  killClient = connectCluster(cluster.startupNodes, {
    redisOptions: { commandTimeout: KILL_TIMEOUT_MS },
  });
  killClient.on('error', () => {});
  // two scopes on each master
  const masters = await cluster.masters();
  scopes = [];
  for (const master of masters) {
    let found = 0;
    for (let i = 0; found < 2; i++) {
      const scope = { workspaceId: `chaos${i}`, projectId: 'p' };
      const slot = calculateSlot(`${scope.workspaceId}:${scope.projectId}`);
      if (master.slots.some(([a, b]) => slot >= a && slot <= b)) {
        scopes.push(scope);
        found++;
      }
    }
  }
});

afterAll(async () => {
  client?.disconnect();
  killClient?.disconnect();
  await cluster?.stop();
});

/** Runs `fn` on every live master (admin connections, not the store's). */
async function onMasters(...command: (string | number)[]): Promise<void> {
  const masters = cluster.nodes.filter((n) => n.alive && n.role === 'master');
  await Promise.all(
    masters.map((node) =>
      cluster.command(node, String(command[0]), ...command.slice(1)).catch(() => {}),
    ),
  );
}

async function servingAgain(store: ActiveRunStore): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await Promise.all(scopes.map((scope) => store.get(scope, 'probe')));
      return;
    } catch {
      await sleep(20);
    }
  }
  throw new Error('the store never served again');
}

describe('chaos on a Redis Cluster (3 masters + 3 replicas)', () => {
  it('connection chaos: 20k writes from 20 callers, CLIENT KILL TYPE normal on every master every 100 ms', async () => {
    await cluster.refresh();
    const store = createActiveRunStore({ redis: killClient, prefix: uniquePrefix('chaos-kill') });
    let kills = 0;
    try {
      const load = startLoad({
        store,
        scopes,
        callers: 20,
        maxCalls: 20_000,
        maxMs: 45_000,
        commandTimeoutMs: KILL_TIMEOUT_MS,
      });
      const killer = setInterval(() => {
        kills++;
        void onMasters('CLIENT', 'KILL', 'TYPE', 'normal');
      }, 100);
      const stats = await load.finished;
      clearInterval(killer);
      await servingAgain(store);
      await sleep(500);
      const verdict = await verify(store, scopes, load.runs, client);
      console.log(
        describeLoad('connection kills (cluster)', stats, verdict, `, kill rounds=${kills}`),
      );
      expect(stats.calls).toBeGreaterThanOrEqual(20_000);
      expectGuarantees(stats, verdict);
    } finally {
      await store.close();
    }
  });

  it('SCRIPT FLUSH on every master every second under load: no NOSCRIPT reaches the app, durable writes included', async () => {
    const plain = createActiveRunStore({ redis: client, prefix: uniquePrefix('chaos-flush') });
    const durable = createActiveRunStore({
      redis: client,
      prefix: uniquePrefix('chaos-flush-durable'),
      durableWrites: { replicas: 1, timeoutMs: 500 },
    });
    let flushes = 0;
    try {
      const stores = [plain, durable];
      const loads = stores.map((store) =>
        startLoad({
          store,
          scopes,
          callers: 6,
          maxCalls: 100_000,
          maxMs: 5_500,
          commandTimeoutMs: COMMAND_TIMEOUT_MS,
        }),
      );
      const flusher = setInterval(() => {
        flushes++;
        void onMasters('SCRIPT', 'FLUSH');
      }, 1_000);
      const all = await Promise.all(loads.map((load) => load.finished));
      clearInterval(flusher);
      for (const [i, store] of stores.entries()) {
        const stats = all[i]!;
        const verdict = await verify(store, scopes, loads[i]!.runs, client);
        console.log(
          describeLoad(
            `SCRIPT FLUSH every second, cluster (${i ? 'durableWrites' : 'plain'})`,
            stats,
            verdict,
            `, flushes=${flushes}`,
          ),
        );
        expect(stats.byCode).toEqual({ ok: stats.calls });
        expectGuarantees(stats, verdict);
      }
      expect(flushes).toBeGreaterThanOrEqual(5);
    } finally {
      await plain.close();
      await durable.close();
    }
  });
});
