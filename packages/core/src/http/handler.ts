/**
 * Request -> store -> response, once for every adapter: resolve the caller's scope with the
 * app's `resolveScope`, check the input against the route's schemas, call the store, and map
 * the result or the `ActiveRunsError` to a status and body. An adapter only hands the
 * framework's request in and sends what comes back.
 * @module
 */
import type { z } from 'zod';
import { ActiveRunsError } from '../errors.js';
import type { RunEvent } from '../events/index.js';
import type { Scope } from '../keys.js';
import { parseScope } from '../keys.js';
import { listPageJson } from '../page-json.js';
import type { ActiveRunStore, ListPage } from '../store-types.js';
import type { ActiveRunsHttpResult } from './errors.js';
import { httpErrorResult, invalidScopeError } from './errors.js';
import type { ActiveRunsRoute, ActiveRunsRouteName } from './routes.js';
import type { ActiveRunsSseMessage } from './sse.js';
import { sseMessages } from './sse.js';

/** What the handler reads from a framework's request (Fastify, Express and Nest requests fit). */
export interface ActiveRunsHttpRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly params?: unknown;
  readonly query?: unknown;
  readonly body?: unknown;
}

/**
 * The app's own authorization: the scope the caller may see, from its credentials (never from
 * a query parameter). May be async; an error it throws (a 401, a 403) reaches the framework
 * unchanged.
 */
export type ResolveScope<TRequest = never> = (request: TRequest) => Scope | Promise<Scope>;

/** An open event stream, ready to hand to the framework's SSE support. */
export interface ActiveRunsEventStream {
  readonly stream: AsyncIterable<ActiveRunsSseMessage>;
}

/** Options of {@link createActiveRunsHttpHandler}. */
export interface ActiveRunsHttpHandlerOptions<TRequest> {
  // biome-ignore lint/suspicious/noExplicitAny: any store, whatever the app's data type
  store: ActiveRunStore<any>;
  resolveScope: ResolveScope<TRequest>;
}

/** Serves the routes of {@link activeRunsRoutes} for one store. */
export interface ActiveRunsHttpHandler<TRequest> {
  /**
   * Answers a JSON route. Errors of `resolveScope` are thrown unchanged (the framework answers
   * them); every `ActiveRunsError` becomes its HTTP answer.
   */
  handle(route: ActiveRunsRoute, request: TRequest): Promise<ActiveRunsHttpResult>;
  /**
   * Opens the event stream of the caller's scope. Resolves once the subscription is live, or
   * with an error answer (bad query, Redis unavailable) while nothing has been sent yet.
   * @param signal ends the stream and releases its subscription: abort it when the client leaves.
   */
  openEventStream(
    route: ActiveRunsRoute,
    request: TRequest,
    signal: AbortSignal,
  ): Promise<ActiveRunsHttpResult | ActiveRunsEventStream>;
}

type Input = { params: { runId: string }; query: never; body: never };
// biome-ignore lint/suspicious/noExplicitAny: the operations serve any store
type Operation = (store: ActiveRunStore<any>, scope: Scope, input: Input) => Promise<unknown>;

/** Each JSON route's store call. */
const OPERATIONS: Record<Exclude<ActiveRunsRouteName, 'events'>, Operation> = {
  list: (store, scope, { query }) => store.list(scope, query),
  counts: (store, scope) => store.counts(scope),
  get: async (store, scope, { params }) => {
    const run = await store.get(scope, params.runId);
    if (run) return run;
    throw new ActiveRunsError(
      'NOT_FOUND',
      `run ${params.runId} is not active: it was never enqueued, it ended, or its lease lapsed.`,
    );
  },
  enqueue: (store, scope, { body }) => store.enqueue(scope, body),
  start: (store, scope, { params, body }) => store.start(scope, params.runId, body),
  heartbeat: (store, scope, { params, body }) => store.heartbeat(scope, params.runId, body),
  progress: (store, scope, { params, body }) => store.progress(scope, params.runId, body),
  end: (store, scope, { params }) => store.end(scope, params.runId),
};

const PART_NAMES = { params: 'path parameter', query: 'query parameter', body: 'field' } as const;

/** Parses one part of the request; a failure is `INVALID_ARGUMENT` naming the field as sent. */
function parsePart(schema: z.ZodType, value: unknown, part: keyof typeof PART_NAMES): unknown {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue ? issue.path.map(String) : [];
  let message = issue?.message ?? 'invalid';
  if (issue?.code === 'unrecognized_keys') {
    path.push(String(issue.keys[0]));
    message = `unknown ${PART_NAMES[part]}`;
  }
  const field = path.length > 0 ? path.join('.') : part;
  throw new ActiveRunsError('INVALID_ARGUMENT', `${field}: ${message}.`, {
    cause: result.error,
    details: { field, issues: result.error.issues },
  });
}

function parseRequest(route: ActiveRunsRoute, request: ActiveRunsHttpRequest): Input {
  return {
    params: route.params ? parsePart(route.params, request.params ?? {}, 'params') : undefined,
    query: parsePart(route.query, request.query ?? {}, 'query'),
    body: route.body ? parsePart(route.body, request.body, 'body') : undefined,
  } as Input;
}

/** The scope is the app's answer, not the caller's input: a bad one is the app's bug (500). */
function checkScope(scope: Scope): void {
  try {
    parseScope(scope);
  } catch (error) {
    throw error instanceof ActiveRunsError ? invalidScopeError(error) : error;
  }
}

/** A page as `store.list` returns it (an app's wrapped store may return something else). */
function isPage(value: unknown): value is ListPage {
  const page = value as Partial<ListPage> | null;
  return (
    typeof page === 'object' &&
    page !== null &&
    Array.isArray(page.items) &&
    typeof page.total === 'number' &&
    (page.nextCursor === null || typeof page.nextCursor === 'string')
  );
}

function answer(error: unknown, route: ActiveRunsRoute): ActiveRunsHttpResult {
  if (error instanceof ActiveRunsError) return httpErrorResult(error, route.params !== undefined);
  throw error;
}

/**
 * Creates the request handler that both adapters call: the whole mapping from an HTTP request
 * to a store call and back, so the adapters only bind routes.
 */
export function createActiveRunsHttpHandler<TRequest extends ActiveRunsHttpRequest>(
  options: ActiveRunsHttpHandlerOptions<TRequest>,
): ActiveRunsHttpHandler<TRequest> {
  const { store, resolveScope } = options;
  return {
    async handle(route, request) {
      const scope = await resolveScope(request);
      try {
        checkScope(scope);
        const operation = OPERATIONS[route.name as keyof typeof OPERATIONS];
        if (!operation) throw new ActiveRunsError('INTERNAL', `${route.name} is not a JSON route.`);
        const body = await operation(store, scope, parseRequest(route, request));
        if (route.name === 'list' && isPage(body)) {
          return { status: route.successStatus, body, json: listPageJson(body) };
        }
        return { status: route.successStatus, body };
      } catch (error) {
        return answer(error, route);
      }
    },

    async openEventStream(route, request, signal) {
      const scope = await resolveScope(request);
      try {
        checkScope(scope);
        parseRequest(route, request);
        const events: AsyncIterableIterator<RunEvent> = store.events(scope, { signal });
        const first = await events.next();
        const lastEventId = request.headers['last-event-id'];
        return {
          stream: sseMessages(
            first,
            events,
            typeof lastEventId === 'string' ? lastEventId : undefined,
          ),
        };
      } catch (error) {
        return answer(error, route);
      }
    },
  };
}
