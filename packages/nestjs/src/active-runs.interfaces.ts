import type { ActiveRunsAdapterOptions, ActiveRunsRoutesOptions, Scope } from '@active-runs/core';
import type { Type } from '@nestjs/common';

/**
 * An injectable that resolves the caller's scope (for a `resolveScope` that needs other
 * providers, such as an auth service): pass its class as `routes.resolveScope`.
 */
export interface ActiveRunsScopeResolver {
  // biome-ignore lint/suspicious/noExplicitAny: the platform's request (Express or Fastify)
  resolveScope(request: any): Scope | Promise<Scope>;
}

/** The HTTP API of the module: off unless given. */
export interface ActiveRunsNestRoutesOptions
  // biome-ignore lint/suspicious/noExplicitAny: the platform's request (Express or Fastify)
  extends Omit<ActiveRunsRoutesOptions<any>, 'resolveScope'> {
  /**
   * Required: the caller's scope from the request (its own auth), as a function of the
   * request, or the class of an injectable {@link ActiveRunsScopeResolver}. May be async; an
   * `HttpException` it throws (401, 403) is answered unchanged.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the platform's request (Express or Fastify)
  resolveScope: ((request: any) => Scope | Promise<Scope>) | Type<ActiveRunsScopeResolver>;
}

/**
 * Options of `ActiveRunsModule.forRoot` / the factory of `forRootAsync`: every option of
 * `createActiveRunStore` (`redis` a client or a URL) and `sweeper.intervalMs` to run the
 * sweeper with the app.
 */
// biome-ignore lint/suspicious/noExplicitAny: any data type, typed where the store is injected
export type ActiveRunsModuleOptions<TData = any> = Omit<ActiveRunsAdapterOptions<TData>, 'routes'>;

/** Options known when the module is imported, for `forRoot` and `forRootAsync` alike. */
export interface ActiveRunsModuleExtras {
  /**
   * Register the module globally, so every module can inject the store.
   * @default false
   */
  isGlobal?: boolean;
  /** Serve the HTTP API through a controller (off unless given). */
  routes?: ActiveRunsNestRoutesOptions;
}
