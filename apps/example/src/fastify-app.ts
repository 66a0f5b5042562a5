/**
 * The example on Fastify: the `@active-runs/fastify` plugin serves the API under `/api` for
 * the scope of the demo login, and the app serves the dashboard and the login itself.
 * @module
 */
import { activeRuns } from '@active-runs/fastify';
import Fastify, { type FastifyReply } from 'fastify';
import { type AppAnswer, exampleRoutes } from './app-routes.js';
import { setUpMetrics } from './metrics.js';
import type { runData } from './run-data.js';
import {
  API_PREFIX,
  choosePort,
  localUrl,
  type RunningServer,
  type ServerConfig,
  storeOptions,
} from './server-config.js';
import { createDemoSessions, SessionError } from './session.js';

// types app.activeRuns by the example's data schema
declare module '@active-runs/fastify' {
  interface ActiveRunsFastifyTypes {
    dataSchema: typeof runData;
  }
}

function send(reply: FastifyReply, answer: AppAnswer): FastifyReply {
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

/** Starts the Fastify server of the example. */
export async function startFastifyServer(config: ServerConfig): Promise<RunningServer> {
  // run ids reach 128 characters; Fastify's default limit is 100
  const app = Fastify({ logger: { level: 'error' }, routerOptions: { maxParamLength: 128 } });
  const sessions = createDemoSessions({ secret: config.sessionSecret });
  setUpMetrics(); // before the store: it reports to the global meter provider it finds

  // what resolveScope throws reaches the app's error handler: answer it in the API's error shape
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof SessionError) return reply.code(error.status).send(error.body);
    throw error;
  });

  try {
    await app.register(activeRuns, {
      ...storeOptions(config),
      routes: { prefix: API_PREFIX, resolveScope: (request) => sessions.resolveScope(request) },
    });
    for (const route of exampleRoutes({ sessions, serverName: 'fastify' })) {
      app.route({
        method: route.method,
        url: route.path,
        handler: async (request, reply) => send(reply, await route.handle(request)),
      });
    }
    await app.listen({ port: await choosePort(config), host: '127.0.0.1' });
  } catch (error) {
    await app.close();
    throw error;
  }
  return { name: 'fastify', url: localUrl(app.server.address()), close: () => app.close() };
}
