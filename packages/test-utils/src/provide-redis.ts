import { findRedisServer, startRedisServer } from './redis-server.js';

/** How the test Redis was obtained. */
export type RedisSource = 'env' | 'redis-server' | 'testcontainers';

/** A Redis for a test run. */
export interface ProvidedRedis {
  url: string;
  source: RedisSource;
  /** Stops what was started (nothing for REDIS_URL). */
  stop(): Promise<void>;
}

/** Options of {@link provideRedis}; the defaults read the environment. */
export interface ProvideRedisOptions {
  /** @default process.env.REDIS_URL */
  url?: string | undefined;
  /** @default process.env.REDIS_SERVER_BIN ?? 'redis-server' */
  redisServerBin?: string;
  /** Image for testcontainers. @default 'redis:7.4-alpine' */
  image?: string;
}

/**
 * Gives a test run a Redis, in this order: `REDIS_URL` if set; else a throwaway `redis-server`
 * on a free loopback port if the binary is installed; else a testcontainers container (Docker).
 */
export async function provideRedis(options: ProvideRedisOptions = {}): Promise<ProvidedRedis> {
  const url = 'url' in options ? options.url : process.env.REDIS_URL;
  if (url) return { url, source: 'env', stop: async () => {} };

  const bin = findRedisServer(options.redisServerBin);
  if (bin) {
    const server = await startRedisServer({ bin });
    return { url: server.url, source: 'redis-server', stop: server.stop };
  }

  let container: { getConnectionUrl(): string; stop(): Promise<unknown> };
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    container = await new RedisContainer(options.image ?? 'redis:7.4-alpine').start();
  } catch (error) {
    throw new Error(
      `No Redis for the tests: REDIS_URL is not set, redis-server is not installed, and testcontainers could not start a container (${error instanceof Error ? error.message : String(error)}). Install redis-server, start Docker, or set REDIS_URL.`,
      { cause: error },
    );
  }
  return {
    url: container.getConnectionUrl(),
    source: 'testcontainers',
    stop: async () => {
      await container.stop();
    },
  };
}
