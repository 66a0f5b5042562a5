/**
 * What the HTTP bench's server apps share, whatever the framework: the header-based scope, the
 * three routes each app serves next to the adapter's, and the legacy HGETALL page.
 * @module
 */
import type { Scope } from '@active-runs/core';
import type { Redis } from 'ioredis';
import type { LegacyRun } from '../data.js';
import { compareNewestFirst } from '../data.js';
import { legacyKeys } from '../seed.js';

/** The headers the bench's trivial `resolveScope` reads (an app's auth would sit here). */
export const SCOPE_HEADERS = { workspace: 'x-workspace-id', project: 'x-project-id' } as const;

/** Where each app mounts the adapter's routes (`{prefix}/runs/active`). */
export const ADAPTER_PREFIX = '/api';
/** The framework's floor: the same page's bytes, pre-serialized, sent from memory. */
export const FLOOR_PATH = '/floor/runs/active';
/**
 * The floor plus serialization: the same page held as an object, `JSON.stringify`-ed per request
 * (what any route that answers with an object pays).
 */
export const SERIALIZE_PATH = '/floor/serialize/runs/active';
/**
 * `store.list` in a bare route of the same app (scope from the headers, `limit` from the query,
 * the page sent as the framework sends any object): the store without the adapter around it.
 */
export const BARE_PATH = '/bare/runs/active';
/** The legacy way in a handler: HGETALL, JSON.parse every run, sort, slice. */
export const LEGACY_PATH = '/legacy/runs/active';
/** The list route's query in every row, as a dashboard asks for its first page. */
export const LIST_QUERY = '?limit=25';

/** Name of the server app's Redis connection, so the bench finds it in CLIENT LIST. */
export const SERVER_CONNECTION_NAME = 'bench-http-server';

/** A started app of the server child. */
export interface BenchApp {
  port: number;
  close(): Promise<void>;
}

/** What the parent hands the server child (as JSON in its argv). */
export interface ServerChildOptions {
  framework: 'fastify' | 'nestjs';
  redisUrl: string;
  /** Key prefix of the store the adapter serves (the bench world's). */
  storePrefix: string;
  /** The scope whose first page the floor route serves. */
  floorScope: Scope;
}

/** What the child tells the parent once it listens. */
export type ServerChildMessage =
  | { type: 'ready'; port: number; floorBytes: number; contentType: string }
  | { type: 'error'; message: string };

/** The caller's scope from two headers, as the adapters' READMEs show. */
export function headerScope(request: {
  headers: Readonly<Record<string, string | string[] | undefined>>;
}): Scope {
  const workspaceId = request.headers[SCOPE_HEADERS.workspace];
  const projectId = request.headers[SCOPE_HEADERS.project];
  if (typeof workspaceId !== 'string' || typeof projectId !== 'string') {
    throw Object.assign(new Error('sign in first'), { statusCode: 401, status: 401 });
  }
  return { workspaceId, projectId };
}

/** The request headers that select `scope`. */
export function scopeHeaders(scope: Scope): Record<string, string> {
  return {
    [SCOPE_HEADERS.workspace]: String(scope.workspaceId),
    [SCOPE_HEADERS.project]: String(scope.projectId),
  };
}

/** The first page's bytes, captured from the adapter's own answer once the app listens. */
export interface FloorPage {
  body: string;
  contentType: string;
  /** The same page parsed, for the serialization row. */
  page: unknown;
}

/** `?limit=` of the bare and legacy routes (the adapter's own route checks it with zod). */
export function queryLimit(query: { limit?: string }): number {
  return Number(query.limit ?? 25);
}

/** The page the legacy layout's API answered with: every run loaded to show 25. */
export async function legacyPage(
  redis: Redis,
  scope: Scope,
  limit: number,
): Promise<{ items: LegacyRun[]; total: number }> {
  const keys = legacyKeys(String(scope.workspaceId), String(scope.projectId));
  const all = Object.values(await redis.hgetall(keys.hash)).map((v) => JSON.parse(v) as LegacyRun);
  all.sort(compareNewestFirst);
  return { items: all.slice(0, limit), total: all.length };
}
