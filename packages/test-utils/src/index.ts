export { connect, deletePrefix, keysUnder, uniquePrefix } from './fixtures.js';
export { freePort } from './ports.js';
export type { ProvidedRedis, ProvideRedisOptions, RedisSource } from './provide-redis.js';
export { provideRedis } from './provide-redis.js';
export type { RedisServerHandle, StartRedisServerOptions } from './redis-server.js';
export { findRedisServer, startRedisServer } from './redis-server.js';
export { redisGlobalSetup } from './vitest-setup.js';
