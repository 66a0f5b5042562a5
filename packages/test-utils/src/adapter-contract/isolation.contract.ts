import { expect, it } from 'vitest';
import type { ContractContext } from './context.js';
import { runBody } from './context.js';

/**
 * A caller of workspace A gets nothing of workspace B, on every route, through the path, the
 * query, the body, a cursor or the event stream.
 */
export function isolationContract(ctx: ContractContext): void {
  async function twoWorkspaces() {
    const a = ctx.as(ctx.scope('a'));
    const b = ctx.as(ctx.scope('b'));
    // the same id in both, and ids only B has
    expect((await a.post('/runs/active', runBody('shared', { caption: 'of A' }))).status).toBe(201);
    expect((await b.post('/runs/active', runBody('shared', { caption: 'of B' }))).status).toBe(201);
    for (const id of ['b1', 'b2', 'b3']) {
      expect((await b.post('/runs/active', runBody(id, { source: 'b-only' }))).status).toBe(201);
    }
    return { a, b };
  }

  it('lists, counts and gets only the caller’s own runs', async () => {
    const { a } = await twoWorkspaces();
    const page = await a.get('/runs/active?limit=500');
    expect(page.body).toMatchObject({ total: 1, nextCursor: null });
    expect(page.body.items).toEqual([expect.objectContaining({ id: 'shared', caption: 'of A' })]);
    expect((await a.get('/runs/active?source=b-only')).body).toMatchObject({ total: 0, items: [] });
    expect((await a.get('/runs/active/counts')).body).toEqual({
      total: 1,
      byStatus: { queued: 1, running: 0 },
      bySource: { api: 1 },
    });
    expect((await a.get('/runs/active/shared')).body.caption).toBe('of A');
    expect((await a.get('/runs/active/b1')).status).toBe(404);
  });

  it('a cursor taken from workspace B is refused, never a page of B', async () => {
    const { a, b } = await twoWorkspaces();
    const pageOfB = await b.get('/runs/active?limit=1');
    const cursor = encodeURIComponent(pageOfB.body.nextCursor);
    const answer = await a.get(`/runs/active?limit=1&cursor=${cursor}`);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'cursor' });
  });

  it('no query parameter or body field selects another workspace', async () => {
    const { a, b } = await twoWorkspaces();
    const bScope = b.scope!;
    const query = `workspaceId=${bScope.workspaceId}&projectId=${bScope.projectId}`;
    for (const path of [
      `/runs/active?${query}`,
      `/runs/active/counts?${query}`,
      `/runs/active/b1?${query}`,
      `/runs/active/events?${query}`,
    ]) {
      const answer = await a.get(path);
      expect({ path, status: answer.status }).toEqual({ path, status: 400 });
      expect(answer.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workspaceId' });
    }
    const enqueue = await a.post('/runs/active', {
      ...runBody('b1'),
      workspaceId: bScope.workspaceId,
    });
    expect(enqueue.status).toBe(400);
    const progress = await a.patch('/runs/active/shared', {
      caption: 'x',
      scope: bScope,
    });
    expect(progress.status).toBe(400);
    expect((await b.get('/runs/active/b1')).body.caption).toBe('queued');
    expect((await b.get('/runs/active/shared')).body.caption).toBe('of B');
  });

  it('writes by A never touch B’s runs, even with the same id', async () => {
    const { a, b } = await twoWorkspaces();
    for (const [method, path, body] of [
      ['POST', '/runs/active/b1/start'],
      ['POST', '/runs/active/b1/heartbeat'],
      ['PATCH', '/runs/active/b1', { caption: 'hijacked' }],
      ['DELETE', '/runs/active/b1'],
    ] as [string, string, unknown?][]) {
      const answer = await a.request(method, path, body);
      expect({ method, path, status: answer.status }).toEqual({ method, path, status: 404 });
    }
    await a.post('/runs/active/shared/start');
    await a.patch('/runs/active/shared', { caption: 'A progressed' });
    expect((await a.delete('/runs/active/shared')).status).toBe(200);
    const ofB = await b.get('/runs/active/shared');
    expect(ofB.body).toMatchObject({ status: 'queued', caption: 'of B' });
    expect((await b.get('/runs/active/b1')).body).toMatchObject({
      status: 'queued',
      caption: 'queued',
    });
    expect((await b.get('/runs/active/counts')).body.total).toBe(4);
  });

  it('the event stream of A carries none of B’s changes', async () => {
    const scopeA = ctx.scope('a');
    const scopeB = ctx.scope('b');
    const a = ctx.as(scopeA);
    const b = ctx.as(scopeB);
    const viewerA = await ctx.sse(scopeA);
    const viewerB = await ctx.sse(scopeB);
    await viewerA.event(1);
    await viewerB.event(1);
    await b.post('/runs/active', runBody('b1'));
    await b.post('/runs/active/b1/start');
    await b.delete('/runs/active/b1');
    await viewerB.until(() => viewerB.events.length >= 4, 'B’s three changes');
    await a.post('/runs/active', runBody('a1'));
    await viewerA.until(() => viewerA.events.some((e) => e.event === 'queued'), 'A’s change');
    expect(viewerA.events.map((e) => [e.event, e.data.id ?? null])).toEqual([
      ['gap', null],
      ['queued', 'a1'],
    ]);
    expect(viewerA.events.every((e) => e.data.scope.workspaceId === scopeA.workspaceId)).toBe(true);
  });
}
