import { activeRuns } from '@active-runs/fastify';
import Fastify from 'fastify';
import type { Redis } from 'ioredis';
import type { BenchApp, FloorPage, ServerChildOptions } from './app-setup.js';
import {
  ADAPTER_PREFIX,
  BARE_PATH,
  FLOOR_PATH,
  headerScope,
  LEGACY_PATH,
  legacyPage,
  queryLimit,
  SERIALIZE_PATH,
} from './app-setup.js';

type ListRequest = { Querystring: { limit?: string } };

/**
 * A Fastify app as a user would write it: `@active-runs/fastify` with its routes under `/api`,
 * next to the routes the bench compares it with (app-setup.ts).
 */
export async function startFastifyApp(
  options: ServerChildOptions,
  redis: Redis,
  floor: FloorPage,
): Promise<BenchApp> {
  const app = Fastify({ logger: false });
  await app.register(activeRuns, {
    redis,
    prefix: options.storePrefix,
    routes: { prefix: ADAPTER_PREFIX, resolveScope: headerScope },
  });
  app.get(FLOOR_PATH, (_request, reply) => {
    reply.header('content-type', floor.contentType).send(floor.body);
  });
  app.get(SERIALIZE_PATH, (_request, reply) => {
    reply.header('content-type', floor.contentType).send(JSON.stringify(floor.page));
  });
  app.get<ListRequest>(BARE_PATH, (request) =>
    app.activeRuns.list(headerScope(request), { limit: queryLimit(request.query) }),
  );
  app.get<ListRequest>(LEGACY_PATH, (request) =>
    legacyPage(redis, headerScope(request), queryLimit(request.query)),
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return { port: address.port, close: () => app.close() };
}
