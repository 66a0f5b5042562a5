/**
 * The HTTP API every adapter serves, as data: one entry per route with its method, path,
 * input and output schemas. Adapters loop over it, so both serve the same API by construction.
 * @module
 */
import type { z } from 'zod';
import {
  activeRunSchema,
  emptyQuerySchema,
  enqueueBodySchema,
  heartbeatBodySchema,
  httpDataSchema,
  listPageSchema,
  listQuerySchema,
  progressBodySchema,
  runCountsSchema,
  runParamsSchema,
  startBodySchema,
} from './schemas.js';

/** Names of the routes, one per store operation (`events` is the SSE stream). */
export type ActiveRunsRouteName =
  | 'list'
  | 'counts'
  | 'events'
  | 'get'
  | 'enqueue'
  | 'start'
  | 'heartbeat'
  | 'progress'
  | 'end';

/** HTTP methods the API uses. */
export type ActiveRunsHttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** One route of the HTTP API. */
export interface ActiveRunsRoute {
  readonly name: ActiveRunsRouteName;
  readonly method: ActiveRunsHttpMethod;
  /** Path under the routes prefix; `:runId` is the run's id. Static paths come first in the table. */
  readonly path: string;
  /** One line for the OpenAPI document. */
  readonly summary: string;
  /** Registered only with `routes.writes: true`. */
  readonly writes: boolean;
  /** A Server-Sent Events stream instead of a JSON body. */
  readonly stream: boolean;
  /** Status of a successful answer. */
  readonly successStatus: number;
  readonly params: z.ZodType | undefined;
  readonly query: z.ZodType;
  readonly body: z.ZodType | undefined;
  /** Body of a successful answer (none for the stream). */
  readonly response: z.ZodType | undefined;
  /** Statuses of the errors this route can answer with, each with an error body. */
  readonly errorStatuses: readonly number[];
}

/** Options of {@link activeRunsRoutes}. */
export interface ActiveRunsRoutesTableOptions {
  /**
   * Include the write routes.
   * @default false
   */
  writes?: boolean;
  /** The store's `dataSchema`: a zod 4 schema types `data` in the schemas (docs, serialization). */
  dataSchema?: unknown;
}

const READ_ERRORS = [400, 500, 503, 504] as const;
const WRITE_ERRORS = [400, 404, 409, 413, 500, 503, 504] as const;

/**
 * The routes of the HTTP API, in registration order (static paths before `:runId`, which
 * routers that match in order, like Express, need).
 */
export function activeRunsRoutes(options: ActiveRunsRoutesTableOptions = {}): ActiveRunsRoute[] {
  const data = httpDataSchema(options.dataSchema);
  const run = activeRunSchema(data);
  const read = { writes: false, stream: false, successStatus: 200, body: undefined } as const;
  const write = { writes: true, stream: false, errorStatuses: WRITE_ERRORS } as const;
  const ofRun = { params: runParamsSchema, query: emptyQuerySchema, response: run } as const;
  const routes: ActiveRunsRoute[] = [
    {
      ...read,
      name: 'list',
      method: 'GET',
      path: '/runs/active',
      summary: 'One page of active runs: running newest first, then queued newest first',
      params: undefined,
      query: listQuerySchema,
      response: listPageSchema(data),
      errorStatuses: READ_ERRORS,
    },
    {
      ...read,
      name: 'counts',
      method: 'GET',
      path: '/runs/active/counts',
      summary: 'Active runs by status and by source',
      params: undefined,
      query: emptyQuerySchema,
      response: runCountsSchema,
      errorStatuses: READ_ERRORS,
    },
    {
      ...read,
      name: 'events',
      method: 'GET',
      path: '/runs/active/events',
      summary:
        'Server-Sent Events of the scope: one event per change (queued, started, progress, ended, expired) with id = seq, and a gap (refetch) first and whenever changes may have been missed',
      stream: true,
      params: undefined,
      query: emptyQuerySchema,
      response: undefined,
      errorStatuses: READ_ERRORS,
    },
    {
      ...read,
      ...ofRun,
      name: 'get',
      method: 'GET',
      path: '/runs/active/:runId',
      summary: 'One active run (404 once it ended or expired)',
      errorStatuses: [400, 404, 500, 503, 504],
    },
    {
      ...write,
      name: 'enqueue',
      method: 'POST',
      path: '/runs/active',
      summary: 'Enqueue a run (the same payload again returns it unchanged)',
      successStatus: 201,
      params: undefined,
      query: emptyQuerySchema,
      body: enqueueBodySchema(data),
      response: run,
    },
    {
      ...write,
      ...ofRun,
      name: 'start',
      method: 'POST',
      path: '/runs/active/:runId/start',
      summary: 'Mark a queued run running and renew its lease',
      successStatus: 200,
      body: startBodySchema,
    },
    {
      ...write,
      ...ofRun,
      name: 'heartbeat',
      method: 'POST',
      path: '/runs/active/:runId/heartbeat',
      summary: 'Renew the lease of a run',
      successStatus: 200,
      body: heartbeatBodySchema,
    },
    {
      ...write,
      ...ofRun,
      name: 'progress',
      method: 'PATCH',
      path: '/runs/active/:runId',
      summary: 'Replace caption and/or data (null clears) and renew the lease',
      successStatus: 200,
      body: progressBodySchema(data),
    },
    {
      ...write,
      ...ofRun,
      name: 'end',
      method: 'DELETE',
      path: '/runs/active/:runId',
      summary: 'End a run: removes it and returns its last state',
      successStatus: 200,
      body: undefined,
    },
  ];
  return options.writes ? routes : routes.filter((route) => !route.writes);
}
