import type { ActiveRunsRoute, JsonSchema } from '@active-runs/core';
import { routeJsonSchemas } from '@active-runs/core';
import type { Type } from '@nestjs/common';

type Swagger = typeof import('@nestjs/swagger');
type SchemaObject = import('@nestjs/swagger').SchemaObject;
type ContentObject = import('@nestjs/swagger').ContentObject;

function properties(schema: JsonSchema | undefined): [string, SchemaObject][] {
  return Object.entries((schema?.properties ?? {}) as Record<string, SchemaObject>);
}

/**
 * Documents the controller's routes for `@nestjs/swagger`, when the app has it installed (an
 * optional peer: loaded with `import()`, so apps without it pay nothing). The schemas are the
 * core's zod schemas converted to OpenAPI 3.0, with `data` typed by the app's `dataSchema`.
 */
export async function documentController(
  controller: Type<unknown>,
  routes: readonly ActiveRunsRoute[],
): Promise<void> {
  let swagger: Swagger;
  try {
    swagger = await import('@nestjs/swagger');
  } catch {
    return;
  }
  const { ApiBody, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } = swagger;
  ApiTags('active-runs')(controller);
  const prototype = controller.prototype as object;
  for (const route of routes) {
    const descriptor = Object.getOwnPropertyDescriptor(prototype, route.name);
    if (!descriptor) continue;
    const schemas = routeJsonSchemas(route, 'openapi-3.0');
    const decorators: MethodDecorator[] = [
      ApiOperation({ summary: route.summary, operationId: `activeRuns_${route.name}` }),
    ];
    for (const [name, schema] of properties(schemas.params)) {
      decorators.push(ApiParam({ name, schema, required: true }));
    }
    for (const [name, schema] of properties(schemas.querystring)) {
      decorators.push(ApiQuery({ name, schema, required: false }));
    }
    if (schemas.body && route.body) {
      const required = !route.body.safeParse(undefined).success;
      decorators.push(ApiBody({ schema: schemas.body as SchemaObject, required }));
    }
    for (const [status, { description, content, ...schema }] of Object.entries(schemas.response)) {
      decorators.push(
        ApiResponse({
          status: Number(status),
          description: String(description),
          ...(content ? { content: content as ContentObject } : { schema }),
        }),
      );
    }
    for (const decorate of decorators) decorate(prototype, route.name, descriptor);
  }
}
