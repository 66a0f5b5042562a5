import type { RunEvent, Scope } from '@active-runs/core';
import { afterAll, describe, expect, it } from 'vitest';
import { seedRuns } from '../src/simulator/seed.js';
import { startTraffic } from '../src/simulator/traffic.js';
import { Demo } from './harness.js';

const demo = new Demo();
afterAll(() => demo.close());

describe('the traffic', () => {
  it('takes runs through their whole life, and some workers die so the sweeper expires their runs', async () => {
    const scopes: Scope[] = [
      { workspaceId: 'sim', projectId: 'one' },
      { workspaceId: 'sim', projectId: 'two' },
    ];
    const seen = new Map<string, Set<string>>();
    const expired: string[] = [];
    const unsubscribes = await Promise.all(
      scopes.map((scope) =>
        demo.store.subscribe(scope, (event: RunEvent) => {
          const types = seen.get(scope.projectId as string) ?? new Set();
          types.add(event.type);
          seen.set(scope.projectId as string, types);
          if (event.type === 'expired') expired.push(event.id);
        }),
      ),
    );
    const logs: string[] = [];
    const { store } = demo;
    const traffic = startTraffic({
      store,
      scopes,
      ratePerSecond: 15,
      queueSeconds: 0.05,
      runSeconds: 0.4,
      dieRatio: 0.3,
      // margin for a stalled event loop on a busy machine: a live worker's run never lapses
      leaseMs: 3_000,
      maxActive: 50,
      log: (line) => logs.push(line),
    });
    const sweeper = setInterval(() => {
      void store.sweep();
    }, 100);
    // the demo's servers run the sweeper; here the test does
    try {
      const lifecycle = ['gap', 'queued', 'started', 'progress', 'heartbeat', 'ended', 'expired'];
      await expect
        .poll(
          () => scopes.map((scope) => [...(seen.get(scope.projectId as string) ?? [])].sort()),
          {
            timeout: 15_000,
          },
        )
        .toEqual([lifecycle.sort(), lifecycle.sort()]);
      // the runs that expired are those whose worker died
      const died = logs.map(
        (line) => /^the worker of run (\S{8}) in sim\/(one|two) died/.exec(line)?.[1],
      );
      expect(died.filter(Boolean)).toEqual(
        expect.arrayContaining(expired.map((id) => id.slice(0, 8))),
      );
      expect(logs.filter((line) => line.startsWith('a worker failed'))).toEqual([]);
    } finally {
      await traffic.stop();
      for (const unsubscribe of unsubscribes) await unsubscribe();
    }
    // after the stop: runs in flight were ended; those of dead workers lapse and are swept
    await expect
      .poll(
        async () => (await Promise.all(scopes.map((s) => store.counts(s)))).map((c) => c.total),
        {
          timeout: 10_000,
        },
      )
      .toEqual([0, 0]);
    clearInterval(sweeper);
    expect(traffic.active(scopes[0]!)).toBe(0);
  });

  it('keeps a project at most at maxActive runs', async () => {
    const scope = { workspaceId: 'sim', projectId: 'capped' };
    const traffic = startTraffic({
      store: demo.store,
      scopes: [scope],
      ratePerSecond: 200,
      queueSeconds: 10,
      runSeconds: 10,
      dieRatio: 0,
      leaseMs: 30_000,
      maxActive: 3,
      log: () => {},
    });
    try {
      await expect.poll(() => traffic.active(scope), { timeout: 5_000 }).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await demo.store.counts(scope)).total).toBe(3);
    } finally {
      await traffic.stop();
    }
    expect((await demo.store.counts(scope)).total).toBe(0);
  });
});

describe('--seed', () => {
  it('loads N runs into one project, one in ten running, and reports every tenth', async () => {
    const scope = { workspaceId: 'sim', projectId: 'bulk' };
    const logs: string[] = [];
    const result = await seedRuns({
      store: demo.store,
      scope,
      count: 3_000,
      batchSize: 500,
      log: (line) => logs.push(line),
    });
    expect(result.seeded).toBe(3_000);
    const counts = await demo.store.counts(scope);
    expect(counts).toEqual({
      total: 3_000,
      byStatus: { queued: 2_700, running: 300 },
      bySource: { api: 750, playground: 750, evaluation: 750, batch: 750 },
    });
    const page = await demo.store.list(scope, { limit: 25 });
    expect(page.items.map((run) => run.status)).toEqual(Array(25).fill('running'));
    expect(page.total).toBe(3_000);
    expect(logs).toHaveLength(6);
    expect(logs.at(-1)).toBe('seeded 3,000 of 3,000 runs into sim/bulk');
  });

  it('stops between batches when asked', async () => {
    const scope = { workspaceId: 'sim', projectId: 'aborted' };
    const controller = new AbortController();
    const result = await seedRuns({
      store: demo.store,
      scope,
      count: 10_000,
      batchSize: 100,
      signal: controller.signal,
      log: () => controller.abort(),
    });
    expect(result.seeded).toBeLessThan(10_000);
    expect((await demo.store.counts(scope)).total).toBe(result.seeded);
  });
});
