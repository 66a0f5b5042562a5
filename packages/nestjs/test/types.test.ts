/**
 * Type tests: `pnpm typecheck` (tsc over this file) fails when they do not hold; vitest runs the
 * few runtime lines.
 */
import type { ActiveRun, ActiveRunStore, Scope } from '@active-runs/core';
import { Injectable } from '@nestjs/common';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  type ACTIVE_RUN_STORE,
  ActiveRunsModule,
  type ActiveRunsModuleAsyncOptions,
  InjectActiveRuns,
} from '../src/index.js';

const runData = z.object({ model: z.string(), tokens: z.number().int() });
type RunData = z.output<typeof runData>;
const scope: Scope = { workspaceId: 1, projectId: 'p' };

/** A service of the app: the injected store typed by the app's data. */
@Injectable()
class RunsService {
  constructor(@InjectActiveRuns() readonly runs: ActiveRunStore<RunData>) {}

  async tokens(id: string): Promise<number | undefined> {
    return (await this.runs.get(scope, id))?.data?.tokens;
  }
}

describe('types', () => {
  it('the injected store is typed by the data schema', () => {
    expectTypeOf<
      RunsService['runs']['get']
    >().returns.resolves.toEqualTypeOf<ActiveRun<RunData> | null>();
    expectTypeOf<RunsService['tokens']>().returns.resolves.toEqualTypeOf<number | undefined>();
    const enqueue = (service: RunsService) => {
      // @ts-expect-error data must match the schema
      void service.runs.enqueue(scope, { id: 'r', data: { model: 1 } });
      void service.runs.enqueue(scope, { id: 'r', data: { model: 'm', tokens: 1 } });
    };
    expectTypeOf(enqueue).toBeFunction();
    expectTypeOf<typeof ACTIVE_RUN_STORE>().toEqualTypeOf<'ACTIVE_RUN_STORE'>();
  });

  it('forRoot infers the data type from dataSchema', () => {
    ActiveRunsModule.forRoot({
      redis: 'redis://127.0.0.1:6379',
      dataSchema: runData,
      sweeper: { intervalMs: 5_000 },
      onExpired: (run) => {
        expectTypeOf(run.data).toEqualTypeOf<RunData | null>();
      },
      isGlobal: true,
      routes: { prefix: '/api', writes: true, resolveScope: async () => scope },
    });
    const noScope = () =>
      // @ts-expect-error routes need resolveScope
      ActiveRunsModule.forRoot({ redis: 'redis://127.0.0.1:6379', routes: { prefix: '/api' } });
    expectTypeOf(noScope).toBeFunction();
  });

  it('forRootAsync takes imports, inject and a factory, a class or an existing provider', () => {
    const options: ActiveRunsModuleAsyncOptions = {
      inject: ['CONFIG'],
      useFactory: (config: { url: string }) => ({ redis: config.url }),
      routes: { resolveScope: () => scope },
    };
    expectTypeOf(options.useFactory).not.toBeUndefined();
    // @ts-expect-error the factory must return the module's options
    const wrong: ActiveRunsModuleAsyncOptions = { useFactory: () => ({ url: 'x' }) };
    void wrong;
  });
});
