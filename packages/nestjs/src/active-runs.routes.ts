import type { ActiveRunStore, ActiveRunsHttpRequest, ResolveScope } from '@active-runs/core';
import {
  activeRunsRoutes,
  createActiveRunsHttpHandler,
  parseRoutesOptions,
  type SseStreamRegistry,
} from '@active-runs/core';
import type { DynamicModule, Provider } from '@nestjs/common';
import {
  ACTIVE_RUN_STORE,
  ACTIVE_RUNS_HTTP,
  ACTIVE_RUNS_MODULE_OPTIONS,
  ACTIVE_RUNS_SCOPE_RESOLVER,
  ACTIVE_RUNS_STREAMS,
} from './active-runs.constants.js';
import type { ActiveRunsHttp } from './active-runs.controller.js';
import { createActiveRunsController } from './active-runs.controller.js';
import type {
  ActiveRunsModuleOptions,
  ActiveRunsNestRoutesOptions,
  ActiveRunsScopeResolver,
} from './active-runs.interfaces.js';
import { documentController } from './active-runs.openapi.js';

function isResolverClass(
  value: unknown,
): value is new (
  ...args: never[]
) => ActiveRunsScopeResolver {
  return (
    typeof value === 'function' &&
    typeof (value.prototype as Partial<ActiveRunsScopeResolver> | undefined)?.resolveScope ===
      'function'
  );
}

/** `routes.resolveScope` as a provider of a function of the request. */
function scopeResolverProviders(
  resolveScope: ActiveRunsNestRoutesOptions['resolveScope'],
): Provider[] {
  if (!isResolverClass(resolveScope)) {
    return [{ provide: ACTIVE_RUNS_SCOPE_RESOLVER, useValue: resolveScope }];
  }
  return [
    resolveScope,
    {
      provide: ACTIVE_RUNS_SCOPE_RESOLVER,
      inject: [resolveScope],
      useFactory:
        (resolver: ActiveRunsScopeResolver): ResolveScope<ActiveRunsHttpRequest> =>
        (request) =>
          resolver.resolveScope(request),
    },
  ];
}

/**
 * Adds the HTTP API to the module definition when `routes` is given: the controller, the
 * scope resolver and the request handler. Checks `routes` when the module is imported, so a
 * missing `resolveScope` fails the app's start with a clear message.
 */
export function withRoutes(
  definition: DynamicModule,
  routes: ActiveRunsNestRoutesOptions | undefined,
): DynamicModule {
  // a resolver class is a function too: the core checks it like one
  const resolved = parseRoutesOptions(routes as Parameters<typeof parseRoutesOptions>[0]);
  if (!resolved) return definition;
  const controller = createActiveRunsController(resolved as never);
  const http: Provider = {
    provide: ACTIVE_RUNS_HTTP,
    inject: [
      ACTIVE_RUN_STORE,
      ACTIVE_RUNS_SCOPE_RESOLVER,
      ACTIVE_RUNS_STREAMS,
      ACTIVE_RUNS_MODULE_OPTIONS,
    ],
    useFactory: async (
      store: ActiveRunStore<unknown>,
      resolveScope: ResolveScope<ActiveRunsHttpRequest>,
      streams: SseStreamRegistry,
      options: ActiveRunsModuleOptions,
    ): Promise<ActiveRunsHttp> => {
      const table = activeRunsRoutes({ writes: resolved.writes, dataSchema: options.dataSchema });
      await documentController(controller, table);
      return {
        handler: createActiveRunsHttpHandler({ store, resolveScope }),
        routes: new Map(table.map((route) => [route.name, route])),
        streams,
        heartbeatMs: resolved.sseHeartbeatMs,
      };
    },
  };
  return {
    ...definition,
    controllers: [...(definition.controllers ?? []), controller],
    providers: [
      ...(definition.providers ?? []),
      ...scopeResolverProviders(resolved.resolveScope as never),
      http,
    ],
  };
}
