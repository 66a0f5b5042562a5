import {
  connect,
  contractDataSchema,
  deletePrefix,
  expectActiveRunsOpenApi,
  freePort,
  uniquePrefix,
} from '@active-runs/test-utils';
import fastifySse from '@fastify/sse';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import activeRunsDefault, { activeRuns } from '../src/index.js';

const redisUrl = inject('redisUrl');
const admin: Redis = connect(redisUrl);
const prefixes: string[] = [];
const apps: FastifyInstance[] = [];
const scope = { workspaceId: 'w1', projectId: 'p1' };
const resolveScope = async () => scope;

function app(): FastifyInstance {
  const instance = Fastify();
  apps.push(instance);
  return instance;
}

function prefix(): string {
  const value = uniquePrefix('fastify');
  prefixes.push(value);
  return value;
}

afterEach(async () => {
  for (const instance of apps.splice(0)) await instance.close();
  for (const value of prefixes.splice(0)) await deletePrefix(admin, value);
});
afterAll(async () => {
  await admin.quit();
});

describe('@active-runs/fastify plugin', () => {
  it('exports the plugin as default and named, wrapped by fastify-plugin', () => {
    expect(activeRunsDefault).toBe(activeRuns);
    expect(
      (activeRuns as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')],
    ).toBe('@active-runs/fastify');
  });

  it('decorates the app (not only its own context) with a working store', async () => {
    const instance = app();
    await instance.register(activeRuns, { redis: redisUrl, prefix: prefix() });
    await instance.ready();
    await instance.activeRuns.enqueue(scope, { id: 'r1' });
    expect((await instance.activeRuns.counts(scope)).total).toBe(1);
  });

  it('refuses a second registration with a clear error', async () => {
    const instance = app();
    void instance.register(activeRuns, { redis: redisUrl, prefix: prefix() });
    void instance.register(activeRuns, { redis: redisUrl, prefix: prefix() });
    await expect(instance.ready()).rejects.toThrow(/already registered/);
  });

  it('fails ready() with a clear message when Redis is unreachable', async () => {
    const port = await freePort();
    const instance = app();
    void instance.register(activeRuns, {
      redis: `redis://127.0.0.1:${port}`,
      commandTimeoutMs: 500,
    });
    const started = Date.now();
    await expect(instance.ready()).rejects.toThrow(/could not reach Redis at start-up/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('fails ready() on bad options, naming the option', async () => {
    const instance = app();
    void instance.register(activeRuns, {
      redis: redisUrl,
      routes: { prefix: 'api/', resolveScope },
    });
    await expect(instance.ready()).rejects.toThrow(/routes\.prefix/);
  });

  it('on close quits the Redis client it created from a URL', async () => {
    const instance = Fastify();
    await instance.register(activeRuns, { redis: redisUrl, prefix: prefix() });
    await instance.ready();
    const client = instance.activeRuns.redis;
    expect(client.status).toBe('ready');
    await instance.close();
    await expect.poll(() => client.status).toBe('end');
  });

  it('on close leaves a client passed in open, and stops the sweeper it started', async () => {
    const client = connect(redisUrl);
    const expired: string[] = [];
    const instance = Fastify();
    await instance.register(activeRuns, {
      redis: client,
      prefix: prefix(),
      sweeper: { intervalMs: 20 },
      onExpired: (run) => {
        expired.push(run.id);
      },
    });
    await instance.ready();
    await instance.activeRuns.enqueue(scope, { id: 'stuck', leaseMs: 100 });
    await expect.poll(() => expired, { timeout: 5_000 }).toEqual(['stuck']);
    await instance.close();
    await expect(instance.activeRuns.sweep()).rejects.toThrow(/closed/);
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });

  it('works in an app that registered @fastify/sse itself', async () => {
    const instance = app();
    await instance.register(fastifySse, { heartbeatInterval: 60_000 });
    await instance.register(activeRuns, {
      redis: redisUrl,
      prefix: prefix(),
      routes: { resolveScope, sseHeartbeatMs: 100 },
    });
    await instance.listen({ port: 0, host: '127.0.0.1' });
    const address = instance.server.address() as { port: number };
    const response = await fetch(`http://127.0.0.1:${address.port}/runs/active/events`, {
      headers: { accept: 'text/event-stream' },
    });
    const reader = response.body!.getReader();
    let text = '';
    const decoder = new TextDecoder();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      text += decoder.decode(read.value);
      if (/: heartbeat/.test(text)) break;
    }
    await reader.cancel();
    expect(text).toMatch(/^event: gap\ndata: \{"type":"gap"/m);
  });
});

describe('bodies Fastify refuses before a route runs', () => {
  it('get the API error body: not JSON 400, too large 413, another media type 415', async () => {
    const instance = Fastify({ bodyLimit: 1_000 });
    apps.push(instance);
    await instance.register(activeRuns, {
      redis: redisUrl,
      prefix: prefix(),
      routes: { resolveScope, writes: true },
    });
    const post = (payload: string, contentType = 'application/json') =>
      instance.inject({
        method: 'POST',
        url: '/runs/active',
        headers: { 'content-type': contentType },
        payload,
      });
    const notJson = await post('{"id": "r1",');
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toEqual({
      error: { code: 'INVALID_ARGUMENT', message: expect.any(String), field: 'body' },
    });
    const tooLarge = await post(JSON.stringify({ id: 'r1', caption: 'x'.repeat(2_000) }));
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json().error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'body' });
    const xml = await post('<run id="r1"/>', 'application/xml');
    expect(xml.statusCode).toBe(415);
    expect(xml.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'body' });
    expect((await instance.activeRuns.counts(scope)).total).toBe(0);
  });
});

describe('OpenAPI through @fastify/swagger', () => {
  it('documents every route with the schemas converted from zod, data typed by dataSchema', async () => {
    const instance = app();
    await instance.register(fastifySwagger, { openapi: { info: { title: 't', version: '1' } } });
    await instance.register(activeRuns, {
      redis: redisUrl,
      prefix: prefix(),
      dataSchema: contractDataSchema,
      routes: { prefix: '/api', resolveScope, writes: true },
    });
    await instance.ready();
    expectActiveRunsOpenApi(instance.swagger(), '/api');
  });
});
