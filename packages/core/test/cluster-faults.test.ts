import {
  type ClusterNodeAddress,
  connectCluster,
  deletePrefix,
  type RedisClusterHandle,
  type RedisClusterNode,
  startRedisCluster,
  uniquePrefix,
} from '@active-runs/test-utils';
import calculateSlot from 'cluster-key-slot';
import type { Cluster, ClusterOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActiveRunStore, ActiveRunStoreOptions, Scope } from '../src/index.js';
import { createActiveRunStore, isActiveRunsError, scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { sleep } from './harness.js';

/*
 * Fault tests on a local 3-master + 3-replica Redis Cluster started by this file (the shared
 * `cluster` project has no replicas). Each test runs a few seconds of write load, injects one
 * fault, then checks what the app saw (errors, latency) and what Redis kept (lost writes,
 * index == data). Numbers are printed, not asserted, except the guarantees.
 */

let cluster: RedisClusterHandle;
let client: Cluster;
const prefixes: string[] = [];
const clients: Cluster[] = [];

/** Client options the fault tests (and docs/cluster.md) use: ride through failover and resharding. */
const CLIENT_OPTIONS: ClusterOptions = {
  slotsRefreshInterval: 1_000,
  retryDelayOnFailover: 200,
  retryDelayOnClusterDown: 200,
  retryDelayOnTryAgain: 100,
  retryDelayOnMoved: 0,
  maxRedirections: 64,
  redisOptions: { commandTimeout: 5_000 },
};

function newClient(nodes: ClusterNodeAddress[], options: ClusterOptions = {}): Cluster {
  const c = connectCluster(nodes, { ...CLIENT_OPTIONS, ...options });
  clients.push(c);
  return c;
}

function newStore(redis: Cluster, options: Partial<ActiveRunStoreOptions> = {}): ActiveRunStore {
  const prefix = uniquePrefix('faults');
  prefixes.push(prefix);
  return createActiveRunStore({ redis, prefix, ...options });
}

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  client = newClient(cluster.startupNodes);
});

afterAll(async () => {
  for (const prefix of prefixes) await deletePrefix(client, prefix).catch(() => {});
  for (const c of clients) c.disconnect();
  await cluster?.stop();
});

const inRanges = (slot: number, ranges: [number, number][]) =>
  ranges.some(([a, b]) => slot >= a && slot <= b);

/** `n` scopes whose slot is served by `master` (optionally only within `ranges`). */
function scopesOn(
  master: RedisClusterNode,
  n: number,
  label: string,
  ranges: [number, number][] = master.slots,
): Scope[] {
  const out: Scope[] = [];
  for (let i = 0; out.length < n && i < 1_000_000; i++) {
    const scope = { workspaceId: `${label}${i}`, projectId: 'p' };
    if (inRanges(calculateSlot(`${scope.workspaceId}:${scope.projectId}`), ranges)) out.push(scope);
  }
  if (out.length < n) throw new Error(`no ${n} scopes in ${JSON.stringify(ranges)}`);
  return out;
}

/** One scope under load, and what the app was told about its runs. */
interface Target {
  name: string;
  store: ActiveRunStore;
  scope: Scope;
  /** Acknowledged enqueues not (acknowledged as) ended: must be readable afterwards. */
  live: Set<string>;
  /** Acknowledged ends: must stay gone. */
  ended: Set<string>;
  /** Writes whose outcome the app does not know (they failed): excluded from the checks. */
  uncertain: Set<string>;
  lastAckAt: number;
  maxGapMs: number;
}

function target(name: string, store: ActiveRunStore, scope: Scope): Target {
  return {
    name,
    store,
    scope,
    live: new Set(),
    ended: new Set(),
    uncertain: new Set(),
    lastAckAt: 0,
    maxGapMs: 0,
  };
}

interface LoadReport {
  /** Acknowledged writes. */
  writes: number;
  errors: number;
  /** Error messages (shortened) by count. */
  errorKinds: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
}

/**
 * Steady write load: one worker per target loops enqueue -> start -> end, keeping every third
 * run active. No app-level retries: whatever the client could not hide counts as an error.
 */
function startLoad(targets: Target[], pauseMs = 3) {
  let stopped = false;
  let writes = 0;
  let errors = 0;
  const errorKinds: Record<string, number> = {};
  const latencies: number[] = [];

  const op = async (t: Target, fn: () => Promise<unknown>): Promise<boolean> => {
    const began = performance.now();
    try {
      await fn();
    } catch (error) {
      errors++;
      const code = isActiveRunsError(error) ? error.code : 'UNKNOWN';
      const message = error instanceof Error ? error.message : String(error);
      const kind = `${t.name} ${code}: ${message.replace(/\d+/g, 'N').slice(0, 90)}`;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
      return false;
    }
    latencies.push(performance.now() - began);
    writes++;
    const now = Date.now();
    if (t.lastAckAt) t.maxGapMs = Math.max(t.maxGapMs, now - t.lastAckAt);
    t.lastAckAt = now;
    return true;
  };

  const worker = async (t: Target) => {
    for (let n = 0; !stopped; n++) {
      if (n > 0) await sleep(pauseMs);
      const id = `run-${n}`;
      const enqueued = await op(t, () =>
        t.store.enqueue(t.scope, { id, source: n % 2 ? 'api' : 'web', data: { n } }),
      );
      if (!enqueued) {
        t.uncertain.add(id);
        continue;
      }
      t.live.add(id);
      // a failed start leaves the run active (queued or running): still must not be lost
      await op(t, () => t.store.start(t.scope, id));
      if (n % 3 !== 0) {
        t.live.delete(id);
        if (await op(t, () => t.store.end(t.scope, id))) t.ended.add(id);
        else t.uncertain.add(id);
      }
    }
  };

  const running = Promise.all(targets.map(worker));
  return {
    async stop(): Promise<LoadReport> {
      stopped = true;
      await running;
      const now = Date.now();
      for (const t of targets) t.maxGapMs = Math.max(t.maxGapMs, now - t.lastAckAt);
      latencies.sort((a, b) => a - b);
      const at = (q: number) =>
        Math.round(
          latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0,
        );
      return {
        writes,
        errors,
        errorKinds,
        p50: at(0.5),
        p99: at(0.99),
        max: Math.round(latencies.at(-1) ?? 0),
      };
    },
  };
}

interface Verdict {
  /** Acknowledged, never-ended runs the app cannot read any more. */
  lost: number;
  /** Acknowledged ended runs that came back. */
  resurrected: number;
  /** Scopes where HLEN(runs), ZCARD(idx), ZCARD(lease) or counts() disagree. */
  inconsistent: string[];
  /** Runs active at the end, over all targets. */
  active: number;
}

/** What the app sees after the fault: list every run, compare with what it was told. */
async function verify(targets: Target[], reader: Cluster = client): Promise<Verdict> {
  let lost = 0;
  let resurrected = 0;
  let active = 0;
  const inconsistent: string[] = [];
  for (const t of targets) {
    const seen = new Set<string>();
    const byStatus = { queued: 0, running: 0 };
    const bySource: Record<string, number> = {};
    let cursor: string | null = null;
    do {
      const page = await t.store.list(t.scope, { limit: 500, cursor });
      for (const run of page.items) {
        seen.add(run.id);
        byStatus[run.status]++;
        if (run.source) bySource[run.source] = (bySource[run.source] ?? 0) + 1;
      }
      cursor = page.nextCursor;
    } while (cursor);
    active += seen.size;
    for (const id of t.live) if (!seen.has(id)) lost++;
    for (const id of t.ended) if (seen.has(id)) resurrected++;

    const keys = scopeKeys(t.store.prefix, parseScope(t.scope));
    const [runs, index, lease] = await Promise.all([
      reader.hlen(keys.runs),
      reader.zcard(keys.index),
      reader.zcard(keys.lease),
    ]);
    const counts = await t.store.counts(t.scope);
    const sorted = (o: Record<string, number>) => JSON.stringify(Object.entries(o).sort());
    const agree =
      runs === index &&
      runs === lease &&
      runs === seen.size &&
      counts.total === seen.size &&
      counts.byStatus.queued === byStatus.queued &&
      counts.byStatus.running === byStatus.running &&
      sorted(counts.bySource) === sorted(bySource);
    if (!agree) {
      inconsistent.push(
        `${t.name}: runs=${runs} idx=${index} lease=${lease} listed=${seen.size} counts=${JSON.stringify(counts)} recount=${JSON.stringify({ byStatus, bySource })}`,
      );
    }
  }
  return { lost, resurrected, inconsistent, active };
}

/** Sum of script calls (EVAL/EVALSHA and their _RO forms) in INFO commandstats of a node. */
async function scriptCalls(node: RedisClusterNode): Promise<number> {
  const stats = String(await cluster.command(node, 'INFO', 'commandstats'));
  let calls = 0;
  for (const match of stats.matchAll(
    /^cmdstat_(?:eval|evalsha|eval_ro|evalsha_ro):calls=(\d+)/gm,
  )) {
    calls += Number(match[1]);
  }
  return calls;
}

describe('Redis Cluster faults (3 masters + 3 replicas)', () => {
  it('reads from replicas: scaleReads "slave" serves get, list and counts from replicas', async () => {
    const masters = await cluster.masters();
    // durableWrites: each write is acknowledged only once a replica has it, so replica reads
    // right after it are exact (no lag to wait for).
    const writer = newStore(client, { durableWrites: { replicas: 1, timeoutMs: 2_000 } });
    const scopes = masters.map((m, i) => scopesOn(m, 1, `replica-read-${i}-`)[0]!);
    for (const scope of scopes) {
      for (let n = 0; n < 12; n++) {
        await writer.enqueue(scope, { id: `r${n}`, source: n % 2 ? 'api' : 'web', data: { n } });
        if (n % 3 === 0) await writer.start(scope, `r${n}`);
      }
      await writer.end(scope, 'r11');
    }

    const readerClient = newClient(cluster.startupNodes, { scaleReads: 'slave' });
    const reader = createActiveRunStore({ redis: readerClient, prefix: writer.prefix });
    const replicas = cluster.nodes.filter((n) => n.alive && n.role === 'replica');
    const before = await Promise.all(replicas.map(scriptCalls));
    const mastersBefore = await Promise.all(masters.map(scriptCalls));

    let reads = 0;
    for (const scope of scopes) {
      const expected = await writer.list(scope, { limit: 50 });
      const expectedCounts = await writer.counts(scope);
      const got = await reader.list(scope, { limit: 50 });
      expect(got).toEqual(expected);
      expect(got.total).toBe(11);
      expect(await reader.counts(scope)).toEqual(expectedCounts);
      expect(await reader.get(scope, 'r3')).toEqual(await writer.get(scope, 'r3'));
      expect(await reader.get(scope, 'r11')).toBeNull();
      expect((await reader.list(scope, { source: 'api', status: 'queued' })).total).toBe(
        expectedCounts.bySource.api! - 2,
      );
      reads += 5;
    }
    // writer reads above went to masters: count only the replicas' growth and the reader's calls
    const after = await Promise.all(replicas.map(scriptCalls));
    const mastersAfter = await Promise.all(masters.map(scriptCalls));
    const onReplicas = after.reduce((s, v, i) => s + v - before[i]!, 0);
    const onMasters = mastersAfter.reduce((s, v, i) => s + v - mastersBefore[i]!, 0);
    console.log(
      `[cluster-faults] replica reads: reads=${reads}, script calls on replicas=${onReplicas}, on masters=${onMasters} (the writer's own ${scopes.length * 3} reads), per replica=${after.map((v, i) => v - before[i]!).join('/')}`,
    );
    expect(onReplicas).toBeGreaterThanOrEqual(reads);
    expect(onMasters).toBe(scopes.length * 3);
    // every replica served some: the reads followed their scopes' slots
    for (const [i, v] of after.entries()) expect(v - before[i]!).toBeGreaterThan(0);
  });

  it('manual failover (CLUSTER FAILOVER) under write load: no errors, no lost writes', async () => {
    const masters = await cluster.masters();
    const victim = masters[0]!;
    const [replica] = await cluster.replicasOf(victim);
    expect(replica).toBeDefined();
    const store = newStore(client);
    const targets = masters.flatMap((m, i) =>
      scopesOn(m, 2, `failover-${i}-`).map((s, j) =>
        target(`${m === victim ? 'victim' : 'other'}${i}.${j}`, store, s),
      ),
    );
    const load = startLoad(targets);
    await sleep(1_000);
    const began = Date.now();
    await cluster.failover(replica!);
    const failoverMs = Date.now() - began;
    await sleep(1_000);
    const report = await load.stop();
    const verdict = await verify(targets);
    const victimGap = Math.max(
      ...targets.filter((t) => t.name.startsWith('victim')).map((t) => t.maxGapMs),
    );
    console.log(
      `[cluster-faults] failover: writes=${report.writes}, errors=${report.errors}, lost=${verdict.lost}, resurrected=${verdict.resurrected}, active=${verdict.active}, p50=${report.p50}ms, p99=${report.p99}ms, max=${report.max}ms, victim pause=${victimGap}ms, failover took ${failoverMs}ms`,
    );
    expect(replica!.role).toBe('master');
    expect(report.errorKinds).toEqual({});
    expect(report.errors).toBe(0);
    expect(verdict).toMatchObject({ lost: 0, resurrected: 0, inconsistent: [] });
  });

  it('resharding slots under write load: no errors, no lost writes', async () => {
    const masters = await cluster.masters();
    const [from, to] = masters as [RedisClusterNode, RedisClusterNode];
    const slots = 300;
    // redis-cli moves the source's lowest slots first: put scopes in them, and elsewhere too
    const first = Math.min(...from.slots.map(([a]) => a));
    const moved: [number, number][] = [[first, first + slots - 1]];
    const store = newStore(client);
    const targets = [
      ...scopesOn(from, 4, 'reshard-moved-', moved).map((s, i) => target(`moved${i}`, store, s)),
      ...masters.map((m, i) => target(`stay${i}`, store, scopesOn(m, 1, `reshard-stay-${i}-`)[0]!)),
    ];
    const load = startLoad(targets);
    await sleep(1_000);
    const began = Date.now();
    await cluster.reshard({ from, to, slots });
    const reshardMs = Date.now() - began;
    await sleep(500);
    const report = await load.stop();
    const verdict = await verify(targets);
    const owner = await cluster.masterOfSlot(first);
    console.log(
      `[cluster-faults] reshard: slots=${slots}, writes=${report.writes}, errors=${report.errors}, lost=${verdict.lost}, resurrected=${verdict.resurrected}, active=${verdict.active}, p50=${report.p50}ms, p99=${report.p99}ms, max=${report.max}ms, reshard took ${reshardMs}ms`,
    );
    expect(owner.id).toBe(to.id);
    expect(report.errorKinds).toEqual({});
    expect(verdict).toMatchObject({ lost: 0, resurrected: 0, inconsistent: [] });
  });

  it('a master killed with SIGKILL: the client resumes, durableWrites loses nothing', async () => {
    const masters = await cluster.masters();
    const victim = masters[0]!;
    expect(await cluster.replicasOf(victim)).toHaveLength(1);
    const plain = newStore(client);
    const durable = newStore(client, { durableWrites: { replicas: 1, timeoutMs: 500 } });
    const plainTargets: Target[] = [];
    const durableTargets: Target[] = [];
    for (const [i, m] of masters.entries()) {
      const role = m === victim ? 'victim' : 'other';
      const scopes = scopesOn(m, m === victim ? 4 : 2, `kill-${i}-`);
      plainTargets.push(target(`plain-${role}${i}.0`, plain, scopes[0]!));
      durableTargets.push(target(`durable-${role}${i}.1`, durable, scopes[1]!));
      if (m === victim) {
        plainTargets.push(target(`plain-${role}${i}.2`, plain, scopes[2]!));
        durableTargets.push(target(`durable-${role}${i}.3`, durable, scopes[3]!));
      }
    }
    const load = startLoad([...plainTargets, ...durableTargets]);
    await sleep(1_000);
    const killedAt = Date.now();
    await cluster.kill(victim);
    const promoted = await cluster.waitForPromotion(victim);
    const promotedMs = Date.now() - killedAt;
    // the new master has no replica yet: durable writes to it fail TIMEOUT until it has one
    await sleep(1_000);
    const restartAt = Date.now();
    await cluster.restart(victim);
    const rejoinedMs = Date.now() - restartAt;
    await sleep(1_000);
    const report = await load.stop();
    const plainVerdict = await verify(plainTargets);
    const durableVerdict = await verify(durableTargets);
    const gap = (ts: Target[], who = 'victim') =>
      Math.max(...ts.filter((t) => t.name.includes(who)).map((t) => t.maxGapMs));
    const plainErrors = Object.entries(report.errorKinds)
      .filter(([k]) => k.startsWith('plain'))
      .reduce((s, [, v]) => s + v, 0);
    console.log(
      `[cluster-faults] kill: writes=${report.writes}, errors=${report.errors} (plain ${plainErrors}, durable ${report.errors - plainErrors}), lost without durableWrites=${plainVerdict.lost}, lost with durableWrites=${durableVerdict.lost}, resurrected=${plainVerdict.resurrected}/${durableVerdict.resurrected}, client pause on the killed master's scopes=${gap(plainTargets)}ms (durable ${gap(durableTargets)}ms), on other masters' scopes=${gap(plainTargets, 'other')}ms, replica promoted after ${promotedMs}ms, killed node rejoined as replica in ${rejoinedMs}ms, p99=${report.p99}ms, max=${report.max}ms`,
    );
    console.log(`[cluster-faults] kill: error kinds ${JSON.stringify(report.errorKinds)}`);
    expect(promoted.role).toBe('master');
    expect(victim.role).toBe('replica');
    expect(gap(plainTargets)).toBeLessThan(10_000);
    expect(durableVerdict.lost).toBe(0);
    expect(durableVerdict.resurrected).toBe(0);
    // only the codes of a fault (no NOSCRIPT from the promoted replica reaches the app as INTERNAL),
    // and the one documented answer of a re-send: an `end` applied on the killed master, whose reply
    // was lost, is re-sent by ioredis to the promoted replica, which already has it applied and
    // answers NOT_FOUND (no tombstone is kept; README, "end"). It is the only op allowed to.
    const unexpected = Object.keys(report.errorKinds).filter((kind) => {
      const [, code, op] = kind.split(' ');
      if (code === 'TIMEOUT:' || code === 'REDIS_UNAVAILABLE:') return false;
      return !(code === 'NOT_FOUND:' && op === 'end:');
    });
    expect(unexpected).toEqual([]);
    expect(plainVerdict.inconsistent).toEqual([]);
    expect(durableVerdict.inconsistent).toEqual([]);
  });
});
