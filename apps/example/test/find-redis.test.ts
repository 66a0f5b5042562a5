import { describe, expect, inject, it } from 'vitest';
import { findRedis, LOCAL_REDIS_ENV, NoRedisError, redactUrl } from '../src/start/find-redis.js';
import { alive, nowhere, processGroupOf } from './processes.js';

const redisUrl = inject('redisUrl');
const log = () => {};

describe('where npm start gets its Redis', () => {
  it('1. REDIS_URL when it is set (and nothing is started)', async () => {
    const found = await findRedis({ env: { REDIS_URL: redisUrl }, log });
    expect(found).toMatchObject({ url: redisUrl, owned: false });
  });

  it('1. stops with a message when REDIS_URL is set but does not answer, without trying further', async () => {
    const url = await nowhere();
    const failure = findRedis({ env: { REDIS_URL: url, [LOCAL_REDIS_ENV]: redisUrl }, log });
    await expect(failure).rejects.toThrow(NoRedisError);
    await expect(failure).rejects.toThrow(`REDIS_URL=${url} cannot serve the demo`);
  });

  it('2. else the Redis on 127.0.0.1:6379 (or the address given) if it answers', async () => {
    const found = await findRedis({ env: { [LOCAL_REDIS_ENV]: redisUrl }, log });
    expect(found).toMatchObject({ url: redisUrl, owned: false });
  });

  it('3. else a throwaway redis-server in its own process group, stopped by stop()', async () => {
    const found = await findRedis({ env: { [LOCAL_REDIS_ENV]: await nowhere() }, log });
    try {
      expect(found.owned).toBe(true);
      const pid = Number(/pid (\d+)/.exec(found.description)?.[1]);
      // a Ctrl-C in the terminal does not reach it: the demo stops it after the servers
      expect(processGroupOf(pid)).toBe(pid);
      expect(alive(pid)).toBe(true);
      await found.stop();
      expect(alive(pid)).toBe(false);
    } finally {
      await found.stop();
    }
  });

  it('4-5. else Docker, else a message that says what was tried and how to get a Redis', async () => {
    const dockerHost = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    try {
      const local = await nowhere();
      const env = { [LOCAL_REDIS_ENV]: local, REDIS_SERVER_BIN: '/nonexistent/redis-server' };
      const failure = await findRedis({ env, log }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(NoRedisError);
      const lines = (failure as Error).message.split('\n');
      expect(lines.slice(0, 5)).toEqual([
        'No Redis for the demo. npm start looked, in this order:',
        '  1. REDIS_URL: not set',
        expect.stringMatching(new RegExp(`^  2\\. ${local}: .*ECONNREFUSED`)),
        '  3. redis-server: /nonexistent/redis-server is not installed',
        expect.stringMatching(/^ {2}4\. Docker \(testcontainers\): /),
      ]);
      expect(lines).toContain('      sudo apt-get install -y redis-server     (Debian, Ubuntu)');
    } finally {
      if (dockerHost === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = dockerHost;
    }
  });

  it('never prints a password', () => {
    expect(redactUrl('redis://user:s3cret@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactUrl('redis://:s3cret@host:6379')).toBe('redis://:***@host:6379');
    expect(redactUrl('redis://host:6379')).toBe('redis://host:6379');
  });
});
