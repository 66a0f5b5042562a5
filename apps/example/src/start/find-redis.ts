/**
 * Where `npm start` gets its Redis, in this order: `REDIS_URL`; else 127.0.0.1:6379 if a Redis 7
 * answers there; else a throwaway `redis-server` if one is installed; else a testcontainers
 * container if Docker runs; else it stops with a message that says how to get one.
 * @module
 */
import { findRedisServer, startRedisServer } from '@active-runs/test-utils';
import { Redis } from 'ioredis';

/** Environment variable of the address tried second (`off` skips that step). */
export const LOCAL_REDIS_ENV = 'ACTIVE_RUNS_EXAMPLE_LOCAL_REDIS';
const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';
const CONTAINER_IMAGE = 'redis:7.4-alpine';
const MIN_MAJOR_VERSION = 7;

/** The Redis the demo uses. */
export interface FoundRedis {
  url: string;
  /** How it was found, for people. */
  description: string;
  /** Started for the demo: stopped (and its data gone) when the demo stops. */
  owned: boolean;
  /** Stops what was started; nothing for a Redis that was already there. */
  stop(): Promise<void>;
}

/** No Redis could be found or started; the message says what was tried and what to do. */
export class NoRedisError extends Error {
  override name = 'NoRedisError';
}

/** Options of {@link findRedis}. */
export interface FindRedisOptions {
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Reports each step. */
  log(line: string): void;
}

/** A URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
}

/** Why the Redis at `url` cannot serve the demo, or `undefined` when it can. */
async function problemWith(url: string): Promise<string | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // the connection's own error (ECONNREFUSED...) says more than the command's "Connection is closed"
  let connectionError: Error | undefined;
  client.on('error', (error: Error) => {
    connectionError = error;
  });
  try {
    await client.connect();
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '0';
    if (Number.parseInt(version, 10) < MIN_MAJOR_VERSION) {
      return `it runs Redis ${version}; the store's scripts need ${MIN_MAJOR_VERSION} or newer`;
    }
    return undefined;
  } catch (error) {
    return (connectionError ?? (error as Error)).message;
  } finally {
    client.disconnect();
  }
}

async function startContainer(): Promise<FoundRedis> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer(CONTAINER_IMAGE).start();
  return {
    url: container.getConnectionUrl(),
    description: `a ${CONTAINER_IMAGE} container (testcontainers)`,
    owned: true,
    stop: async () => {
      await container.stop();
    },
  };
}

function noRedisMessage(tried: string[]): string {
  return [
    'No Redis for the demo. npm start looked, in this order:',
    ...tried.map((line, index) => `  ${index + 1}. ${line}`),
    'Get one of them, then run npm start again:',
    '  - install redis-server (the demo starts a throwaway one and stops it on Ctrl-C):',
    '      sudo apt-get install -y redis-server     (Debian, Ubuntu)',
    '      brew install redis                       (macOS)',
    '  - or start a Redis 7 on 127.0.0.1:6379, or point at one: REDIS_URL=redis://host:6379 npm start',
    `  - or start Docker: the demo then runs ${CONTAINER_IMAGE} in a container`,
  ].join('\n');
}

/**
 * Finds or starts the demo's Redis (see the module's comment).
 * @throws NoRedisError when every step failed, or `REDIS_URL` is set but does not answer
 */
export async function findRedis(options: FindRedisOptions): Promise<FoundRedis> {
  const env = options.env ?? process.env;
  const { log } = options;
  const tried: string[] = [];
  const nothingToStop = async () => {};

  const url = env.REDIS_URL;
  if (url) {
    const problem = await problemWith(url);
    if (problem) {
      throw new NoRedisError(
        `REDIS_URL=${redactUrl(url)} cannot serve the demo: ${problem}.\nStart that Redis or fix REDIS_URL, or unset it to let npm start find or start a Redis.`,
      );
    }
    return { url, description: `REDIS_URL (${redactUrl(url)})`, owned: false, stop: nothingToStop };
  }
  tried.push('REDIS_URL: not set');

  const local = env[LOCAL_REDIS_ENV] ?? LOCAL_REDIS_URL;
  if (local !== 'off') {
    const problem = await problemWith(local);
    if (!problem) {
      return {
        url: local,
        description: `the Redis at ${redactUrl(local)}`,
        owned: false,
        stop: nothingToStop,
      };
    }
    tried.push(`${redactUrl(local)}: ${problem}`);
  } else {
    tried.push(`${LOCAL_REDIS_ENV}=off: not tried`);
  }

  const bin = findRedisServer(env.REDIS_SERVER_BIN ?? 'redis-server');
  if (bin) {
    log(`starting a throwaway ${bin}`);
    const server = await startRedisServer({ bin, detached: true });
    return {
      url: server.url,
      description: `a throwaway redis-server (pid ${server.pid}), stopped with the demo`,
      owned: true,
      stop: server.stop,
    };
  }
  tried.push(`redis-server: ${env.REDIS_SERVER_BIN ?? 'redis-server'} is not installed`);

  try {
    log('trying Docker (testcontainers)');
    return await startContainer();
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    tried.push(`Docker (testcontainers): ${reason}`);
  }
  throw new NoRedisError(noRedisMessage(tried));
}
