import type { ActiveRunStore, ActiveRunsAdapterOptions, DataSchema } from '@active-runs/core';
import type { FastifyRequest } from 'fastify';

/**
 * Types `app.activeRuns` by your data schema, through declaration merging:
 *
 * ```ts
 * declare module '@active-runs/fastify' {
 *   interface ActiveRunsFastifyTypes {
 *     dataSchema: typeof runData; // the zod schema you pass as `dataSchema`
 *   }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: apps augment it with their dataSchema
export interface ActiveRunsFastifyTypes {}

/** The `data` type of `app.activeRuns`: from the augmented `dataSchema`, else `unknown`. */
export type ActiveRunsFastifyData = ActiveRunsFastifyTypes extends {
  dataSchema: DataSchema<infer TData>;
}
  ? TData
  : unknown;

/**
 * Options of the plugin: every option of `createActiveRunStore` (`redis` a client or a URL),
 * `sweeper.intervalMs` to run the sweeper with the app, and `routes` to serve the HTTP API.
 */
export type ActiveRunsFastifyOptions<TData = ActiveRunsFastifyData> = ActiveRunsAdapterOptions<
  TData,
  FastifyRequest
>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The active-runs store of `@active-runs/fastify`. */
    activeRuns: ActiveRunStore<ActiveRunsFastifyData>;
  }
}
