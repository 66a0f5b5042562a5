import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  type ClusterNodeAddress,
  connectCluster,
  parseClusterNodes,
  redisClusterGlobalSetup,
  startRedisCluster,
} from '../src/index.js';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startRedisCluster', () => {
  it('starts 3 masters + 3 replicas with roles read from CLUSTER NODES; stop() kills every pid', async () => {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    try {
      expect(cluster.nodes).toHaveLength(6);
      expect(cluster.startupNodes).toEqual(
        cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      );
      for (const node of cluster.nodes) {
        const info = String(await cluster.command(node, 'CLUSTER', 'INFO'));
        expect(info, `node ${node.port}`).toContain('cluster_state:ok');
        expect(info).toContain('cluster_known_nodes:6');
        expect(processAlive(node.pid)).toBe(true);
      }
      const masters = await cluster.masters();
      expect(masters).toHaveLength(3);
      const covered = masters.flatMap((m) => m.slots).reduce((sum, [a, b]) => sum + (b - a + 1), 0);
      expect(covered).toBe(16384);
      for (const master of masters) {
        const replicas = await cluster.replicasOf(master);
        expect(replicas).toHaveLength(1);
        const replication = String(await cluster.command(replicas[0]!, 'INFO', 'replication'));
        expect(replication).toContain('master_link_status:up');
      }
      const slot = await cluster.slotOf('some-key');
      expect(masters.map((m) => m.id)).toContain((await cluster.masterOfSlot(slot)).id);

      const client = connectCluster(cluster.startupNodes);
      try {
        for (let i = 0; i < 20; i++) await client.set(`k{${i}}`, String(i));
        expect(await client.get('k{7}')).toBe('7');
      } finally {
        client.disconnect();
      }
    } finally {
      await cluster.stop();
    }
    for (const node of cluster.nodes) {
      expect(processAlive(node.pid), `pid ${node.pid}`).toBe(false);
      expect(await listening(node.port)).toBe(false);
    }
    expect(existsSync(cluster.dir)).toBe(false);
  });

  it('refuses fewer than 3 masters with a clear error', async () => {
    await expect(startRedisCluster({ masters: 2 })).rejects.toThrow(/masters must be .*>= 3/);
  });

  it('parses CLUSTER NODES lines, skipping migrating markers', () => {
    const lines = parseClusterNodes(
      [
        'aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-bbb]',
        'bbb 127.0.0.1:7001@17001,host.example master - 0 0 2 connected 5461 5462-10922',
        'ccc 127.0.0.1:7002@17002 slave aaa 0 0 1 connected',
        '',
      ].join('\n'),
    );
    expect(lines).toEqual([
      {
        id: 'aaa',
        host: '127.0.0.1',
        port: 7000,
        flags: ['myself', 'master'],
        masterId: null,
        slots: [[0, 5460]],
      },
      {
        id: 'bbb',
        host: '127.0.0.1',
        port: 7001,
        flags: ['master'],
        masterId: null,
        slots: [
          [5461, 5461],
          [5462, 10922],
        ],
      },
      { id: 'ccc', host: '127.0.0.1', port: 7002, flags: ['slave'], masterId: 'aaa', slots: [] },
    ]);
  });
});

describe('redisClusterGlobalSetup', () => {
  it('provides the startup nodes of a healthy cluster and its teardown stops it', async () => {
    const provided: Record<string, unknown> = {};
    const saved = process.env.REDIS_CLUSTER_NODES;
    delete process.env.REDIS_CLUSTER_NODES;
    let teardown: () => Promise<void>;
    try {
      teardown = await redisClusterGlobalSetup({
        provide: (key: string, value: unknown) => {
          provided[key] = value;
        },
      });
    } finally {
      if (saved !== undefined) process.env.REDIS_CLUSTER_NODES = saved;
    }
    const nodes = provided.redisClusterNodes as ClusterNodeAddress[];
    expect(provided.redisTopology).toBe('cluster');
    expect(nodes).toHaveLength(3);
    const client = connectCluster(nodes);
    try {
      expect(String(await client.cluster('INFO'))).toContain('cluster_state:ok');
      await client.set('global-setup-check', '1');
      expect(await client.get('global-setup-check')).toBe('1');
    } finally {
      client.disconnect();
    }
    await teardown();
    for (const node of nodes) expect(await listening(node.port)).toBe(false);
  });

  it('uses REDIS_CLUSTER_NODES as is when set', async () => {
    const provided: Record<string, unknown> = {};
    const saved = process.env.REDIS_CLUSTER_NODES;
    process.env.REDIS_CLUSTER_NODES = '127.0.0.1:7000, 127.0.0.1:7001';
    try {
      const teardown = await redisClusterGlobalSetup({
        provide: (key: string, value: unknown) => {
          provided[key] = value;
        },
      });
      await teardown();
    } finally {
      if (saved === undefined) delete process.env.REDIS_CLUSTER_NODES;
      else process.env.REDIS_CLUSTER_NODES = saved;
    }
    expect(provided.redisClusterNodes).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
    ]);
  });
});
