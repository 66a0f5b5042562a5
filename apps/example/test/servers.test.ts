import { createServer } from 'node:net';
import { SseClient } from '@active-runs/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerName } from '../src/app-routes.js';
import type { RunningServer } from '../src/server-config.js';
import { Demo, get, post, signIn } from './harness.js';

const demo = new Demo();
const servers = {} as Record<ServerName, RunningServer>;
const acme = { workspaceId: 'acme', projectId: 'assistant' };
const globex = { workspaceId: 'globex', projectId: 'chat' };

beforeAll(async () => {
  servers.fastify = await demo.start('fastify');
  servers.nestjs = await demo.start('nestjs');
  await demo.store.enqueue(acme, { id: 'acme-1', source: 'api', data: { model: 'm', tokens: 1 } });
  await demo.store.enqueue(globex, {
    id: 'globex-1',
    source: 'api',
    data: { model: 'm', tokens: 2 },
  });
});
afterAll(() => demo.close());

describe.each(['fastify', 'nestjs'] as const)('the %s server', (name) => {
  const base = () => servers[name].url;

  it('serves the dashboard and its files, and nothing else from the disk', async () => {
    const page = await get(base(), '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.body).toContain('<title>Active runs</title>');
    for (const file of ['dashboard.js', 'page-model.js']) {
      const asset = await get(base(), `/assets/${file}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    }
    expect((await get(base(), '/assets/dashboard.css')).headers.get('content-type')).toMatch(
      /^text\/css/,
    );
    for (const path of ['/assets/index.html', '/assets/nope.js', '/assets/..%2Fpackage.json']) {
      expect((await get(base(), path)).status).toBe(404);
    }
  });

  it('answers every API route with 401 and the API error body to a caller not signed in', async () => {
    for (const path of ['/api/runs/active', '/api/runs/active/counts', '/api/runs/active/acme-1']) {
      const answer = await get(base(), path);
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({
        error: { code: 'UNAUTHENTICATED', message: 'sign in first (POST /auth/login)' },
      });
    }
    const stream = await SseClient.open(`${base()}/api/runs/active/events`, undefined);
    expect(stream.status).toBe(401);
  });

  it('serves the signed-in workspace only: nothing of another is reachable', async () => {
    const cookie = await signIn(base(), 'acme');
    const page = await get(base(), '/api/runs/active', cookie);
    expect(page.status).toBe(200);
    expect(page.body.items.map((run: { id: string }) => run.id)).toEqual(['acme-1']);
    expect((await get(base(), '/api/runs/active/counts', cookie)).body.total).toBe(1);
    expect((await get(base(), '/api/runs/active/globex-1', cookie)).status).toBe(404);
    // no parameter can select a scope, and the write routes are not served at all
    const asked = await get(base(), '/api/runs/active?workspaceId=globex', cookie);
    expect(asked.status).toBe(400);
    expect(asked.body.error.field).toBe('workspaceId');
    const write = await fetch(`${base()}/api/runs/active`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ id: 'x' }),
    });
    expect(write.status).toBe(404);
    // a session cookie edited to name another workspace is refused
    const forged = cookie.replace(/ar_session=acme\./, 'ar_session=globex.');
    expect(forged).not.toBe(cookie);
    expect((await get(base(), '/api/runs/active', forged)).status).toBe(401);
    // the other workspace sees its own run only
    const other = await signIn(base(), 'globex');
    const theirs = await get(base(), '/api/runs/active', other);
    expect(theirs.body.items.map((run: { id: string }) => run.id)).toEqual(['globex-1']);
  });

  it('lets a visitor choose a project, always within the signed workspace', async () => {
    // acme/chat: the name of globex's project, in acme: empty
    const cookie = await signIn(base(), 'acme', 'chat');
    const session = await get(base(), '/auth/session', cookie);
    expect(session.body.session).toEqual({ workspaceId: 'acme', projectId: 'chat' });
    expect(session.body.server).toBe(name);
    expect((await get(base(), '/api/runs/active', cookie)).body).toMatchObject({
      items: [],
      total: 0,
    });
    const bad = await fetch(`${base()}/auth/project`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ projectId: 'a:b' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      error: { code: 'INVALID_ARGUMENT', field: 'projectId' },
    });
  });

  it("streams the signed-in workspace's changes and none of another's", async () => {
    const cookie = await signIn(base(), 'acme');
    const stream = await SseClient.open(`${base()}/api/runs/active/events`, undefined, { cookie });
    try {
      expect(stream.status).toBe(200);
      expect((await stream.event(1)).event).toBe('gap');
      await demo.store.enqueue(globex, { id: `${name}-theirs` });
      await demo.store.enqueue(acme, { id: `${name}-ours` });
      const event = await stream.event(2);
      expect(event).toMatchObject({ event: 'queued', data: { id: `${name}-ours` } });
      expect(stream.events.map((e) => e.data.id)).not.toContain(`${name}-theirs`);
    } finally {
      stream.close();
      await demo.store.end(globex, `${name}-theirs`);
      await demo.store.end(acme, `${name}-ours`);
    }
  });

  it('signs out', async () => {
    const cookie = await signIn(base(), 'acme');
    const out = await post(base(), '/auth/logout', {}, cookie);
    expect(out.headers.getSetCookie().every((line) => /Max-Age=0/.test(line))).toBe(true);
    expect((await get(base(), '/auth/session')).body.session).toBeNull();
  });
});

it('a login on one server is valid on the other: both share the secret and the Redis', async () => {
  const cookie = await signIn(servers.fastify.url, 'globex');
  const page = await get(servers.nestjs.url, '/api/runs/active', cookie);
  expect(page.body.items.map((run: { id: string }) => run.id)).toEqual(['globex-1']);
});

it('reports runs whose worker died (onExpired), from whichever server swept them', async () => {
  const scope = { workspaceId: 'initech', projectId: 'reports' };
  await demo.store.enqueue(scope, { id: 'dies-early', source: 'batch', leaseMs: 200 });
  await expect
    .poll(() => demo.logs.find((line) => line.includes('dies-ear')), { timeout: 10_000 })
    .toMatch(/^run dies-ear in initech\/reports expired \(queued, source batch\)/);
});

describe.each(['fastify', 'nestjs'] as const)('the %s server on a busy port', (name) => {
  it('takes a free port when allowed to, and fails otherwise', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const server = await demo.start(name, { port, anyPortIfBusy: true });
      expect(server.url).toMatch(/^http:\/\/localhost:\d+$/);
      expect(server.url).not.toBe(`http://localhost:${port}`);
      expect((await get(server.url, '/')).status).toBe(200);
      await demo.stop(server);
      await expect(demo.start(name, { port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });
});
