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
} from './events.js';
export { decodeRunEvent, RunEventHub } from './events.js';
export type { ParsedScope, Scope, ScopeKeys } from './keys.js';
export { scopeKeys } from './keys.js';
export type { ActiveRunsLogger } from './logger.js';
export type { DataSchema, RedisLike } from './schemas.js';
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
} from './store.js';
export { createActiveRunStore } from './store.js';
export type { ExpiredHook, ExpiredReport, SweeperOptions, SweepResult } from './sweeper.js';
