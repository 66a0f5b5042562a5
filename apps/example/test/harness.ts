import { randomBytes } from 'node:crypto';
import { type ActiveRunStore, createActiveRunStore } from '@active-runs/core';
import { connect, deletePrefix, uniquePrefix } from '@active-runs/test-utils';
import type { Redis } from 'ioredis';
import { inject } from 'vitest';
import type { ServerName } from '../src/app-routes.js';
import { startFastifyServer } from '../src/fastify-app.js';
import { startNestServer } from '../src/nest-app.js';
import { type RunData, runData } from '../src/run-data.js';
import type { RunningServer, ServerConfig } from '../src/server-config.js';
import { cookieJar } from './cookies.js';

export const SERVERS: Record<ServerName, (config: ServerConfig) => Promise<RunningServer>> = {
  fastify: startFastifyServer,
  nestjs: startNestServer,
};

/**
 * The servers of one test file on a real Redis, under a prefix of their own, with a store that
 * writes runs as the app's workers would; `close` stops everything and deletes the keys.
 */
export class Demo {
  readonly prefix = uniquePrefix('example');
  readonly secret = randomBytes(16).toString('hex');
  readonly redis: Redis = connect(inject('redisUrl'));
  readonly store: ActiveRunStore<RunData> = createActiveRunStore({
    redis: this.redis,
    prefix: this.prefix,
    dataSchema: runData,
  });
  /** What the servers logged (expired runs, warnings). */
  readonly logs: string[] = [];
  private readonly servers = new Set<RunningServer>();

  config(overrides: Partial<ServerConfig> = {}): ServerConfig {
    return {
      redis: inject('redisUrl'),
      prefix: this.prefix,
      sessionSecret: this.secret,
      port: 0,
      anyPortIfBusy: false,
      sweepIntervalMs: 100,
      log: (line) => this.logs.push(line),
      ...overrides,
    };
  }

  async start(name: ServerName, overrides: Partial<ServerConfig> = {}): Promise<RunningServer> {
    const server = await SERVERS[name](this.config(overrides));
    this.servers.add(server);
    return server;
  }

  async stop(server: RunningServer): Promise<void> {
    this.servers.delete(server);
    await server.close();
  }

  async close(): Promise<void> {
    for (const server of this.servers) await server.close();
    this.servers.clear();
    await this.store.close();
    await deletePrefix(this.redis, this.prefix);
    await this.redis.quit();
  }
}

/** Signs in as `workspaceId` (and `projectId`) on a server: the `cookie` header to send. */
export async function signIn(
  base: string,
  workspaceId: string,
  projectId?: string,
): Promise<string> {
  const login = await post(base, '/auth/login', { workspaceId }, '');
  let cookie = cookiesOf(login);
  if (projectId) {
    const project = await post(base, '/auth/project', { projectId }, cookie);
    cookie = cookiesOf(project, cookie);
  }
  return cookie;
}

export async function post(base: string, path: string, body: unknown, cookie: string) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response;
}

/** The cookie header after a response's Set-Cookie headers. */
export function cookiesOf(response: Response, before = ''): string {
  return cookieJar(response.headers.getSetCookie(), before);
}

/** What {@link get} answers. */
export interface GetAnswer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: the tests read the API's JSON
  body: any;
}

/** GET as a signed-in caller: status and parsed JSON body. */
export async function get(base: string, path: string, cookie = ''): Promise<GetAnswer> {
  const response = await fetch(`${base}${path}`, { headers: { cookie } });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body };
}
