import {
  connectCluster,
  type RedisClusterHandle,
  startRedisCluster,
  uniquePrefix,
} from '@active-runs/test-utils';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Scope } from '../../src/index.js';
import { createActiveRunStore } from '../../src/index.js';
import { connectionChaos, flushUnderLoad } from './load.js';

/*
 * The connection-chaos and script-flush tests on a local Redis Cluster of its own (3 masters + 3
 * replicas), through a Cluster client set up as the README says.
 */

/**
 * commandTimeout of the SCRIPT FLUSH test's client, where every call must succeed: long enough
 * that a stall of this process on a loaded 2-core CI machine is not a TIMEOUT (the standalone
 * twin once saw one call in 33k time out at 1 s). A NOSCRIPT reaching the app still fails it.
 */
const COMMAND_TIMEOUT_MS = 5_000;
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

describe('chaos on a Redis Cluster (3 masters + 3 replicas)', () => {
  it('connection chaos: 20k writes from 20 callers, CLIENT KILL TYPE normal on every master every 100 ms', async () => {
    await cluster.refresh();
    const store = createActiveRunStore({ redis: killClient, prefix: uniquePrefix('chaos-kill') });
    try {
      await connectionChaos({
        label: 'connection kills (cluster)',
        store,
        scopes,
        reader: client,
        commandTimeoutMs: KILL_TIMEOUT_MS,
        kill: () => void onMasters('CLIENT', 'KILL', 'TYPE', 'normal'),
      });
    } finally {
      await store.close();
    }
  });

  it('SCRIPT FLUSH on every master every second under load: no NOSCRIPT reaches the app, durable writes included', async () => {
    await flushUnderLoad({
      label: 'SCRIPT FLUSH every second, cluster',
      client,
      scopes,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      flush: () => void onMasters('SCRIPT', 'FLUSH'),
    });
  });
});
