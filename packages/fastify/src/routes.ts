import type {
  ActiveRunStore,
  ActiveRunsRoute,
  ResolvedRoutesOptions,
  SseStreamRegistry,
} from '@active-runs/core';
import {
  activeRunsRoutes,
  createActiveRunsHttpHandler,
  httpErrorBody,
  routeJsonSchemas,
} from '@active-runs/core';
import fastifySse from '@fastify/sse';
import fastJson from 'fast-json-stringify';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RouteHandlerMethod,
} from 'fastify';

/** What Fastify sends a serialized body with. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** What the plugin hands its encapsulated routes context. */
export interface RoutesPluginOptions {
  store: ActiveRunStore<unknown>;
  routes: ResolvedRoutesOptions<FastifyRequest>;
  streams: SseStreamRegistry;
  dataSchema: unknown;
}

/**
 * The HTTP API of `@active-runs/core`, in its own encapsulated context (its prefix, SSE support
 * and error handler do not leak into the app).
 */
export async function routesPlugin(app: FastifyInstance, options: RoutesPluginOptions) {
  const { store, routes, streams, dataSchema } = options;
  // @fastify/sse frames the events; an app that registered it already has its onRoute hook
  // wrapping these routes too, and a second registration would wrap them twice
  if (!app.hasPlugin('@fastify/sse')) await app.register(fastifySse, { heartbeatInterval: 0 });
  const http = createActiveRunsHttpHandler<FastifyRequest>({
    store,
    resolveScope: routes.resolveScope,
  });

  // Errors Fastify raises before a handler runs (a body that is not JSON, too large, of another
  // media type) get the API's error body; anything else, such as resolveScope's 401, reaches the
  // app's own error handler unchanged.
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const status = error.statusCode ?? 500;
    if (!error.code?.startsWith('FST_ERR_CTP_') || status >= 500) throw error;
    const code = status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INVALID_ARGUMENT';
    return reply.code(status).send(httpErrorBody(code, error.message, 'body'));
  });

  const json =
    (route: ActiveRunsRoute): RouteHandlerMethod =>
    async (request, reply) => {
      const { status, body, json } = await http.handle(route, request);
      // a page the core already wrote as JSON (from each run's stored text): a string with a
      // JSON content type skips the serializer, as the JSON Schema's would parse `data` again
      if (json !== undefined) return reply.code(status).type(JSON_CONTENT_TYPE).send(json);
      return reply.code(status).send(body);
    };

  const events =
    (route: ActiveRunsRoute) => async (request: FastifyRequest, reply: FastifyReply) => {
      const lease = streams.track();
      // once the response is closed (the client left, or the stream ended): closing the app
      // waits for this, so the connection is idle when the server closes
      reply.raw.once('close', lease.release);
      const opened = await http.openEventStream(route, request, lease.signal);
      if (!('stream' in opened)) return reply.code(opened.status).send(opened.body);
      reply.sse.sendHeaders();
      // Hand-framed: @fastify/sse has one heartbeat interval per registration (the app's own,
      // if it registered the plugin) and no way to send a comment line, while this route's
      // interval is `routes.sseHeartbeatMs`.
      const heartbeat = setInterval(() => {
        if (reply.sse.isConnected) reply.raw.write(': heartbeat\n\n');
      }, routes.sseHeartbeatMs);
      try {
        await reply.sse.send(opened.stream);
      } finally {
        clearInterval(heartbeat);
      }
    };

  for (const route of activeRunsRoutes({ writes: routes.writes, dataSchema })) {
    app.route({
      method: route.method,
      url: route.path,
      schema: {
        ...routeJsonSchemas(route, 'draft-7'),
        summary: route.summary,
        tags: ['active-runs'],
        operationId: `activeRuns_${route.name}`,
      },
      // The core checks every input with its zod schemas (after resolveScope, so a caller
      // without access learns nothing about the input); the JSON Schemas above document the
      // route and serialize its responses.
      validatorCompiler: () => () => true,
      // Set on the route so the app's own compilers (a zod type provider, say) never see them.
      serializerCompiler: ({ schema, httpStatus }) =>
        Number(httpStatus) >= 400 ? JSON.stringify : fastJson(schema as object),
      ...(route.stream ? { sse: { kind: 'only' as const, heartbeat: false } } : {}),
      handler: route.stream ? events(route) : json(route),
    });
  }
}
