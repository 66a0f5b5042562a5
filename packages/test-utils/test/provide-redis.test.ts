import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { provideRedis } from '../src/index.js';

/** Whether something accepts TCP connections on 127.0.0.1:port right now. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function ping(url: string): Promise<string> {
  const client = new Redis(url, {
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    commandTimeout: 2_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.ping();
  } finally {
    client.disconnect();
  }
}

const savedUrl = process.env.REDIS_URL;
afterEach(() => {
  if (savedUrl === undefined) delete process.env.REDIS_URL;
  else process.env.REDIS_URL = savedUrl;
});

describe('provideRedis', () => {
  it('uses a given url as is, and stop() leaves that Redis alone', async () => {
    const redis = await provideRedis({ url: 'redis://127.0.0.1:1/3' });
    expect(redis).toMatchObject({ url: 'redis://127.0.0.1:1/3', source: 'env' });
    await redis.stop();
  });

  it('reads REDIS_URL from the environment when no url option is passed', async () => {
    process.env.REDIS_URL = 'redis://127.0.0.1:2/5';
    const redis = await provideRedis();
    expect(redis).toMatchObject({ url: 'redis://127.0.0.1:2/5', source: 'env' });
  });

  it('without a url, starts a throwaway redis-server on loopback and stop() closes its port', async () => {
    process.env.REDIS_URL = 'redis://127.0.0.1:2/5'; // ignored: url: undefined was passed
    const redis = await provideRedis({ url: undefined });
    expect(redis.source).toBe('redis-server');
    expect(redis.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(await ping(redis.url)).toBe('PONG');
    const port = Number(new URL(redis.url).port);
    await redis.stop();
    expect(await listening(port)).toBe(false);
  });

  const dockerReachable = existsSync('/var/run/docker.sock') || Boolean(process.env.DOCKER_HOST);
  it.skipIf(dockerReachable)(
    'without a url or redis-server binary, falls to testcontainers and fails fast with a clear error when Docker is missing',
    { timeout: 30_000 },
    async () => {
      const began = Date.now();
      const error = await provideRedis({
        url: undefined,
        redisServerBin: '/nonexistent/redis-server',
      }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      console.log(
        `[provide-redis] testcontainers without Docker failed after ${Date.now() - began}ms`,
      );
      expect(error).toBeInstanceOf(Error);
      expect(error?.message).toMatch(/testcontainers/);
      expect(error?.message).toMatch(/Docker/);
      expect(error?.message).toMatch(/REDIS_URL/);
      expect(error?.message).toMatch(/redis-server/);
    },
  );
});
