import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ActiveRun, ActiveRunStore, ListOptions, Scope } from '../src/index.js';
import { scopeKeys } from '../src/index.js';
import { parseScope } from '../src/keys.js';
import { useStoreHarness } from './harness.js';
import { modelCounts, modelList } from './list-model.js';
import { expectOk, redisClock, settle } from './outcomes.js';

/**
 * Model-based test: random sequences of every operation on a few ids in two scopes, run against
 * the real store and an in-memory model. After every command, everything a user can observe
 * (get, counts, every filtered list) and the Redis invariants must match the model.
 * On failure fast-check prints the seed and the shrunk command sequence.
 */

const h = useStoreHarness();

const STORE_LEASE_MS = 3_600_000; // nothing lapses inside a property run
const IDS = ['a', 'b', 'B', 'run-10', 'run-9', '~x'] as const;
const SOURCES = ['api', 'web', 'eval'] as const;
const TIMES = [1_000, 2_000, 3_000] as const; // few values, so explicit times tie often
const LEASES = [120_000, 7_200_000] as const;
const CAPTIONS = ['c1', 'c2', ''] as const;
const DATA = [{ n: 1 }, { n: 2 }, [], 'text'] as const;

type Status = 'queued' | 'running';
type Filter = { status?: Status; source?: string };
const FILTERS: Filter[] = [
  {},
  { status: 'queued' },
  { status: 'running' },
  ...SOURCES.flatMap((source) => [
    { source },
    { source, status: 'queued' as const },
    { source, status: 'running' as const },
  ]),
];

interface Model {
  /** Active runs per scope (index 0 or 1), exactly as the store must return them. */
  runs: [Map<string, ActiveRun>, Map<string, ActiveRun>];
  /** Caption and data each active run was enqueued with: what a re-sent enqueue carries. */
  enqueued: [Map<string, Payload>, Map<string, Payload>];
}
type Payload = Pick<ActiveRun, 'caption' | 'data'>;
interface Real {
  store: ActiveRunStore;
  /** Per scope, two spellings of the same scope (integer and string parts where possible). */
  scopes: [[Scope, Scope], [Scope, Scope]];
}

const { timed } = redisClock(h.client);

function expectLease(run: ActiveRun, leaseMs: number, before: number, after: number): void {
  expect(run.leaseExpiresAt).toBeGreaterThanOrEqual(before + leaseMs);
  expect(run.leaseExpiresAt).toBeLessThanOrEqual(after + leaseMs);
}

const sameJson = (a: unknown, b: unknown) =>
  JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Everything observable, for both scopes, must equal the model. */
async function checkAll(m: Model, r: Real): Promise<void> {
  await Promise.all(
    ([0, 1] as const).map(async (i) => {
      const runs = m.runs[i];
      const [scope] = r.scopes[i];
      const keys = scopeKeys(r.store.prefix, parseScope(scope));
      const [gets, counts, pages, hlen, idx, lease, src] = await Promise.all([
        Promise.all(IDS.map((id) => r.store.get(scope, id))),
        r.store.counts(scope),
        Promise.all(FILTERS.map((f) => r.store.list(scope, { ...f, limit: 500 }))),
        h.client.hlen(keys.runs),
        h.client.zcard(keys.index),
        h.client.zcard(keys.lease),
        h.client.zcard(keys.bySource),
      ]);
      IDS.forEach((id, k) => {
        expect(gets[k], `get ${id} in scope ${i}`).toEqual(runs.get(id) ?? null);
      });
      expect(counts, `counts of scope ${i}`).toEqual(modelCounts(runs));
      FILTERS.forEach((filter, k) => {
        const expected = modelList(runs, filter);
        expect(pages[k], `list ${JSON.stringify(filter)} of scope ${i}`).toEqual({
          items: expected,
          total: expected.length,
          nextCursor: null,
        });
      });
      expect({ hlen, idx, lease }, `Redis invariants of scope ${i}`).toEqual({
        hlen: runs.size,
        idx: runs.size,
        lease: runs.size,
      });
      expect(src, `by-source index of scope ${i}`).toBe(
        [...runs.values()].filter((run) => run.source !== null).length,
      );
    }),
  );
}

class Cmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    private readonly label: string,
    private readonly exec: (m: Model, r: Real) => Promise<void>,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    await this.exec(m, r);
    await checkAll(m, r);
  }
  toString(): string {
    return this.label;
  }
}

const scopeArb = fc.constantFrom(0 as const, 1 as const);
const formArb = fc.constantFrom(0 as const, 1 as const);
const idArb = fc.constantFrom(...IDS);
const timeArb = fc.option(fc.constantFrom(...TIMES), { nil: undefined });
const leaseArb = fc.option(fc.constantFrom(...LEASES), { nil: undefined });
const captionArb = fc.option(fc.constantFrom<string | null>(...CAPTIONS, null), {
  nil: undefined,
});
const dataArb = fc.option(fc.constantFrom<unknown>(...DATA, null), { nil: undefined });
const filterArb = fc.record(
  {
    status: fc.constantFrom<Status>('queued', 'running'),
    source: fc.constantFrom<string>(...SOURCES, 'never-used'),
  },
  { requiredKeys: [] },
);

const enqueueCmd = fc
  .record({
    s: scopeArb,
    form: formArb,
    id: idArb,
    source: fc.option(fc.constantFrom(...SOURCES), { nil: undefined }),
    caption: captionArb,
    data: dataArb,
    queuedAt: timeArb,
    leaseMs: leaseArb,
  })
  .map(
    ({ s, form, id, ...input }) =>
      new Cmd(`enqueue(${s}, ${JSON.stringify({ id, ...input })})`, async (m, r) => {
        const runs = m.runs[s];
        const existing = runs.get(id);
        const { outcome, before, after } = await timed(() =>
          r.store.enqueue(r.scopes[s][form], { id, ...input }),
        );
        if (existing) {
          // the same request as the enqueue that created the run (progress may have changed it)
          const original = m.enqueued[s].get(id)!;
          const same =
            existing.source === (input.source ?? null) &&
            original.caption === (input.caption ?? null) &&
            sameJson(original.data, input.data) &&
            (input.queuedAt === undefined || input.queuedAt === existing.queuedAt);
          if (same) expect(expectOk(outcome)).toEqual(existing);
          else expect(outcome).toEqual({ ok: false, code: 'CONFLICT' });
          return;
        }
        const run = expectOk(outcome);
        expect(run).toMatchObject({
          id,
          status: 'queued',
          startedAt: null,
          source: input.source ?? null,
          caption: input.caption ?? null,
          data: input.data ?? null,
        });
        if (input.queuedAt !== undefined) expect(run.queuedAt).toBe(input.queuedAt);
        else {
          expect(run.queuedAt).toBeGreaterThanOrEqual(before);
          expect(run.queuedAt).toBeLessThanOrEqual(after);
        }
        expectLease(run, input.leaseMs ?? STORE_LEASE_MS, before, after);
        runs.set(id, run);
        m.enqueued[s].set(id, { caption: run.caption, data: run.data });
      }),
  );

const startCmd = fc
  .record({ s: scopeArb, form: formArb, id: idArb, startedAt: timeArb, leaseMs: leaseArb })
  .map(
    ({ s, form, id, startedAt, leaseMs }) =>
      new Cmd(`start(${s}, ${id}, ${JSON.stringify({ startedAt, leaseMs })})`, async (m, r) => {
        const runs = m.runs[s];
        const existing = runs.get(id);
        const options = {
          ...(startedAt === undefined ? {} : { startedAt }),
          ...(leaseMs === undefined ? {} : { leaseMs }),
        };
        const { outcome, before, after } = await timed(() =>
          r.store.start(r.scopes[s][form], id, options),
        );
        if (!existing) {
          expect(outcome).toEqual({ ok: false, code: 'NOT_FOUND' });
          return;
        }
        if (existing.status === 'running') {
          if (startedAt !== undefined && startedAt !== existing.startedAt) {
            expect(outcome).toEqual({ ok: false, code: 'CONFLICT' });
          } else {
            expect(expectOk(outcome)).toEqual(existing);
          }
          return;
        }
        const run = expectOk(outcome);
        const { leaseExpiresAt: _, ...rest } = existing;
        expect(run).toMatchObject({ ...rest, status: 'running', startedAt: run.startedAt });
        if (startedAt !== undefined) expect(run.startedAt).toBe(startedAt);
        else {
          expect(run.startedAt).toBeGreaterThanOrEqual(before);
          expect(run.startedAt).toBeLessThanOrEqual(after);
        }
        expectLease(run, leaseMs ?? STORE_LEASE_MS, before, after);
        runs.set(id, run);
      }),
  );

const progressCmd = fc
  .record({
    s: scopeArb,
    form: formArb,
    id: idArb,
    caption: captionArb,
    data: dataArb,
    leaseMs: leaseArb,
  })
  .map(
    ({ s, form, id, ...input }) =>
      new Cmd(`progress(${s}, ${id}, ${JSON.stringify(input)})`, async (m, r) => {
        const runs = m.runs[s];
        const existing = runs.get(id);
        const payload = Object.fromEntries(
          Object.entries(input).filter(([, v]) => v !== undefined),
        );
        const { outcome, before, after } = await timed(() =>
          r.store.progress(r.scopes[s][form], id, payload),
        );
        if (!existing) {
          expect(outcome).toEqual({ ok: false, code: 'NOT_FOUND' });
          return;
        }
        const run = expectOk(outcome);
        expect(run).toEqual({
          ...existing,
          caption: input.caption === undefined ? existing.caption : input.caption,
          data: input.data === undefined ? existing.data : input.data,
          leaseExpiresAt: run.leaseExpiresAt,
        });
        expectLease(run, input.leaseMs ?? STORE_LEASE_MS, before, after);
        runs.set(id, run);
      }),
  );

const heartbeatCmd = fc.record({ s: scopeArb, form: formArb, id: idArb, leaseMs: leaseArb }).map(
  ({ s, form, id, leaseMs }) =>
    new Cmd(`heartbeat(${s}, ${id}, ${leaseMs})`, async (m, r) => {
      const runs = m.runs[s];
      const existing = runs.get(id);
      const { outcome, before, after } = await timed(() =>
        r.store.heartbeat(r.scopes[s][form], id, leaseMs === undefined ? undefined : { leaseMs }),
      );
      if (!existing) {
        expect(outcome).toEqual({ ok: false, code: 'NOT_FOUND' });
        return;
      }
      const run = expectOk(outcome);
      expect(run).toEqual({ ...existing, leaseExpiresAt: run.leaseExpiresAt });
      expectLease(run, leaseMs ?? STORE_LEASE_MS, before, after);
      runs.set(id, run);
    }),
);

const endCmd = fc.record({ s: scopeArb, form: formArb, id: idArb }).map(
  ({ s, form, id }) =>
    new Cmd(`end(${s}, ${id})`, async (m, r) => {
      const runs = m.runs[s];
      const existing = runs.get(id);
      const outcome = await settle(r.store.end(r.scopes[s][form], id));
      if (!existing) {
        expect(outcome).toEqual({ ok: false, code: 'NOT_FOUND' });
        return;
      }
      expect(expectOk(outcome)).toEqual(existing);
      runs.delete(id);
      m.enqueued[s].delete(id);
    }),
);

const getCmd = fc.record({ s: scopeArb, form: formArb, id: idArb }).map(
  ({ s, form, id }) =>
    new Cmd(`get(${s}, ${id})`, async (m, r) => {
      expect(await r.store.get(r.scopes[s][form], id)).toEqual(m.runs[s].get(id) ?? null);
    }),
);

const countsCmd = fc.record({ s: scopeArb, form: formArb }).map(
  ({ s, form }) =>
    new Cmd(`counts(${s})`, async (m, r) => {
      expect(await r.store.counts(r.scopes[s][form])).toEqual(modelCounts(m.runs[s]));
    }),
);

const cursorWalkCmd = fc
  .record({ s: scopeArb, form: formArb, filter: filterArb, limit: fc.integer({ min: 1, max: 4 }) })
  .map(
    ({ s, form, filter, limit }) =>
      new Cmd(`list-walk(${s}, ${JSON.stringify(filter)}, limit ${limit})`, async (m, r) => {
        const expected = modelList(m.runs[s], filter);
        const pages: ActiveRun[][] = [];
        let cursor: string | null = null;
        do {
          const options: ListOptions = { ...filter, limit, cursor };
          const page = await r.store.list(r.scopes[s][form], options);
          expect(page.total).toBe(expected.length);
          expect(page.items.length).toBeLessThanOrEqual(limit);
          pages.push(page.items);
          cursor = page.nextCursor;
          expect(pages.length).toBeLessThanOrEqual(expected.length + 1);
        } while (cursor);
        expect(pages.flat()).toEqual(expected);
        // full pages until the last one (nothing lapses, so no page comes back short)
        for (const page of pages.slice(0, -1)) expect(page).toHaveLength(limit);
      }),
  );

const offsetCmd = fc
  .record({
    s: scopeArb,
    form: formArb,
    filter: filterArb,
    pageSize: fc.integer({ min: 1, max: 4 }),
  })
  .map(
    ({ s, form, filter, pageSize }) =>
      new Cmd(
        `list-offset(${s}, ${JSON.stringify(filter)}, pageSize ${pageSize})`,
        async (m, r) => {
          const expected = modelList(m.runs[s], filter);
          const last = Math.ceil(expected.length / pageSize) + 1; // one page beyond the end
          for (let page = 1; page <= last; page++) {
            const got = await r.store.list(r.scopes[s][form], { ...filter, page, pageSize });
            expect(got.items, `page ${page}`).toEqual(
              expected.slice((page - 1) * pageSize, page * pageSize),
            );
            expect(got.total).toBe(expected.length);
          }
        },
      ),
  );

const ALL_COMMANDS = [
  enqueueCmd,
  enqueueCmd, // the most common write, so scopes fill up
  startCmd,
  progressCmd,
  heartbeatCmd,
  endCmd,
  getCmd,
  countsCmd,
  cursorWalkCmd,
  offsetCmd,
];

describe('store against an in-memory model', () => {
  it('random operation sequences keep the store equal to the model', async () => {
    const store = h.store({ leaseMs: STORE_LEASE_MS });
    let runNo = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.commands(ALL_COMMANDS, { maxCommands: 40, size: 'max' }),
        async (cmds) => {
          // fresh scopes for every run (and every shrink attempt) on the same store
          const n = ++runNo;
          const real: Real = {
            store,
            scopes: [
              [
                { workspaceId: n, projectId: 7 },
                { workspaceId: String(n), projectId: '7' },
              ],
              [
                { workspaceId: `w-${n}`, projectId: 'p.2' },
                { workspaceId: `w-${n}`, projectId: 'p.2' },
              ],
            ],
          };
          const model: Model = { runs: [new Map(), new Map()], enqueued: [new Map(), new Map()] };
          await fc.asyncModelRun(() => ({ model, real }), cmds);
        },
      ),
      { numRuns: 40 },
    );
  });
});
