/**
 * Type tests: `pnpm typecheck` (tsc over this file) fails when they do not hold; vitest runs the
 * few runtime lines.
 */
import type { ActiveRun, ActiveRunStore, Scope } from '@active-runs/core';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { type ActiveRunsFastifyOptions, activeRuns } from '../src/index.js';

const runData = z.object({ model: z.string(), tokens: z.number().int() });
type RunData = z.output<typeof runData>;

// what an app writes once, next to its dataSchema
declare module '../src/types.js' {
  interface ActiveRunsFastifyTypes {
    dataSchema: typeof runData;
  }
}

const scope: Scope = { workspaceId: 1, projectId: 'p' };

describe('types', () => {
  it('app.activeRuns is the store, typed by the augmented dataSchema', () => {
    type Store = FastifyInstance['activeRuns'];
    expectTypeOf<Store>().toEqualTypeOf<ActiveRunStore<RunData>>();
    expectTypeOf<Store['get']>().returns.resolves.toEqualTypeOf<ActiveRun<RunData> | null>();
    expectTypeOf<Awaited<ReturnType<Store['list']>>['items']>().toEqualTypeOf<
      ActiveRun<RunData>[]
    >();
    const enqueue = (app: FastifyInstance) => {
      // @ts-expect-error data must match the schema
      void app.activeRuns.enqueue(scope, { id: 'r', data: { model: 1 } });
      void app.activeRuns.enqueue(scope, { id: 'r', data: { model: 'm', tokens: 1 } });
    };
    expectTypeOf(enqueue).toBeFunction();
  });

  it('options take every store option, the sweeper interval and typed routes', () => {
    const app = Fastify();
    void app.register(activeRuns, {
      redis: 'redis://127.0.0.1:6379',
      dataSchema: runData,
      leaseMs: 30_000,
      sweeper: { intervalMs: 5_000, batchSize: 100 },
      onExpired: (run) => {
        expectTypeOf(run.data).toEqualTypeOf<RunData | null>();
      },
      routes: {
        prefix: '/api',
        writes: true,
        sseHeartbeatMs: 10_000,
        resolveScope: async (request) => {
          expectTypeOf(request).toEqualTypeOf<FastifyRequest>();
          return scope;
        },
      },
    });
    // @ts-expect-error routes need resolveScope
    const noScope: ActiveRunsFastifyOptions = { redis: 'redis://x', routes: { prefix: '/api' } };
    // @ts-expect-error redis is required
    const noRedis: ActiveRunsFastifyOptions = {};
    void [noScope, noRedis];
  });
});
