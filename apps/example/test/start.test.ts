import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect, keysUnder } from '@active-runs/test-utils';
import { describe, expect, inject, it } from 'vitest';
import { LOCAL_REDIS_ENV } from '../src/start/find-redis.js';
import { get, signIn } from './harness.js';
import { alive, nowhere, processGroup } from './processes.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const START = fileURLToPath(new URL('../dist/start.js', import.meta.url));
/** Bounds: the bootstrap (install, build from turbo's cache) and the start, then the stop. */
const READY_TIMEOUT_MS = 150_000;
const STOP_TIMEOUT_MS = 30_000;

/** A command run in a process group of its own, as a terminal runs it; its output kept. */
class Command {
  output = '';
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv) {
    this.process = spawn(command, args, { cwd: ROOT, env, detached: true, stdio: 'pipe' });
    this.process.stdout!.on('data', (chunk) => {
      this.output += chunk;
    });
    this.process.stderr!.on('data', (chunk) => {
      this.output += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number {
    return this.process.pid!;
  }

  /** The first match of `pattern` in the output, waiting for it. */
  async waitFor(pattern: RegExp, timeoutMs = READY_TIMEOUT_MS): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.output);
      if (match) return match;
      if (this.process.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no ${pattern} in the output:\n${this.output.slice(-3_000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Waits until no process of the group is left; returns those left after the timeout. */
  async groupGone(): Promise<string[]> {
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (processGroup(this.pid).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return processGroup(this.pid);
  }

  /** Last resort, so a failed test leaves nothing running either. */
  kill(): void {
    if (processGroup(this.pid).length > 0) process.kill(-this.pid, 'SIGKILL');
  }
}

/** The environment of a fresh shell: no REDIS_URL unless given. */
function env(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { REDIS_URL: _ignored, ...rest } = process.env;
  return { ...rest, ...extra };
}

const urls = (command: Command) =>
  Promise.all([
    command.waitFor(/Dashboard \(Fastify plugin\)\s+(http:\S+)\//).then((match) => match[1]!),
    command.waitFor(/Dashboard \(NestJS module\)\s+(http:\S+)\//).then((match) => match[1]!),
  ]);

describe('npm start', () => {
  it('starts a Redis, both servers and the simulator, prints the URLs, and Ctrl-C leaves nothing behind', async () => {
    // nothing on the local address: the start command starts its own redis-server
    const command = new Command('npm', ['start'], env({ [LOCAL_REDIS_ENV]: await nowhere() }));
    try {
      const [fastify, nest] = await urls(command);
      const redisPid = Number((await command.waitFor(/throwaway redis-server \(pid (\d+)\)/))[1]);
      expect(alive(redisPid)).toBe(true);

      for (const base of [fastify, nest]) {
        const page = await get(base, '/');
        expect(page.status).toBe(200);
        expect(page.body).toContain('<title>Active runs</title>');
      }
      // a login on one server is valid on both; the simulator's runs show through either
      const cookie = await signIn(fastify, 'acme');
      for (const base of [fastify, nest]) {
        await expect
          .poll(async () => (await get(base, '/api/runs/active/counts', cookie)).body.total, {
            timeout: 15_000,
          })
          .toBeGreaterThan(0);
        const list = await get(base, '/api/runs/active?limit=5', cookie);
        expect(list.status).toBe(200);
        expect(list.body.items.length).toBeGreaterThan(0);
      }

      // Ctrl-C: SIGINT to every process of the terminal's group
      process.kill(-command.pid, 'SIGINT');
      await command.exited;
      expect(await command.groupGone()).toEqual([]);
      await command.waitFor(/\[start\] stopped the Redis it started/, 1_000);
      expect(alive(redisPid)).toBe(false);
      await expect(fetch(fastify)).rejects.toThrow();
      await expect(fetch(nest)).rejects.toThrow();
    } finally {
      command.kill();
    }
  });

  it('stops everything when only the start command gets the signal, and deletes its keys from a Redis it did not start', async () => {
    const redisUrl = inject('redisUrl');
    const command = new Command(
      process.execPath,
      [START, '--fastify-port', '0', '--nest-port', '0', '--rate', '5'],
      env({ REDIS_URL: redisUrl }),
    );
    const client = connect(redisUrl);
    try {
      const [fastify] = await urls(command);
      const prefix = (await command.waitFor(/keys are under (example:[0-9a-f]+)/))[1]!;
      const cookie = await signIn(fastify, 'globex');
      await expect
        .poll(async () => (await get(fastify, '/api/runs/active/counts', cookie)).body.total, {
          timeout: 15_000,
        })
        .toBeGreaterThan(0);
      expect((await keysUnder(client, prefix)).length).toBeGreaterThan(0);
      // the simulator's own store calls are scraped from its /metrics, listed in the banner
      const metrics = (await command.waitFor(/Metrics of the simulator\s+(http:\S+\/metrics)/))[1]!;
      await expect
        .poll(
          async () => {
            const text = await (await fetch(metrics)).text();
            const line =
              /^active_runs_operations_total\{[^}]*operation="enqueue"[^}]*outcome="ok"[^}]*\} (\d+)/m.exec(
                text,
              ) ??
              /^active_runs_operations_total\{[^}]*outcome="ok"[^}]*operation="enqueue"[^}]*\} (\d+)/m.exec(
                text,
              );
            return Number(line?.[1] ?? 0);
          },
          { timeout: 15_000 },
        )
        .toBeGreaterThan(0);

      process.kill(command.pid, 'SIGINT');
      expect(await command.exited).toEqual({ code: 0, signal: null });
      expect(await command.groupGone()).toEqual([]);
      expect(command.output).toContain(`[start] deleted the demo's keys (${prefix}:*)`);
      expect(await keysUnder(client, prefix)).toEqual([]);
    } finally {
      command.kill();
      await client.quit();
    }
  });

  it('stops with a message that says how to get a Redis when there is none anywhere', async () => {
    const command = new Command(
      process.execPath,
      [START],
      env({
        [LOCAL_REDIS_ENV]: await nowhere(),
        REDIS_SERVER_BIN: '/nonexistent/redis-server',
        DOCKER_HOST: 'unix:///nonexistent/docker.sock',
      }),
    );
    try {
      expect(await command.exited).toEqual({ code: 1, signal: null });
      expect(command.output).toContain('No Redis for the demo. npm start looked, in this order:');
      expect(command.output).toContain('sudo apt-get install -y redis-server');
      expect(command.output).toContain('REDIS_URL=redis://host:6379 npm start');
      expect(await command.groupGone()).toEqual([]);
    } finally {
      command.kill();
    }
  });
});
