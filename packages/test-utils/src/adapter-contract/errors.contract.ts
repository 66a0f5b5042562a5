import { expect, it } from 'vitest';
import { startRedisServer } from '../redis-server.js';
import type { ContractContext } from './context.js';
import { runBody } from './context.js';
import { FORBIDDEN_WORKSPACE } from './harness.js';
import type { ApiAnswer } from './http-client.js';

/** Every route, as [method, path, body]. */
const EVERY_ROUTE: [string, string, unknown?][] = [
  ['GET', '/runs/active'],
  ['GET', '/runs/active/counts'],
  ['GET', '/runs/active/events'],
  ['GET', '/runs/active/r1'],
  ['POST', '/runs/active', runBody('r1')],
  ['POST', '/runs/active/r1/start'],
  ['POST', '/runs/active/r1/heartbeat'],
  ['PATCH', '/runs/active/r1', { caption: 'x' }],
  ['DELETE', '/runs/active/r1'],
];

/** The API's error body, and nothing that looks like a stack trace. */
function expectApiError(answer: ApiAnswer, status: number, code: string, field?: string) {
  expect({ status: answer.status, body: answer.body }).toMatchObject({
    status,
    body: { error: { code, ...(field === undefined ? {} : { field }) } },
  });
  expect(Object.keys(answer.body)).toEqual(['error']);
  expect(
    Object.keys(answer.body.error).every((key) => ['code', 'message', 'field'].includes(key)),
  ).toBe(true);
  expect(answer.body.error.message).toEqual(expect.any(String));
  expect(answer.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
}

/** Bad input gets a 4xx naming the field; store errors map through HTTP_STATUS_BY_CODE. */
export function errorContract(ctx: ContractContext): void {
  it('bad paging and filter queries are 400s naming the query parameter', async () => {
    const api = ctx.as(ctx.scope());
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=-5', 'limit'],
      ['limit=501', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1.5', 'limit'],
      ['limit=', 'limit'],
      ['pageSize=0', 'pageSize'],
      ['page=0&pageSize=10', 'page'],
      ['page=-1', 'page'],
      ['page=1000&pageSize=500', 'page'],
      ['limit=10&pageSize=20', 'pageSize'],
      ['page=2&cursor=abc', 'cursor'],
      ['status=done', 'status'],
      ['source=a%20b', 'source'],
      ['source=%7Bx%7D', 'source'],
      ['cursor=not-a-cursor', 'cursor'],
      ['limit=1&limit=2', 'limit'],
    ]) {
      expectApiError(await api.get(`/runs/active?${query}`), 400, 'INVALID_ARGUMENT', field);
    }
  });

  it('an edited cursor is a 400, never a wrong page', async () => {
    const api = ctx.as(ctx.scope());
    await api.post('/runs/active', runBody('r1'));
    await api.post('/runs/active', runBody('r2'));
    const page = await api.get('/runs/active?limit=1');
    const cursor: string = page.body.nextCursor;
    const last = cursor.at(-1) === 'A' ? 'B' : 'A';
    const edited = `${cursor.slice(0, -1)}${last}`;
    expectApiError(
      await api.get(`/runs/active?limit=1&cursor=${encodeURIComponent(edited)}`),
      400,
      'INVALID_ARGUMENT',
      'cursor',
    );
    const otherFilter = await api.get(
      `/runs/active?limit=1&status=queued&cursor=${encodeURIComponent(cursor)}`,
    );
    expectApiError(otherFilter, 400, 'INVALID_ARGUMENT', 'cursor');
  });

  it('run ids with braces, colons, spaces, newlines or over 128 characters are 400s naming runId', async () => {
    const api = ctx.as(ctx.scope());
    for (const id of ['a%7Bb', 'a%7Db', 'a%3Ab', 'a%20b', 'a%0Ab', 'x'.repeat(129)]) {
      expectApiError(await api.get(`/runs/active/${id}`), 400, 'INVALID_ARGUMENT', 'runId');
      expectApiError(await api.post(`/runs/active/${id}/start`), 400, 'INVALID_ARGUMENT', 'runId');
      expectApiError(await api.delete(`/runs/active/${id}`), 400, 'INVALID_ARGUMENT', 'runId');
    }
  });

  it('bad enqueue bodies are 400s naming the field; oversized ones are 413s', async () => {
    const api = ctx.as(ctx.scope());
    const cases: [unknown, number, string, string][] = [
      [{ source: 'api' }, 400, 'INVALID_ARGUMENT', 'id'],
      [runBody('a{b'), 400, 'INVALID_ARGUMENT', 'id'],
      [runBody('a:b'), 400, 'INVALID_ARGUMENT', 'id'],
      [runBody('a\nb'), 400, 'INVALID_ARGUMENT', 'id'],
      [runBody(42 as unknown as string), 400, 'INVALID_ARGUMENT', 'id'],
      [
        runBody('r1', { data: { model: 'm', tokens: 'many' } }),
        400,
        'INVALID_ARGUMENT',
        'data.tokens',
      ],
      [runBody('r1', { data: { model: 'm', tokens: -1 } }), 400, 'INVALID_ARGUMENT', 'data.tokens'],
      [runBody('r1', { leaseMs: -1 }), 400, 'INVALID_ARGUMENT', 'leaseMs'],
      [runBody('r1', { queuedAt: 'yesterday' }), 400, 'INVALID_ARGUMENT', 'queuedAt'],
      [runBody('r1', { source: 'not a label' }), 400, 'INVALID_ARGUMENT', 'source'],
      [runBody('r1', { status: 'running' }), 400, 'INVALID_ARGUMENT', 'status'],
      [runBody('r1', { start: 'yes' }), 400, 'INVALID_ARGUMENT', 'start'],
      [runBody('r1', { start: { startedAt: -1 } }), 400, 'INVALID_ARGUMENT', 'start.startedAt'],
      [runBody('r1', { caption: 'x'.repeat(501) }), 413, 'PAYLOAD_TOO_LARGE', 'caption'],
      [
        runBody('r1', { data: { model: 'x'.repeat(20_000), tokens: 1 } }),
        413,
        'PAYLOAD_TOO_LARGE',
        'data',
      ],
      [[runBody('r1')], 400, 'INVALID_ARGUMENT', 'body'],
    ];
    for (const [body, status, code, field] of cases) {
      expectApiError(await api.post('/runs/active', body), status, code, field);
    }
    expectApiError(await api.post('/runs/active'), 400, 'INVALID_ARGUMENT', 'body');
    // a body that is not JSON is refused by the framework's body parser, before any route runs
    // (Fastify's plugin answers it with the API's error body; in Nest, the app's filters do)
    const notJson = await api.post('/runs/active', '{"id": "r1",');
    expect(notJson.status).toBe(400);
    expect(notJson.text).not.toMatch(/\n\s+at |node_modules/);
    expect((await api.get('/runs/active')).body.total).toBe(0);
  });

  it('bad start, heartbeat and progress bodies are 400s naming the field', async () => {
    const api = ctx.as(ctx.scope());
    await api.post('/runs/active', runBody('r1'));
    expectApiError(
      await api.post('/runs/active/r1/start', { startedAt: -1 }),
      400,
      'INVALID_ARGUMENT',
      'startedAt',
    );
    expectApiError(
      await api.post('/runs/active/r1/heartbeat', { leaseMs: 'soon' }),
      400,
      'INVALID_ARGUMENT',
      'leaseMs',
    );
    expectApiError(
      await api.patch('/runs/active/r1', { caption: 7 }),
      400,
      'INVALID_ARGUMENT',
      'caption',
    );
    expectApiError(
      await api.patch('/runs/active/r1', { data: { model: 1, tokens: 0 } }),
      400,
      'INVALID_ARGUMENT',
      'data.model',
    );
    expectApiError(
      await api.patch('/runs/active/r1', { status: 'running' }),
      400,
      'INVALID_ARGUMENT',
      'status',
    );
    expect((await api.get('/runs/active/r1')).body).toMatchObject({
      status: 'queued',
      caption: 'queued',
    });
  });

  it('writes to a run that is not active are 404s', async () => {
    const api = ctx.as(ctx.scope());
    for (const [method, path, body] of [
      ['POST', '/runs/active/nope/start'],
      ['POST', '/runs/active/nope/heartbeat'],
      ['PATCH', '/runs/active/nope', { caption: 'x' }],
      ['DELETE', '/runs/active/nope'],
    ] as [string, string, unknown?][]) {
      expectApiError(await api.request(method, path, body), 404, 'NOT_FOUND');
    }
  });

  it('an invalid scope from resolveScope is the app’s bug: a 500 that says so', async () => {
    const answer = await ctx.as({ workspaceId: 'a{b', projectId: 'p1' }).get('/runs/active');
    expectApiError(answer, 500, 'INTERNAL');
    expect(answer.body.error.message).toMatch(/resolveScope returned an invalid scope/);
  });

  it('Redis going away is a 503 (or a 504), with the API error body, on reads, writes and the stream', async () => {
    const server = await startRedisServer();
    try {
      const app = await ctx.start({
        ...ctx.options(),
        redisUrl: server.url,
        commandTimeoutMs: 500,
      });
      const api = ctx.as(ctx.scope(), app);
      expect((await api.post('/runs/active', runBody('r1'))).status).toBe(201);
      await server.stop();
      for (const answer of [
        await api.get('/runs/active'),
        await api.post('/runs/active', runBody('r2')),
        await api.get('/runs/active/events'),
      ]) {
        expect([503, 504]).toContain(answer.status);
        expect(answer.body.error.code).toBe(
          answer.status === 503 ? 'REDIS_UNAVAILABLE' : 'TIMEOUT',
        );
        expectApiError(answer, answer.status, answer.body.error.code);
      }
    } finally {
      await server.stop();
    }
  });

  it("resolveScope's 401 and 403 reach the caller unchanged, on every route", async () => {
    const nobody = ctx.as(undefined);
    const forbidden = ctx.as({ workspaceId: FORBIDDEN_WORKSPACE, projectId: 'p1' });
    for (const [method, path, body] of EVERY_ROUTE) {
      const denied = await nobody.request(method, path, body);
      expect({ method, path, status: denied.status }).toEqual({ method, path, status: 401 });
      expect(denied.text).toContain('contract: no credentials');
      expect(denied.body?.error?.code).toBeUndefined();
      const refused = await forbidden.request(method, path, body);
      expect({ method, path, status: refused.status }).toEqual({ method, path, status: 403 });
      expect(refused.text).toContain('contract: workspace forbidden');
    }
    // and before any input is checked: bad input from a caller without access is still a 401
    expect((await nobody.get('/runs/active?limit=0')).status).toBe(401);
    expect((await nobody.post('/runs/active', { id: 'a{b' })).status).toBe(401);
  });
}
