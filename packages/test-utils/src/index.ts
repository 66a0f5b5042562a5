export {
  contractDataSchema,
  contractResolveScope,
  ROUTES_PREFIX,
} from './adapter-contract/context.js';
export { runAdapterContract } from './adapter-contract/contract.js';
export type {
  AdapterHarness,
  AdapterHarnessOptions,
  ContractRequest,
  ContractScope,
  ContractStore,
  MakeAdapterHarness,
} from './adapter-contract/harness.js';
export { ContractHttpError, SCOPE_HEADERS } from './adapter-contract/harness.js';
export { expectActiveRunsOpenApi } from './adapter-contract/openapi.js';
export type { SseEvent } from './adapter-contract/sse-client.js';
export { SseClient } from './adapter-contract/sse-client.js';
export { connect, deletePrefix, keysUnder, uniquePrefix } from './fixtures.js';
export { freePort } from './ports.js';
export type { ProvidedRedis, ProvideRedisOptions, RedisSource } from './provide-redis.js';
export { provideRedis } from './provide-redis.js';
export type {
  ClusterNodeAddress,
  ClusterNodeRole,
  RedisClusterHandle,
  RedisClusterNode,
  StartRedisClusterOptions,
  WaitHealthyOptions,
} from './redis-cluster.js';
export {
  connectCluster,
  parseClusterNodes,
  redisClusterGlobalSetup,
  startRedisCluster,
} from './redis-cluster.js';
export type { RedisServerHandle, StartRedisServerOptions } from './redis-server.js';
export { findRedisServer, startRedisServer } from './redis-server.js';
export type { SseViewersReport } from './sse-viewers.js';
export { measureSseViewers } from './sse-viewers.js';
export { redisGlobalSetup } from './vitest-setup.js';
