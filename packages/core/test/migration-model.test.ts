import { uniquePrefix } from '@active-runs/test-utils';
import { describe, expect, it } from 'vitest';
import type { ActiveRun, ActiveRunStore, Scope } from '../src/index.js';
import { migrateLegacy } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { migrationKeys } from '../src/legacy/checkpoint.js';
import { useStoreHarness } from './harness.js';
import { expectConsistent, listAll } from './legacy-fixtures.js';
import { listOrder } from './list-model.js';
import { redisClock } from './outcomes.js';

/**
 * The zero-downtime switch, end to end: 100k legacy runs in four scopes (on different shards of
 * a cluster) are migrated while a writer enqueues, starts, progresses and ends runs through the
 * rollout-mode store, and a reader walks pages with cursors. Afterwards the new layout equals
 * what a model of the writer's operations says; during it, no walk lists a run twice, and no page
 * shows a run whose end had returned before the page was asked for.
 */

const h = useStoreHarness();
const WINDOW = 3 * 3_600_000;
const { serverNow } = redisClock(h.client);
const iso = (ms: number) => new Date(ms).toISOString();
const SOURCES = [null, 'api', 'playground', 'evaluation'] as const;

/** Deterministic randomness (mulberry32), so a failure can be replayed. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The active runs of one scope as the model knows them, with O(1) random picks. */
class ScopeModel {
  readonly runs = new Map<string, ActiveRun>();
  private readonly ids: string[] = [];
  private readonly at = new Map<string, number>();
  /** When each ended run's `end` returned (performance.now()). */
  readonly endedAt = new Map<string, number>();
  /** Every id that was ever active. */
  readonly seen = new Set<string>();

  set(run: ActiveRun): void {
    if (!this.at.has(run.id)) {
      this.at.set(run.id, this.ids.length);
      this.ids.push(run.id);
    }
    this.runs.set(run.id, run);
    this.seen.add(run.id);
  }

  delete(id: string): void {
    const i = this.at.get(id)!;
    const last = this.ids.pop()!;
    if (last !== id) {
      this.ids[i] = last;
      this.at.set(last, i);
    }
    this.at.delete(id);
    this.runs.delete(id);
    this.endedAt.set(id, performance.now());
  }

  pick(rand: () => number): ActiveRun | undefined {
    const id = this.ids[Math.floor(rand() * this.ids.length)];
    return id === undefined ? undefined : this.runs.get(id);
  }
}

/** Seeds a legacy hash with `n` runs (and a few records that must not be copied). */
async function seedScope(key: string, tag: string, n: number, now: number, model: ScopeModel) {
  let fields: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const id = `${tag}-r${i}`;
    const queuedAt = now - 1_000 - i * 3;
    const startedAt = i % 3 === 0 ? queuedAt + 500 : null;
    const source = SOURCES[i % 4]!;
    const record: Record<string, unknown> = { uuid: id, queuedAt: iso(queuedAt), n: i };
    if (startedAt !== null) record.startedAt = iso(startedAt);
    if (source !== null) record.source = source;
    fields[id] = JSON.stringify(record);
    model.set({
      id,
      status: startedAt === null ? 'queued' : 'running',
      queuedAt,
      startedAt,
      source,
      caption: null,
      data: { n: i },
      leaseExpiresAt: queuedAt + WINDOW,
    });
    if (i % 1_000 === 999 || i === n - 1) {
      await h.client.hset(key, fields);
      fields = {};
    }
  }
  await h.client.hset(key, {
    [`${tag}-stale`]: JSON.stringify({
      uuid: `${tag}-stale`,
      queuedAt: iso(now - WINDOW - 60_000),
    }),
    [`${tag}-junk`]: '{"uuid":',
  });
}

describe('migration under load', () => {
  it('100k legacy runs migrate while a writer and a reader use the rollout store', async () => {
    const prefix = uniquePrefix('switch');
    const keyPrefix = `${prefix}:old:`;
    const store = h.store({ prefix, legacy: { keyPrefix } });
    const scopes = await h.scopesOnDifferentShards(3, 'sw');
    const small = { workspaceId: 'sw-small', projectId: 'p' };
    const all: Scope[] = [small, ...scopes];
    const sizes = [1_000, 33_000, 33_000, 33_000];
    const models = all.map(() => new ScopeModel());
    const now = await serverNow();
    for (const [i, scope] of all.entries()) {
      const key = `${keyPrefix}runs:active:${scope.workspaceId}:${scope.projectId}`;
      await seedScope(key, `s${i}`, sizes[i]!, now, models[i]!);
    }

    const rand = random(42);
    let migrating = true;
    let writes = 0;
    let walks = 0;
    let pagesFromBothLayouts = 0;

    const writer = async (rounds: number) => {
      for (let k = 0; migrating ? true : k < rounds; k++) {
        const i = Math.floor(rand() * all.length);
        const scope = all[i]!;
        const model = models[i]!;
        const roll = rand();
        const target = model.pick(rand);
        if (roll < 0.3 || !target) {
          const source = SOURCES[Math.floor(rand() * 4)]!;
          model.set(
            await store.enqueue(scope, { id: `s${i}-n${writes}`, source, data: { w: writes } }),
          );
        } else if (roll < 0.55) {
          model.set(await store.start(scope, target.id));
        } else if (roll < 0.7) {
          model.set(await store.progress(scope, target.id, { caption: `p${writes}` }));
        } else {
          const last = await store.end(scope, target.id);
          expect(last.id).toBe(target.id);
          model.delete(target.id);
        }
        writes++;
      }
    };

    // walks the small scope with cursors: no run twice in a walk, no run that had ended
    const reader = async () => {
      const model = models[0]!;
      while (migrating) {
        const listed = new Set<string>();
        let cursor: string | null = null;
        let sawLegacy = false;
        do {
          const requestedAt = performance.now();
          const migratedBefore = await h.client.hexists(
            migrationKeys(prefix, parseScope(small)).state,
            'migrated',
          );
          const page: Awaited<ReturnType<ActiveRunStore['list']>> = await store.list(small, {
            limit: 100,
            cursor,
          });
          if (migratedBefore === 0) sawLegacy = true;
          else if (sawLegacy) pagesFromBothLayouts++;
          for (const run of page.items) {
            expect(listed.has(run.id), `${run.id} listed twice in one walk`).toBe(false);
            listed.add(run.id);
            expect(model.seen.has(run.id), `${run.id} was never a run`).toBe(true);
            const ended = model.endedAt.get(run.id);
            expect(
              ended === undefined || ended > requestedAt,
              `${run.id} listed after its end`,
            ).toBe(true);
          }
          cursor = page.nextCursor;
        } while (cursor);
        walks++;
      }
    };

    const migration = migrateLegacy(store, { batchSize: 500 }).finally(() => {
      migrating = false;
    });
    const [report] = await Promise.all([migration, writer(0), reader()]);
    // and after the switch, the same operations on the new layout only
    await writer(300);

    expect(report).toMatchObject({ scopesMigrated: 4, failed: 0, aborted: false });
    expect(report.skipped['bad-json']).toBe(4);
    expect(report.skipped.stale).toBe(4);
    expect(writes).toBeGreaterThan(300);
    expect(walks).toBeGreaterThan(0);
    for (const [i, scope] of all.entries()) {
      const runs = await listAll(store, scope);
      expect(runs.length, `runs of scope ${i}`).toBe(models[i]!.runs.size);
      expect(runs, `scope ${i} against the model`).toEqual(listOrder(models[i]!.runs.values()));
      await expectConsistent(h.client, store, scope, runs);
      expect(await h.client.exists(migrationKeys(prefix, parseScope(scope)).tombstones)).toBe(0);
    }
    console.log(
      `[migration-model] ${h.topology}: ${report.copied} copied in ${report.durationMs} ms under ${writes} writes, ${walks} cursor walks (${pagesFromBothLayouts} crossed the switch)`,
    );
  });
});
