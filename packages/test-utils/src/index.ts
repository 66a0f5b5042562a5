export type {
  AdapterHarness,
  AdapterHarnessOptions,
  ContractRequest,
  ContractScope,
  ContractStore,
  MakeAdapterHarness,
  SseEvent,
} from './adapter-contract/index.js';
export {
  ContractHttpError,
  contractDataSchema,
  contractResolveScope,
  ROUTES_PREFIX,
  runAdapterContract,
  SCOPE_HEADERS,
  SseClient,
} from './adapter-contract/index.js';
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
export { measureSseViewers, runSseViewersChild } from './sse-viewers.js';
export { redisGlobalSetup } from './vitest-setup.js';
