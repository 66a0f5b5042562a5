/**
 * JSON Schema of the HTTP API, converted from its zod schemas with zod 4's own `toJSONSchema`,
 * so no schema is written twice: Fastify validates docs and serializes responses from it, and
 * both adapters put it in the app's OpenAPI document.
 * @module
 */
import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import type { ActiveRunsRoute } from './routes.js';
import { httpErrorBodySchema } from './schemas.js';

/** A JSON Schema object. */
export type JsonSchema = Record<string, unknown>;

/**
 * Which dialect to produce: `draft-7` for Fastify (its validator and serializer) and
 * `@fastify/swagger`, `openapi-3.0` for `@nestjs/swagger`.
 */
export type JsonSchemaTarget = 'draft-7' | 'openapi-3.0';

/** The JSON Schema of a zod schema; parts JSON Schema cannot express become `{}`. */
export function toJsonSchema(
  schema: z.ZodType,
  target: JsonSchemaTarget,
  io: 'input' | 'output' = 'output',
): JsonSchema {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, {
    target,
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return json;
}

/** The JSON Schemas of one route, in the shape Fastify's `schema` route option takes. */
export interface RouteJsonSchemas {
  params?: JsonSchema;
  querystring: JsonSchema;
  body?: JsonSchema;
  /**
   * By status: the success body (for the event stream, its `content` by media type), then each
   * error status with the error body; each has a `description`.
   */
  response: Record<number, JsonSchema>;
}

/** Converts a route's schemas. Request parts describe what a caller may send (`io: 'input'`). */
export function routeJsonSchemas(
  route: ActiveRunsRoute,
  target: JsonSchemaTarget,
): RouteJsonSchemas {
  const error = toJsonSchema(httpErrorBodySchema, target);
  const response: Record<number, JsonSchema> = {};
  if (route.response) {
    response[route.successStatus] = {
      description: STATUS_CODES[route.successStatus],
      ...toJsonSchema(route.response, target),
    };
  } else if (route.stream) {
    response[route.successStatus] = {
      description:
        'Server-Sent Events: `event:` the change type or `gap`, `id:` the scope seq, `data:` the event as JSON',
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    };
  }
  for (const status of route.errorStatuses) {
    response[status] = {
      description: `${STATUS_CODES[status]}: { error: { code, message, field? } }`,
      ...error,
    };
  }
  return {
    ...(route.params ? { params: toJsonSchema(route.params, target, 'input') } : {}),
    querystring: toJsonSchema(route.query, target, 'input'),
    ...(route.body ? { body: toJsonSchema(route.body, target, 'input') } : {}),
    response,
  };
}
