import type { AddressInfo } from 'node:net';
import { runAdapterContract } from '@active-runs/test-utils';
import Fastify from 'fastify';
import { activeRuns } from '../src/index.js';

runAdapterContract('fastify', async (options) => {
  // run ids reach 128 characters; Fastify's default maxParamLength is 100
  const app = Fastify({ routerOptions: { maxParamLength: 256 } });
  try {
    await app.register(activeRuns, {
      redis: options.redisUrl,
      prefix: options.prefix,
      commandTimeoutMs: options.commandTimeoutMs,
      dataSchema: options.dataSchema,
      // a ContractHttpError carries its statusCode, which Fastify answers with as is
      routes: options.routes as never,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
  } catch (error) {
    await app.close();
    throw error;
  }
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, store: app.activeRuns, close: () => app.close() };
});
