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
export { redisGlobalSetup } from './vitest-setup.js';
