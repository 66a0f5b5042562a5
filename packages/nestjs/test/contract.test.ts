import type { AddressInfo } from 'node:net';
import {
  type AdapterHarnessOptions,
  ContractHttpError,
  type ContractRequest,
  runAdapterContract,
} from '@active-runs/test-utils';
import { HttpException, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { ACTIVE_RUN_STORE, ActiveRunsModule } from '../src/index.js';

/** The suite's auth, throwing Nest's own HTTP errors as a Nest app's auth would. */
function nestResolveScope(resolveScope: AdapterHarnessOptions['routes']['resolveScope']) {
  if (!resolveScope) return undefined;
  return async (request: ContractRequest) => {
    try {
      return await resolveScope(request);
    } catch (error) {
      if (error instanceof ContractHttpError)
        throw new HttpException(error.message, error.statusCode);
      throw error;
    }
  };
}

for (const platform of ['express', 'fastify'] as const) {
  runAdapterContract(`nestjs (${platform})`, async (options) => {
    const module = ActiveRunsModule.forRoot({
      redis: options.redisUrl,
      prefix: options.prefix,
      commandTimeoutMs: options.commandTimeoutMs,
      dataSchema: options.dataSchema,
      routes: { ...options.routes, resolveScope: nestResolveScope(options.routes.resolveScope)! },
    });
    const app: INestApplication =
      platform === 'express'
        ? await NestFactory.create(module, new ExpressAdapter(), { logger: false })
        : await NestFactory.create(
            module,
            // run ids reach 128 characters; Fastify's default maxParamLength is 100
            new FastifyAdapter({ routerOptions: { maxParamLength: 256 } }),
            { logger: false },
          );
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      store: app.get(ACTIVE_RUN_STORE),
      close: () => app.close(),
    };
  });
}
