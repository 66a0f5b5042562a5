import {
  connect,
  contractDataSchema,
  deletePrefix,
  expectActiveRunsOpenApi,
  uniquePrefix,
} from '@active-runs/test-utils';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { afterAll, expect, inject, it } from 'vitest';
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
      dataSchema: contractDataSchema,
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
    expectActiveRunsOpenApi(document, '/api');
    // what Nest's document says beyond that: which bodies are required
    const paths = document.paths as Record<
      string,
      Record<string, { requestBody: { required: boolean } }>
    >;
    expect(paths['/api/runs/active']!.post!.requestBody.required).toBe(true);
    expect(paths['/api/runs/active/{runId}/start']!.post!.requestBody.required).toBe(false);
  } finally {
    await app.close();
  }
});
