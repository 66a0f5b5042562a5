import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type ClusterOptions, Redis } from 'ioredis';
import type {} from 'vitest';
import { freePort } from './ports.js';
import { type RedisServerHandle, startRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Startup nodes of the run's Redis Cluster (set by {@link redisClusterGlobalSetup}). */
    redisClusterNodes: ClusterNodeAddress[];
    /** Which topology the project's Redis has; absent means standalone. */
    redisTopology: 'standalone' | 'cluster';
  }
}

/** Host and port of a cluster node, as ioredis `Cluster` takes them. */
export interface ClusterNodeAddress {
  host: string;
  port: number;
}

/** Role of a node as it reports itself in CLUSTER NODES. */
export type ClusterNodeRole = 'master' | 'replica';

/**
 * One redis-server of a local cluster. `role`, `masterId`, `slots` and `alive` are updated by
 * {@link RedisClusterHandle.refresh} (roles change on failover, slots on resharding).
 */
export interface RedisClusterNode {
  readonly host: string;
  readonly port: number;
  /** Cluster bus port (chosen free, not port + 10000, so high ports work). */
  readonly busPort: number;
  /** Process id (a new one after {@link RedisClusterHandle.restart}). */
  pid: number;
  /** Node id (CLUSTER MYID). */
  readonly id: string;
  role: ClusterNodeRole;
  /** Id of its master when it is a replica, else null. */
  masterId: string | null;
  /** Slot ranges it serves, inclusive `[first, last]` (masters only). */
  slots: [number, number][];
  /** False once killed. */
  alive: boolean;
}

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Number of masters (redis-cli needs at least 3). @default 3 */
  masters?: number;
  /** Replicas per master. @default 0 */
  replicasPerMaster?: 0 | 1;
  /** redis-server binary. @default process.env.REDIS_SERVER_BIN ?? 'redis-server' */
  bin?: string;
  /** redis-cli binary. @default process.env.REDIS_CLI_BIN ?? 'redis-cli' */
  cliBin?: string;
  /** `cluster-node-timeout` in ms: how fast a dead master is detected. @default 2000 */
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  args?: string[];
  /** How long to wait for `cluster_state:ok` everywhere. @default 30000 */
  readyTimeoutMs?: number;
}

/** Options of {@link RedisClusterHandle.waitUntilHealthy}. */
export interface WaitHealthyOptions {
  /** @default 30000 */
  timeoutMs?: number;
}

/** A running local Redis Cluster; see {@link startRedisCluster}. */
export interface RedisClusterHandle {
  /** Every node started, killed ones included (`alive: false`). */
  readonly nodes: readonly RedisClusterNode[];
  /** Every node's address, for `new Cluster(startupNodes, ...)`. */
  readonly startupNodes: ClusterNodeAddress[];
  /** Temp directory holding the nodes' config files and data. */
  readonly dir: string;
  /** Re-reads every live node's own line of CLUSTER NODES (role, master, slots). */
  refresh(): Promise<readonly RedisClusterNode[]>;
  /** Live masters, after a refresh. */
  masters(): Promise<RedisClusterNode[]>;
  /** Live replicas of a master, after a refresh. */
  replicasOf(master: RedisClusterNode): Promise<RedisClusterNode[]>;
  /** The live master serving a slot, after a refresh. */
  masterOfSlot(slot: number): Promise<RedisClusterNode>;
  /** The hash slot of a key (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>;
  /** Sends one command to one node (admin connection; not for load). */
  command(node: RedisClusterNode, name: string, ...args: (string | number)[]): Promise<unknown>;
  /** SIGKILLs a node by pid and waits for the process to exit. */
  kill(node: RedisClusterNode): Promise<void>;
  /**
   * Starts a killed node again on the same ports with the same cluster config file (same node id,
   * no data): it rejoins, as a replica if it was failed over. Resolves when the cluster is healthy.
   */
  restart(node: RedisClusterNode, options?: WaitHealthyOptions): Promise<void>;
  /**
   * `CLUSTER FAILOVER [FORCE|TAKEOVER]` on a replica; resolves once it is a master and the whole
   * cluster agrees ({@link waitUntilHealthy}).
   */
  failover(replica: RedisClusterNode, mode?: 'FORCE' | 'TAKEOVER'): Promise<void>;
  /**
   * After a master was killed: waits until one of its replicas took over and the cluster is
   * healthy again; returns the new master.
   */
  waitForPromotion(
    deadMaster: RedisClusterNode,
    options?: WaitHealthyOptions,
  ): Promise<RedisClusterNode>;
  /**
   * Moves `slots` slots from one master to another with
   * `redis-cli --cluster reshard ... --cluster-yes`; resolves when the cluster agrees again.
   */
  reshard(options: {
    from: RedisClusterNode;
    to: RedisClusterNode;
    slots: number;
  }): Promise<string>;
  /** Runs redis-cli with these arguments (asynchronously: the event loop keeps running). */
  cli(args: string[]): Promise<string>;
  /**
   * Waits until every live node reports `cluster_state:ok`, all live nodes agree on roles and
   * slots, every live replica's link to its master is up and not syncing, and every node's
   * CLUSTER SLOTS (what clients route by) lists every live replica.
   */
  waitUntilHealthy(options?: WaitHealthyOptions): Promise<void>;
  /** Kills every node (SIGKILL) and removes the temp directory. Safe to call twice. */
  stop(): Promise<void>;
}

interface NodeLine {
  id: string;
  host: string;
  port: number;
  flags: string[];
  masterId: string | null;
  slots: [number, number][];
}

/** Parses CLUSTER NODES output (importing/migrating markers `[...]` are skipped). */
export function parseClusterNodes(text: string): NodeLine[] {
  const out: NodeLine[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(' ');
    if (parts.length < 8) continue;
    const [id, address, flags, master] = parts as [string, string, string, string];
    const hostPort = address.split('@')[0]!.split(',')[0]!;
    const colon = hostPort.lastIndexOf(':');
    const slots: [number, number][] = [];
    for (const entry of parts.slice(8)) {
      if (entry.startsWith('[')) continue;
      const [a, b] = entry.split('-');
      slots.push([Number(a), Number(b ?? a)]);
    }
    out.push({
      id,
      host: hostPort.slice(0, colon),
      port: Number(hostPort.slice(colon + 1)),
      flags: flags.split(','),
      masterId: master === '-' ? null : master,
      slots,
    });
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function slotsKey(slots: [number, number][]): string {
  return slots
    .map(([a, b]) => `${a}-${b}`)
    .sort()
    .join(',');
}

/** Runs a binary asynchronously; rejects with its output on a non-zero exit. */
function run(bin: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${bin} could not start: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: strip redis-cli's ANSI colours
      const clean = output.replace(/\u001b\[[0-9;]*m/g, '');
      if (code === 0) resolve(clean);
      else
        reject(
          new Error(
            `${bin} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${clean.slice(-2000)}`,
          ),
        );
    });
  });
}

/** `count` distinct free loopback ports. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Starts a local Redis Cluster of throwaway redis-server processes on free loopback ports,
 * creates it with `redis-cli --cluster create`, and waits until it is healthy. Roles are read
 * from CLUSTER NODES (redis-cli pairs masters and replicas as it likes). Always `stop()` it.
 *
 * @example
 * const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
 * const client = connectCluster(cluster.startupNodes);
 * // ... await cluster.failover((await cluster.replicasOf(master))[0]!);
 * await cluster.stop();
 */
export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 0;
  if (!Number.isInteger(masters) || masters < 3) {
    throw new Error(`startRedisCluster: masters must be an integer >= 3 (got ${masters}).`);
  }
  const cliBin = options.cliBin ?? process.env.REDIS_CLI_BIN ?? 'redis-cli';
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2_000;
  const count = masters * (1 + replicasPerMaster);
  const dir = mkdtempSync(join(tmpdir(), 'active-runs-cluster-'));
  const ports = await freePorts(count * 2);

  const servers: RedisServerHandle[] = [];
  const nodes: RedisClusterNode[] = [];
  const admins = new Map<number, Redis>();
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const admin of admins.values()) admin.disconnect();
    admins.clear();
    await Promise.all(servers.map((s) => s.stop()));
    for (const node of nodes) node.alive = false;
    rmSync(dir, { recursive: true, force: true });
  };

  const startNode = (port: number, busPort: number) =>
    startRedisServer({
      ...(options.bin ? { bin: options.bin } : {}),
      port,
      args: [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-port',
        String(busPort),
        '--cluster-node-timeout',
        String(nodeTimeoutMs),
        '--repl-diskless-sync-delay',
        '0',
        // masters PING replicas every second, so replica offsets (and CLUSTER SLOTS) move soon
        '--repl-ping-replica-period',
        '1',
        '--enable-debug-command',
        'local',
        ...(options.args ?? []),
      ],
    });

  const admin = (node: RedisClusterNode): Redis => {
    let client = admins.get(node.port);
    if (!client) {
      client = new Redis({
        host: node.host,
        port: node.port,
        maxRetriesPerRequest: 1,
        commandTimeout: 3_000,
        connectTimeout: 1_000,
        retryStrategy: () => 100,
      });
      client.on('error', () => {});
      admins.set(node.port, client);
    }
    return client;
  };
  const command = (node: RedisClusterNode, name: string, ...args: (string | number)[]) =>
    admin(node).call(name, ...args);

  try {
    const started = await Promise.allSettled(
      Array.from({ length: count }, (_, i) => startNode(ports[i]!, ports[count + i]!)),
    );
    for (const result of started) if (result.status === 'fulfilled') servers.push(result.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;

    for (const [i, server] of servers.entries()) {
      const node: RedisClusterNode = {
        host: server.host,
        port: server.port,
        busPort: ports[count + i]!,
        pid: server.pid,
        id: '',
        role: 'master',
        masterId: null,
        slots: [],
        alive: true,
      };
      (node as { id: string }).id = String(await command(node, 'CLUSTER', 'MYID'));
      nodes.push(node);
    }

    await run(
      cliBin,
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `${n.host}:${n.port}`),
        '--cluster-yes',
        ...(replicasPerMaster ? ['--cluster-replicas', String(replicasPerMaster)] : []),
      ],
      60_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }

  const serverOf = (node: RedisClusterNode) => servers.find((s) => s.port === node.port)!;
  const live = () => nodes.filter((n) => n.alive);

  const refresh = async () => {
    for (const node of live()) {
      const mine = parseClusterNodes(String(await command(node, 'CLUSTER', 'NODES'))).find((l) =>
        l.flags.includes('myself'),
      );
      if (!mine) continue;
      node.role = mine.flags.includes('slave') ? 'replica' : 'master';
      node.masterId = node.role === 'replica' ? mine.masterId : null;
      node.slots = node.role === 'master' ? mine.slots : [];
    }
    return nodes;
  };

  /** Null when healthy, else why not (for the timeout message). */
  const unhealthy = async (): Promise<string | null> => {
    await refresh();
    const alive = live();
    const aliveIds = new Set(alive.map((n) => n.id));
    const expected = alive
      .map((n) => `${n.id} ${n.role} ${n.masterId ?? '-'} ${slotsKey(n.slots)}`)
      .sort()
      .join('\n');
    for (const node of alive) {
      const info = String(await command(node, 'CLUSTER', 'INFO'));
      if (!info.includes('cluster_state:ok')) return `${node.port}: cluster_state is not ok`;
      const view = parseClusterNodes(String(await command(node, 'CLUSTER', 'NODES')));
      const seen = view
        .filter((l) => aliveIds.has(l.id))
        .map((l) => {
          const role = l.flags.includes('slave') ? 'replica' : 'master';
          const master = role === 'replica' ? (l.masterId ?? '-') : '-';
          return `${l.id} ${role} ${master} ${role === 'master' ? slotsKey(l.slots) : ''}`;
        })
        .sort()
        .join('\n');
      if (seen !== expected) return `${node.port} does not agree yet on roles and slots`;
      const suspect = view.find(
        (l) => aliveIds.has(l.id) && (l.flags.includes('fail') || l.flags.includes('fail?')),
      );
      if (suspect) return `${node.port} still flags ${suspect.port} as failing`;
      if (view.some((l) => l.flags.includes('handshake')))
        return `${node.port} is still in handshake`;
      // Clients route by CLUSTER SLOTS, which lists a replica only once its master has told the
      // cluster a non-zero replication offset for it: wait for that, or scaleReads sees no replica.
      const listed = new Set<string>();
      for (const range of (await command(node, 'CLUSTER', 'SLOTS')) as unknown[][]) {
        for (const entry of range.slice(2) as [string, number, string][]) listed.add(entry[2]);
      }
      const missing = alive.find(
        (n) =>
          !listed.has(n.id) &&
          (n.role === 'master'
            ? n.slots.length > 0
            : (alive.find((m) => m.id === n.masterId)?.slots.length ?? 0) > 0),
      );
      if (missing) return `${node.port}: CLUSTER SLOTS does not list ${missing.port} yet`;
      if (node.role === 'replica') {
        const master = alive.find((m) => m.id === node.masterId);
        if (!master) return `${node.port} replicates a dead master`;
        const replication = String(await command(node, 'INFO', 'replication'));
        if (!replication.includes('master_link_status:up'))
          return `${node.port}: replication link is not up`;
        if (!replication.includes('master_sync_in_progress:0'))
          return `${node.port}: initial sync in progress`;
      }
    }
    return null;
  };

  const waitUntilHealthy = async ({ timeoutMs = 30_000 }: WaitHealthyOptions = {}) => {
    const deadline = Date.now() + timeoutMs;
    let why: string | null = 'not checked';
    while (Date.now() < deadline) {
      try {
        why = await unhealthy();
      } catch (error) {
        why = `error: ${error instanceof Error ? error.message : String(error)}`;
      }
      if (why === null) return;
      await sleep(100);
    }
    throw new Error(`Redis Cluster not healthy after ${timeoutMs} ms: ${why}`);
  };

  try {
    await waitUntilHealthy({ timeoutMs: options.readyTimeoutMs ?? 30_000 });
  } catch (error) {
    await stop();
    throw error;
  }

  const handle: RedisClusterHandle = {
    nodes,
    startupNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    dir,
    refresh,
    async masters() {
      await refresh();
      return live().filter((n) => n.role === 'master');
    },
    async replicasOf(master) {
      await refresh();
      return live().filter((n) => n.role === 'replica' && n.masterId === master.id);
    },
    async masterOfSlot(slot) {
      await refresh();
      const owner = live().find(
        (n) => n.role === 'master' && n.slots.some(([a, b]) => slot >= a && slot <= b),
      );
      if (!owner) throw new Error(`no live master serves slot ${slot}`);
      return owner;
    },
    async slotOf(key) {
      return Number(await command(live()[0]!, 'CLUSTER', 'KEYSLOT', key));
    },
    command,
    async kill(node) {
      const server = serverOf(node);
      admins.get(node.port)?.disconnect();
      admins.delete(node.port);
      node.alive = false;
      if (server.process.exitCode === null && server.process.signalCode === null) {
        const exited = new Promise((r) => server.process.once('exit', r));
        process.kill(node.pid, 'SIGKILL');
        await exited;
      }
    },
    async restart(node, waitOptions) {
      if (node.alive) throw new Error(`${node.port} is running; kill it first`);
      if (stopped) throw new Error('the cluster was stopped');
      const old = serverOf(node);
      const server = await startNode(node.port, node.busPort);
      servers.splice(servers.indexOf(old), 1, server);
      rmSync(old.dir, { recursive: true, force: true });
      node.pid = server.pid;
      node.alive = true;
      await waitUntilHealthy(waitOptions);
    },
    async failover(replica, mode) {
      await command(replica, 'CLUSTER', 'FAILOVER', ...(mode ? [mode] : []));
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        await refresh();
        if (replica.role === 'master') break;
        await sleep(50);
      }
      if (replica.role !== 'master') throw new Error(`${replica.port} was not promoted`);
      await waitUntilHealthy();
    },
    async waitForPromotion(deadMaster, waitOptions = {}) {
      const timeoutMs = waitOptions.timeoutMs ?? 30_000;
      const candidates = live().filter((n) => n.masterId === deadMaster.id);
      if (candidates.length === 0) throw new Error(`${deadMaster.port} had no live replica`);
      const deadline = Date.now() + timeoutMs;
      let promoted: RedisClusterNode | undefined;
      while (!promoted && Date.now() < deadline) {
        await sleep(50);
        try {
          await refresh();
        } catch {
          continue;
        }
        promoted = candidates.find((n) => n.role === 'master');
      }
      if (!promoted)
        throw new Error(`no replica of ${deadMaster.port} took over in ${timeoutMs} ms`);
      await waitUntilHealthy({ timeoutMs: Math.max(1_000, deadline - Date.now()) });
      return promoted;
    },
    async reshard({ from, to, slots }) {
      const entry = live()[0]!;
      const output = await run(
        cliBin,
        [
          '--cluster',
          'reshard',
          `${entry.host}:${entry.port}`,
          '--cluster-from',
          from.id,
          '--cluster-to',
          to.id,
          '--cluster-slots',
          String(slots),
          '--cluster-yes',
        ],
        120_000,
      );
      await waitUntilHealthy();
      return output;
    },
    cli: (args) => run(cliBin, args, 120_000),
    waitUntilHealthy,
    stop,
  };
  return handle;
}

/**
 * An ioredis `Cluster` client for tests, tuned to ride through failover and resharding:
 * `commandTimeout` (required by the store) in `redisOptions`, periodic slot refresh, retries on
 * MOVED/CLUSTERDOWN/closed connections with enough redirections to outlast a failover.
 */
export function connectCluster(
  startupNodes: ClusterNodeAddress[],
  options: ClusterOptions = {},
): Cluster {
  const { redisOptions, ...rest } = options;
  return new Cluster(startupNodes, {
    slotsRefreshInterval: 1_000,
    slotsRefreshTimeout: 1_000,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    retryDelayOnMoved: 0,
    maxRedirections: 64,
    ...rest,
    redisOptions: { commandTimeout: 5_000, connectTimeout: 1_000, ...redisOptions },
  });
}

interface ClusterSetupContext {
  provide(key: 'redisClusterNodes', value: ClusterNodeAddress[]): void;
  provide(key: 'redisTopology', value: 'cluster'): void;
}

/**
 * Vitest globalSetup: one Redis Cluster for the test run, handed to test files as
 * `inject('redisClusterNodes')` (and `inject('redisTopology') === 'cluster'`). Uses
 * `REDIS_CLUSTER_NODES=host:port,host:port` if set; otherwise starts a 3-master local cluster
 * (no replicas) and stops it after the run.
 */
export async function redisClusterGlobalSetup(
  context: ClusterSetupContext,
): Promise<() => Promise<void>> {
  context.provide('redisTopology', 'cluster');
  const fromEnv = process.env.REDIS_CLUSTER_NODES;
  if (fromEnv) {
    context.provide(
      'redisClusterNodes',
      fromEnv.split(',').map((entry) => {
        const [host, port] = entry.trim().split(':');
        return { host: host || '127.0.0.1', port: Number(port) };
      }),
    );
    return async () => {};
  }
  const cluster = await startRedisCluster({ masters: 3 });
  context.provide('redisClusterNodes', cluster.startupNodes);
  return () => cluster.stop();
}
