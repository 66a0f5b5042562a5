import { expect, it } from 'vitest';
import type { ContractContext } from './context.js';
import { runBody } from './context.js';

const RUN_KEYS = [
  'caption',
  'data',
  'id',
  'leaseExpiresAt',
  'queuedAt',
  'source',
  'startedAt',
  'status',
];

/** Every route answers what the store returns, with the status the API promises. */
export function routeContract(ctx: ContractContext): void {
  it('serves the API under the routes prefix only', async () => {
    const scope = ctx.scope();
    expect((await ctx.as(scope).get('/runs/active')).status).toBe(200);
    const outside = await fetch(`${ctx.app().url}/runs/active`, {
      headers: { 'x-workspace': scope.workspaceId },
    });
    await outside.text();
    expect(outside.status).toBe(404);
  });

  it('enqueue, start, heartbeat, progress and end answer the run, as the store returns it', async () => {
    const api = ctx.as(ctx.scope());
    const queued = await api.post('/runs/active', runBody('r1', { caption: 'waiting' }));
    expect(queued.status).toBe(201);
    expect(Object.keys(queued.body).sort()).toEqual(RUN_KEYS);
    expect(queued.body).toMatchObject({
      id: 'r1',
      status: 'queued',
      startedAt: null,
      source: 'api',
      caption: 'waiting',
      data: { model: 'm', tokens: 0 },
    });
    expect(queued.body.leaseExpiresAt).toBeGreaterThan(queued.body.queuedAt);

    const again = await api.post('/runs/active', runBody('r1', { caption: 'waiting' }));
    expect(again.status).toBe(201);
    expect(again.body).toEqual(queued.body);

    const started = await api.post('/runs/active/r1/start');
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ id: 'r1', status: 'running' });
    expect(started.body.startedAt).toEqual(expect.any(Number));

    const beat = await api.post('/runs/active/r1/heartbeat', { leaseMs: 60_000 });
    expect(beat.status).toBe(200);
    expect(beat.body.leaseExpiresAt).toBeLessThan(started.body.leaseExpiresAt);

    const progressed = await api.patch('/runs/active/r1', {
      caption: 'streaming',
      data: { model: 'm', tokens: 42 },
    });
    expect(progressed.status).toBe(200);
    expect(progressed.body).toMatchObject({
      caption: 'streaming',
      data: { model: 'm', tokens: 42 },
    });

    const cleared = await api.patch('/runs/active/r1', { caption: null });
    expect(cleared.body).toMatchObject({ caption: null, data: { model: 'm', tokens: 42 } });

    const got = await api.get('/runs/active/r1');
    expect(got.status).toBe(200);
    expect(got.body).toEqual(cleared.body);

    const ended = await api.delete('/runs/active/r1');
    expect(ended.status).toBe(200);
    expect(ended.body).toEqual(cleared.body);

    const gone = await api.get('/runs/active/r1');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('NOT_FOUND');
    const endedTwice = await api.delete('/runs/active/r1');
    expect(endedTwice.status).toBe(404);
    expect(endedTwice.body.error.code).toBe('NOT_FOUND');
  });

  it('start accepts an explicit startedAt; a different one for a running run is a 409', async () => {
    const api = ctx.as(ctx.scope());
    await api.post('/runs/active', runBody('r1'));
    const started = await api.post('/runs/active/r1/start', { startedAt: 1_700_000_000_000 });
    expect(started.body.startedAt).toBe(1_700_000_000_000);
    const conflict = await api.post('/runs/active/r1/start', { startedAt: 1_700_000_000_001 });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('CONFLICT');
  });

  it('enqueue with start answers the running run in one call; a re-send answers the same', async () => {
    const api = ctx.as(ctx.scope());
    const body = runBody('r1', { start: true });
    const running = await api.post('/runs/active', body);
    expect(running.status).toBe(201);
    expect(Object.keys(running.body).sort()).toEqual(RUN_KEYS);
    expect(running.body).toMatchObject({ id: 'r1', status: 'running', source: 'api' });
    expect(running.body.startedAt).toEqual(expect.any(Number));
    expect((await api.post('/runs/active', body)).body).toEqual(running.body);
    expect((await api.get('/runs/active/r1')).body).toEqual(running.body);
    expect((await api.get('/runs/active/counts')).body.byStatus).toEqual({ queued: 0, running: 1 });

    const at = await api.post(
      '/runs/active',
      runBody('r2', { start: { startedAt: 1_700_000_000_000 } }),
    );
    expect(at.body).toMatchObject({ status: 'running', startedAt: 1_700_000_000_000 });
    // a run enqueued without start is not started by an enqueue with start: a 409
    await api.post('/runs/active', runBody('r3'));
    const conflict = await api.post('/runs/active', runBody('r3', { start: true }));
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('CONFLICT');
  });

  it('enqueue with a different payload for an active id is a 409', async () => {
    const api = ctx.as(ctx.scope());
    await api.post('/runs/active', runBody('r1'));
    const conflict = await api.post('/runs/active', runBody('r1', { caption: 'other' }));
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('CONFLICT');
  });

  it('lists newest first (running, then queued), pages by cursor and by offset, filters, counts', async () => {
    const api = ctx.as(ctx.scope());
    for (const [id, queuedAt, source] of [
      ['q1', 1_000, 'api'],
      ['q2', 2_000, 'playground'],
      ['r1', 3_000, 'api'],
      ['r2', 4_000, 'api'],
    ] as const) {
      expect((await api.post('/runs/active', runBody(id, { queuedAt, source }))).status).toBe(201);
    }
    await api.post('/runs/active/r1/start', { startedAt: 5_000 });
    await api.post('/runs/active/r2/start', { startedAt: 6_000 });

    const all = await api.get('/runs/active');
    expect(all.status).toBe(200);
    expect(all.body.items.map((run: { id: string }) => run.id)).toEqual(['r2', 'r1', 'q2', 'q1']);
    expect(all.body).toMatchObject({ total: 4, nextCursor: null });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=1&cursor=${encodeURIComponent(cursor)}` : '?limit=1';
      const page = await api.get(`/runs/active${query}`);
      expect(page.status).toBe(200);
      expect(page.body.total).toBe(4);
      seen.push(...page.body.items.map((run: { id: string }) => run.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['r2', 'r1', 'q2', 'q1']);

    const offset = await api.get('/runs/active?page=2&pageSize=2');
    expect(offset.body.items.map((run: { id: string }) => run.id)).toEqual(['q2', 'q1']);

    const running = await api.get('/runs/active?status=running');
    expect(running.body).toMatchObject({ total: 2 });
    const playground = await api.get('/runs/active?source=playground');
    expect(playground.body.items.map((run: { id: string }) => run.id)).toEqual(['q2']);
    const both = await api.get('/runs/active?status=queued&source=api&limit=10');
    expect(both.body.items.map((run: { id: string }) => run.id)).toEqual(['q1']);

    const counts = await api.get('/runs/active/counts');
    expect(counts.status).toBe(200);
    expect(counts.body).toEqual({
      total: 4,
      byStatus: { queued: 2, running: 2 },
      bySource: { api: 3, playground: 1 },
    });
  });

  it("list answers the store's page as JSON, as JSON.stringify would write it", async () => {
    const scope = ctx.scope();
    const api = ctx.as(scope);
    // ids may hold `"` and `\`; captions any text; the adapter pastes stored JSON into the page
    const runs = [
      runBody('q"uo\\te', { caption: 'say "hi" ✓ 🚀 \u2028 \\ \n' }),
      { id: 'plain' },
      runBody('started', { source: 'playground', data: { model: 'ü 日本', tokens: 12345678 } }),
    ];
    for (const run of runs) expect((await api.post('/runs/active', run)).status).toBe(201);
    await api.post('/runs/active/started/start');
    const page = await api.get('/runs/active?limit=2');
    expect(page.status).toBe(200);
    expect(page.contentType).toBe('application/json; charset=utf-8');
    const stored = await ctx.app().store.list(scope, { limit: 2 });
    // the cursor is the same page's; everything else as the store returned it
    expect(page.body).toEqual(JSON.parse(JSON.stringify(stored)));
    const rest = await api.get(`/runs/active?cursor=${encodeURIComponent(page.body.nextCursor)}`);
    expect(rest.body).toEqual(
      JSON.parse(JSON.stringify(await ctx.app().store.list(scope, { cursor: stored.nextCursor! }))),
    );
    const bad = await api.get('/runs/active?limit=0');
    expect(bad.status).toBe(400);
    expect(bad.contentType).toMatch(/^application\/json/);
    expect(bad.body.error.field).toBe('limit');
  });
}
