import { connect, deletePrefix, uniquePrefix } from '@active-runs/test-utils';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { afterAll, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { ActiveRunsModule } from '../src/index.js';

const prefix = uniquePrefix('nest-openapi');
afterAll(async () => {
  const admin = connect(inject('redisUrl'));
  await deletePrefix(admin, prefix);
  await admin.quit();
});

it('documents every route in the @nestjs/swagger document, schemas from zod, data typed by dataSchema', async () => {
  const app = await NestFactory.create(
    ActiveRunsModule.forRoot({
      redis: inject('redisUrl'),
      prefix,
      dataSchema: z.object({ model: z.string(), tokens: z.number().int() }),
      routes: {
        prefix: '/api',
        writes: true,
        resolveScope: () => ({ workspaceId: 1, projectId: 1 }),
      },
    }),
    { logger: false },
  );
  try {
    await app.init();
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder().setTitle('t').setVersion('1').build(),
    );
    // biome-ignore lint/suspicious/noExplicitAny: the test reads into the document freely
    const paths = document.paths as Record<string, Record<string, any>>;
    expect(Object.keys(paths).sort()).toEqual([
      '/api/runs/active',
      '/api/runs/active/counts',
      '/api/runs/active/events',
      '/api/runs/active/{runId}',
      '/api/runs/active/{runId}/heartbeat',
      '/api/runs/active/{runId}/start',
    ]);
    expect(Object.keys(paths['/api/runs/active/{runId}']!).sort()).toEqual([
      'delete',
      'get',
      'patch',
    ]);
    const list = paths['/api/runs/active']!.get;
    expect(list.operationId).toBe('activeRuns_list');
    expect(list.tags).toEqual(['active-runs']);
    expect(
      list.parameters.map((p: { in: string; name: string }) => `${p.in}:${p.name}`).sort(),
    ).toEqual([
      'query:cursor',
      'query:limit',
      'query:page',
      'query:pageSize',
      'query:source',
      'query:status',
    ]);
    const limit = list.parameters.find((p: { name: string }) => p.name === 'limit');
    expect(limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 500 });
    const page = list.responses['200'].content['application/json'].schema;
    expect(page.properties.items.items.properties.data).toMatchObject({
      type: 'object',
      nullable: true,
      properties: { model: { type: 'string' }, tokens: { type: 'integer' } },
    });
    expect(list.responses['400'].content['application/json'].schema.properties.error).toBeDefined();

    const enqueue = paths['/api/runs/active']!.post;
    expect(enqueue.requestBody.required).toBe(true);
    expect(enqueue.requestBody.content['application/json'].schema.required).toEqual(['id']);
    expect(Object.keys(enqueue.responses)).toEqual(
      expect.arrayContaining(['201', '400', '409', '413']),
    );
    expect(paths['/api/runs/active/{runId}/start']!.post.requestBody.required).toBe(false);
    const get = paths['/api/runs/active/{runId}']!.get;
    expect(get.parameters).toEqual([
      expect.objectContaining({ in: 'path', name: 'runId', required: true }),
    ]);
    const events = paths['/api/runs/active/events']!.get;
    expect(Object.keys(events.responses['200'].content)).toEqual(['text/event-stream']);
    expect(Object.keys(events.responses['400'].content)).toEqual(['application/json']);
  } finally {
    await app.close();
  }
});
