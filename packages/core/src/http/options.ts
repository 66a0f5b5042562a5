/**
 * The options both adapters take: every store option, the sweeper's interval, and the opt-in
 * HTTP routes; checked once here, so a mistake fails at start-up with the same message from
 * either framework.
 * @module
 */
import { z } from 'zod';
import { MAX_LEASE_MS } from '../constants.js';
import { parseInput } from '../schemas.js';
import type { ActiveRunStoreOptions } from '../store-types.js';
import type { SweeperOptions } from '../sweeper.js';
import type { ResolveScope } from './handler.js';
import { DEFAULT_SSE_HEARTBEAT_MS } from './sse.js';

/** The HTTP routes of an adapter; without this option no route is registered. */
export interface ActiveRunsRoutesOptions<TRequest = never> {
  /**
   * Path the routes are mounted under, e.g. `/api` serves `/api/runs/active`.
   * @default '' (the routes start at `/runs/active`)
   */
  prefix?: string;
  /**
   * Required: the scope of each request, from the app's own auth (see {@link ResolveScope}).
   * Nothing in the path, query, body or a cursor can select another scope.
   */
  resolveScope: ResolveScope<TRequest>;
  /**
   * Also serve the write routes (enqueue, start, heartbeat, progress, end), for workers in
   * another process.
   * @default false
   */
  writes?: boolean;
  /**
   * Interval of the comment lines on the event stream that keep proxies from closing it.
   * @default 15_000
   */
  sseHeartbeatMs?: number;
}

/** The routes options once checked, defaults applied. */
export interface ResolvedRoutesOptions<TRequest = never> {
  prefix: string;
  resolveScope: ResolveScope<TRequest>;
  writes: boolean;
  sseHeartbeatMs: number;
}

/** The store's sweeper settings plus `intervalMs`: set it to start the sweeper with the app. */
export interface AdapterSweeperOptions extends SweeperOptions {
  /** Start the sweeper, one pass every `intervalMs`; it stops when the app closes. */
  intervalMs?: number;
}

/** Options of an adapter: every store option, the sweeper, and the opt-in routes. */
export interface ActiveRunsAdapterOptions<TData = unknown, TRequest = never>
  extends Omit<ActiveRunStoreOptions<TData>, 'sweeper'> {
  /** Sweeper settings; with `intervalMs` the adapter starts the sweeper and stops it on close. */
  sweeper?: AdapterSweeperOptions;
  /** Serve the HTTP API; off unless given. */
  routes?: ActiveRunsRoutesOptions<TRequest>;
}

const routesSchema = z.strictObject({
  prefix: z
    .string()
    .regex(
      /^(\/[A-Za-z0-9._~-]+)*$/,
      'must be empty or a path such as "/api" or "/api/v1" (no trailing slash, no parameters)',
    )
    .default(''),
  resolveScope: z.custom<ResolveScope<unknown>>((value) => typeof value === 'function', {
    error: (issue) =>
      issue.input === undefined
        ? 'is required: the routes serve the scope your own auth resolves from each request. Pass resolveScope: (request) => ({ workspaceId, projectId })'
        : 'must be a function (request) => ({ workspaceId, projectId })',
  }),
  writes: z.boolean().default(false),
  sseHeartbeatMs: z.number().int().min(100).max(MAX_LEASE_MS).default(DEFAULT_SSE_HEARTBEAT_MS),
});

const sweeperIntervalSchema = z.number().int().min(10).max(86_400_000).optional();

/**
 * Checks the `routes` option; `undefined` when the app serves no routes.
 * @throws ActiveRunsError `INVALID_ARGUMENT` naming the field, e.g. a missing `resolveScope`.
 */
export function parseRoutesOptions<TRequest>(
  routes: ActiveRunsRoutesOptions<TRequest> | undefined,
): ResolvedRoutesOptions<TRequest> | undefined {
  if (routes === undefined) return undefined;
  return parseInput(routesSchema, routes, 'routes') as ResolvedRoutesOptions<TRequest>;
}

/** An adapter's options split into what goes to the store, the sweeper and the routes. */
export interface SplitAdapterOptions<TData, TRequest> {
  store: ActiveRunStoreOptions<TData>;
  sweeperIntervalMs: number | undefined;
  routes: ResolvedRoutesOptions<TRequest> | undefined;
}

/**
 * Splits and checks an adapter's options (the store checks its own when it is created).
 * @throws ActiveRunsError `INVALID_ARGUMENT` for a bad `routes` or `sweeper.intervalMs`.
 */
export function splitAdapterOptions<TData, TRequest>(
  options: ActiveRunsAdapterOptions<TData, TRequest>,
): SplitAdapterOptions<TData, TRequest> {
  const { routes, sweeper, ...store } = options;
  const { intervalMs, ...sweeperOptions } = sweeper ?? {};
  return {
    store: sweeper ? { ...store, sweeper: sweeperOptions } : store,
    sweeperIntervalMs: parseInput(sweeperIntervalSchema, intervalMs, 'sweeper.intervalMs'),
    routes: parseRoutesOptions(routes),
  };
}
