export type { ActiveRun, RunStatus } from './codec.js';
export {
  DEFAULT_LEASE_MS,
  DEFAULT_PAGE_SIZE,
  DEFAULT_PREFIX,
  HOUR_MS,
  MAX_OFFSET,
  MAX_PAGE_SIZE,
  MINUTE_MS,
  SECOND_MS,
} from './constants.js';
export type { ActiveRunsErrorCode, ActiveRunsErrorOptions } from './errors.js';
export {
  ACTIVE_RUNS_ERROR_CODES,
  ActiveRunsError,
  HTTP_STATUS_BY_CODE,
  isActiveRunsError,
} from './errors.js';
export type {
  RunChangeEvent,
  RunChangeType,
  RunEvent,
  RunEventHandler,
  RunEventHubOptions,
  RunEventIteratorOptions,
  RunGapEvent,
  RunGapReason,
  RunHeartbeatEvent,
  Unsubscribe,
} from './events/index.js';
export { decodeRunEvent, RunEventHub } from './events/index.js';
export type { AdapterStore } from './http/adapter-store.js';
export { startAdapterStore, waitForRedis } from './http/adapter-store.js';
export type { ActiveRunsHttpResult } from './http/errors.js';
export { httpErrorBody, httpErrorResult } from './http/errors.js';
export type {
  ActiveRunsEventStream,
  ActiveRunsHttpHandler,
  ActiveRunsHttpHandlerOptions,
  ActiveRunsHttpRequest,
  ResolveScope,
} from './http/handler.js';
export { createActiveRunsHttpHandler } from './http/handler.js';
export type { JsonSchema, JsonSchemaTarget, RouteJsonSchemas } from './http/json-schema.js';
export { routeJsonSchemas, toJsonSchema } from './http/json-schema.js';
export type {
  ActiveRunsAdapterOptions,
  ActiveRunsRoutesOptions,
  AdapterSweeperOptions,
  ResolvedRoutesOptions,
} from './http/options.js';
export { parseRoutesOptions } from './http/options.js';
export type {
  ActiveRunsHttpMethod,
  ActiveRunsRoute,
  ActiveRunsRouteName,
  ActiveRunsRoutesTableOptions,
} from './http/routes.js';
export { activeRunsRoutes } from './http/routes.js';
export type { HttpErrorBody } from './http/schemas.js';
export {
  activeRunSchema,
  httpErrorBodySchema,
  listPageSchema,
  runCountsSchema,
} from './http/schemas.js';
export type { ActiveRunsSseMessage, SseStreamLease } from './http/sse.js';
export { DEFAULT_SSE_HEARTBEAT_MS, SseStreamRegistry } from './http/sse.js';
export type { ParsedScope, Scope, ScopeKeys } from './keys.js';
export { scopeKeys } from './keys.js';
export type {
  LegacyKeySkipReason,
  LegacyMigrationProgress,
  LegacyMigrationReport,
  LegacyRecordSkipReason,
  MigrateLegacyOptions,
} from './legacy/backfill.js';
export { migrateLegacy } from './legacy/backfill.js';
export type { LegacyDecodeContext, LegacyOptions, LegacyRunInput } from './legacy/options.js';
export type { LegacySkipReason } from './legacy/record.js';
export { decodeLegacyRecord, encodeLegacyRecord } from './legacy/record.js';
export type { ActiveRunsLogger } from './logger.js';
export { listPageJson } from './page-json.js';
export type { DataSchema, RedisLike } from './schemas.js';
export { createActiveRunStore } from './store.js';
export type {
  ActiveRunStore,
  ActiveRunStoreOptions,
  EnqueueInput,
  HeartbeatOptions,
  ListOptions,
  ListPage,
  ProgressInput,
  RunCounts,
  ScopeStats,
  StartOptions,
  StartSweeperOptions,
} from './store-types.js';
export type { ExpiredHook, ExpiredReport, SweeperOptions, SweepResult } from './sweeper.js';
export type {
  MeterProviderLike,
  TelemetryOptions,
  TracerProviderLike,
} from './telemetry/options.js';
export { INSTRUMENT_NAMES, INSTRUMENTATION_SCOPE } from './telemetry/store-telemetry.js';
