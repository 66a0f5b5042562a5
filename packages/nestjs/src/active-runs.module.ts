import type { ActiveRunStore } from '@active-runs/core';
import { SseStreamRegistry, startAdapterStore } from '@active-runs/core';
import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  ACTIVE_RUN_STORE,
  ACTIVE_RUNS_MODULE_OPTIONS,
  ACTIVE_RUNS_STREAMS,
} from './active-runs.constants.js';
import type { ActiveRunsModuleExtras, ActiveRunsModuleOptions } from './active-runs.interfaces.js';
import { ConfigurableModuleClass } from './active-runs.module-definition.js';

/** Creates the store, waits for Redis (a clear start-up error otherwise), starts the sweeper. */
async function createStore(options: ActiveRunsModuleOptions): Promise<ActiveRunStore<unknown>> {
  return (await startAdapterStore(options)).store;
}

/** Ends open event streams before the HTTP server closes, then closes the store. */
@Injectable()
class ActiveRunsShutdown implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(ACTIVE_RUN_STORE) private readonly store: ActiveRunStore<unknown>,
    @Inject(ACTIVE_RUNS_STREAMS) private readonly streams: SseStreamRegistry,
  ) {}

  beforeApplicationShutdown(): Promise<void> {
    // the server only closes idle connections: streams end (and their responses close) first
    return this.streams.endAll();
  }

  async onApplicationShutdown(): Promise<void> {
    // stops the sweeper; quits the Redis client only if the store created it from a URL
    await this.store.close();
  }
}

/**
 * The active-runs module: provides the store under {@link ACTIVE_RUN_STORE} (inject it with
 * `@InjectActiveRuns()`) and, with `routes`, a controller serving the HTTP API and its live
 * event stream.
 *
 * @example
 * ActiveRunsModule.forRoot({
 *   redis: process.env.REDIS_URL,
 *   dataSchema: runData,
 *   isGlobal: true,
 *   routes: { prefix: '/api', resolveScope: (request) => request.user.scope },
 * })
 */
@Module({
  providers: [
    { provide: ACTIVE_RUN_STORE, inject: [ACTIVE_RUNS_MODULE_OPTIONS], useFactory: createStore },
    { provide: ACTIVE_RUNS_STREAMS, useFactory: () => new SseStreamRegistry() },
    ActiveRunsShutdown,
  ],
  exports: [ACTIVE_RUN_STORE],
})
export class ActiveRunsModule extends ConfigurableModuleClass {
  /** The module with its options; `TData` follows `dataSchema`, so `onExpired` is typed. */
  static override forRoot<TData = unknown>(
    options: ActiveRunsModuleOptions<TData> & ActiveRunsModuleExtras,
  ): DynamicModule {
    // biome-ignore lint/complexity/noThisInStatic: `super` keeps `this`, so the definition's module is ActiveRunsModule
    return super.forRoot(options);
  }
}
