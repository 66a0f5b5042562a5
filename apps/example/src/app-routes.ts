/**
 * The example's own routes, besides the active-runs API: the dashboard's files and the demo
 * login. Written once, framework-neutral; the Fastify and the Nest server each bind this table
 * to their router, so a route added here (say `/metrics`) is served by both.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROMETHEUS_CONTENT_TYPE, scrapeMetrics } from './metrics.js';
import type { CookieRequest, DemoSessions, SessionAnswer } from './session.js';
import { SessionError } from './session.js';

/** Which adapter serves the page (the dashboard shows it). */
export type ServerName = 'fastify' | 'nestjs';

/** What a route answers, for the framework to send. */
export interface AppAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  /** A string or bytes sent as is, or a value sent as JSON. */
  body: unknown;
}

/** A request as both frameworks hand it over. */
export interface AppRequest extends CookieRequest {
  readonly params?: unknown;
  readonly body?: unknown;
}

/** One route of the table. */
export interface AppRoute {
  readonly method: 'GET' | 'POST';
  /** Path with `:name` parameters, in the syntax both routers share. */
  readonly path: string;
  handle(request: AppRequest): AppAnswer | Promise<AppAnswer>;
}

/** The dashboard's files, served from memory (read once at start-up). */
const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};
/** The page loads only its own files: no inline script, nothing from elsewhere. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

function loadAssets(): Map<string, AppAnswer> {
  const assets = new Map<string, AppAnswer>();
  for (const name of readdirSync(PUBLIC_DIR)) {
    const type = CONTENT_TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(PUBLIC_DIR, name));
    assets.set(name, { status: 200, headers: { ...PAGE_HEADERS, 'content-type': type }, body });
  }
  return assets;
}

const json = (status: number, body: unknown, headers: Record<string, string | string[]> = {}) => ({
  status,
  headers: { 'cache-control': 'no-store', ...headers },
  body,
});

const notFound = (what: string) =>
  json(404, { error: { code: 'NOT_FOUND', message: `${what} not found` } });

/** A session route: its answer, or the error body of a {@link SessionError}. */
function sessionRoute(
  serverName: ServerName,
  run: (request: AppRequest) => SessionAnswer,
): (request: AppRequest) => AppAnswer {
  return (request) => {
    try {
      const { body, cookies } = run(request);
      const headers: Record<string, string[]> = cookies.length > 0 ? { 'set-cookie': cookies } : {};
      return json(200, { ...body, server: serverName }, headers);
    } catch (error) {
      if (error instanceof SessionError) return json(error.status, error.body);
      throw error;
    }
  };
}

/** Options of {@link exampleRoutes}. */
export interface ExampleRoutesOptions {
  sessions: DemoSessions;
  serverName: ServerName;
}

/** The example's own routes (the API itself comes from the adapters, under `/api`). */
export function exampleRoutes({ sessions, serverName }: ExampleRoutesOptions): AppRoute[] {
  const assets = loadAssets();
  const session = (run: (request: AppRequest) => SessionAnswer) => sessionRoute(serverName, run);
  return [
    {
      method: 'GET',
      path: '/',
      handle: () => assets.get('index.html') ?? notFound('index.html'),
    },
    {
      method: 'GET',
      path: '/assets/:name',
      handle: ({ params }) => {
        const name = String((params as { name?: unknown } | undefined)?.name);
        return (name !== 'index.html' && assets.get(name)) || notFound(`asset ${name}`);
      },
    },
    { method: 'GET', path: '/auth/session', handle: session((r) => sessions.current(r)) },
    { method: 'POST', path: '/auth/login', handle: session((r) => sessions.login(r.body)) },
    {
      method: 'POST',
      path: '/auth/project',
      handle: session((r) => sessions.chooseProject(r, r.body)),
    },
    { method: 'POST', path: '/auth/logout', handle: session(() => sessions.logout()) },
    {
      // the store's OpenTelemetry instruments, for Prometheus to scrape (see metrics.ts)
      method: 'GET',
      path: '/metrics',
      handle: async () => ({
        status: 200,
        headers: { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' },
        body: await scrapeMetrics(),
      }),
    },
  ];
}
