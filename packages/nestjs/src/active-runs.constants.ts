/** Injection token of the store: `@Inject(ACTIVE_RUN_STORE)`, or `@InjectActiveRuns()`. */
export const ACTIVE_RUN_STORE = 'ACTIVE_RUN_STORE';

/** The request handler of the routes (internal). */
export const ACTIVE_RUNS_HTTP = Symbol('ACTIVE_RUNS_HTTP');

/** The open event streams, ended on shutdown (internal). */
export const ACTIVE_RUNS_STREAMS = Symbol('ACTIVE_RUNS_STREAMS');

/** The routes' `resolveScope` as a function of the request (internal). */
export const ACTIVE_RUNS_SCOPE_RESOLVER = Symbol('ACTIVE_RUNS_SCOPE_RESOLVER');

/** Token of the module's options: what `forRoot` takes, or the `forRootAsync` factory returns. */
export const ACTIVE_RUNS_MODULE_OPTIONS = Symbol('ACTIVE_RUNS_MODULE_OPTIONS');
