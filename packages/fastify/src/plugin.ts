import { ActiveRunsError, SseStreamRegistry, startAdapterStore } from '@active-runs/core';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { routesPlugin } from './routes.js';
import type { ActiveRunsFastifyOptions } from './types.js';

async function activeRunsPlugin(app: FastifyInstance, options: ActiveRunsFastifyOptions) {
  if (app.hasDecorator('activeRuns')) {
    throw new ActiveRunsError(
      'CONFLICT',
      '@active-runs/fastify is already registered on this Fastify instance (app.activeRuns exists). Register it once, or in separate encapsulated contexts.',
    );
  }
  // checks the options, waits for Redis, starts the sweeper if asked
  const { store, routes } = await startAdapterStore(options);
  app.decorate('activeRuns', store);

  const streams = new SseStreamRegistry();
  // preClose runs before the server closes its connections: end the streams first
  app.addHook('preClose', () => streams.endAll());
  // stops the sweeper; quits the Redis client only if the store created it from a URL
  app.addHook('onClose', async () => store.close());

  if (routes) {
    await app.register(routesPlugin, {
      prefix: routes.prefix,
      store,
      routes,
      streams,
      dataSchema: options.dataSchema,
    });
  }
}

/**
 * The active-runs plugin: decorates `app.activeRuns` with a store and, with `routes`, serves
 * the HTTP API and its live event stream.
 *
 * @example
 * await app.register(activeRuns, {
 *   redis: process.env.REDIS_URL,
 *   dataSchema: runData,
 *   routes: { prefix: '/api', resolveScope: (request) => request.user.scope },
 * });
 */
export const activeRuns = fp(activeRunsPlugin, {
  fastify: '5.x',
  name: '@active-runs/fastify',
});
