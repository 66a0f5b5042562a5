import { expect } from 'vitest';

// biome-ignore lint/suspicious/noExplicitAny: the assertions read into the document freely
type Operation = Record<string, any>;

/**
 * Asserts that an app's OpenAPI 3 document (from `@fastify/swagger` or `@nestjs/swagger`)
 * holds the active-runs routes mounted under `prefix`, with writes on and the suite's
 * `contractDataSchema`: every path and method, the query parameters with their limits, the
 * run's `data` typed by the data schema, the error body, and the event stream's media type.
 */
export function expectActiveRunsOpenApi(document: unknown, prefix: string): void {
  const paths = (document as { paths: Record<string, Record<string, Operation>> }).paths;
  const at = (path: string) => paths[`${prefix}${path}`]!;
  expect(Object.keys(paths).sort()).toEqual(
    [
      '/runs/active',
      '/runs/active/counts',
      '/runs/active/events',
      '/runs/active/{runId}',
      '/runs/active/{runId}/heartbeat',
      '/runs/active/{runId}/start',
    ].map((path) => `${prefix}${path}`),
  );
  expect(Object.keys(at('/runs/active')).sort()).toEqual(['get', 'post']);
  expect(Object.keys(at('/runs/active/{runId}')).sort()).toEqual(['delete', 'get', 'patch']);

  const list = at('/runs/active').get!;
  expect(list).toMatchObject({ operationId: 'activeRuns_list', tags: ['active-runs'] });
  const parameters = list.parameters as { in: string; name: string; schema: object }[];
  expect(parameters.map((p) => `${p.in}:${p.name}`).sort()).toEqual([
    'query:cursor',
    'query:limit',
    'query:page',
    'query:pageSize',
    'query:source',
    'query:status',
  ]);
  expect(parameters.find((p) => p.name === 'limit')!.schema).toMatchObject({
    type: 'integer',
    minimum: 1,
    maximum: 500,
  });
  const page = list.responses['200'].content['application/json'].schema;
  expect(page.properties.items.items.properties.data).toMatchObject({
    type: 'object',
    nullable: true,
    properties: { model: { type: 'string' }, tokens: { type: 'integer' } },
  });
  expect(list.responses['400'].content['application/json'].schema).toMatchObject({
    properties: {
      error: { properties: { code: { enum: expect.arrayContaining(['INVALID_ARGUMENT']) } } },
    },
  });

  const get = at('/runs/active/{runId}').get!;
  expect(get.parameters).toEqual([
    expect.objectContaining({ in: 'path', name: 'runId', required: true }),
  ]);
  expect(Object.keys(get.responses)).toEqual(expect.arrayContaining(['200', '400', '404']));

  const enqueue = at('/runs/active').post!;
  expect(enqueue.requestBody.content['application/json'].schema.required).toEqual(['id']);
  expect(Object.keys(enqueue.responses)).toEqual(
    expect.arrayContaining(['201', '400', '409', '413']),
  );

  const events = at('/runs/active/events').get!;
  expect(events.operationId).toBe('activeRuns_events');
  expect(Object.keys(events.responses['200'].content)).toEqual(['text/event-stream']);
  expect(Object.keys(events.responses['400'].content)).toEqual(['application/json']);
}
