import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

/** A redis-server process started for tests. */
export interface RedisServerHandle {
  url: string;
  host: string;
  port: number;
  pid: number;
  dir: string;
  process: ChildProcess;
  /**
   * Sends `signal` to the server and waits for it to exit (`SIGTERM`: a clean shutdown that
   * flushes its AOF; `SIGKILL`: a crash). Its directory stays, to start it again from it.
   */
  kill(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Kills the server and removes its directory (unless it was passed in as `dir`). */
  stop(): Promise<void>;
}

/** Options of {@link startRedisServer}. */
export interface StartRedisServerOptions {
  /** Path or name of the redis-server binary. @default process.env.REDIS_SERVER_BIN ?? 'redis-server' */
  bin?: string;
  /** Port to listen on. @default a free loopback port */
  port?: number;
  /** Extra command-line arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[];
  /** How long to wait for PING. @default 10000 */
  readyTimeoutMs?: number;
  /**
   * Start it in its own process group, so a Ctrl-C in the terminal does not reach it and its
   * owner stops it last (after the clients that use it). @default false
   */
  detached?: boolean;
  /**
   * Directory of the server's files, kept by `stop()`: pass the same one (with the same port and
   * `--appendonly yes` in `args`) to start a server again on what the previous one persisted.
   * @default a fresh temporary directory, removed by `stop()`
   */
  dir?: string;
}

/** The redis-server binary to use, or undefined when none is installed. */
export function findRedisServer(
  bin = process.env.REDIS_SERVER_BIN ?? 'redis-server',
): string | undefined {
  const probe = spawnSync(bin, ['--version'], { stdio: 'ignore' });
  return probe.error || probe.status !== 0 ? undefined : bin;
}

async function waitForPing(port: number, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const client = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 500,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') {
        client.disconnect();
        return;
      }
    } catch (error) {
      lastError = error;
    }
    client.disconnect();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING: ${String(lastError)}`);
}

/** Starts a throwaway redis-server on loopback that keeps nothing on disk. */
export async function startRedisServer(
  options: StartRedisServerOptions = {},
): Promise<RedisServerHandle> {
  const bin = options.bin ?? process.env.REDIS_SERVER_BIN ?? 'redis-server';
  const port = options.port ?? (await freePort());
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `active-runs-redis-${port}-`));
  const child = spawn(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      ...(options.args ?? []),
    ],
    { stdio: 'ignore', detached: options.detached ?? false },
  );
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  try {
    await spawned;
    await waitForPing(port, options.readyTimeoutMs ?? 10_000, child);
  } catch (error) {
    child.kill('SIGKILL');
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const kill = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      // a stopped (SIGSTOP) server handles no other signal until it runs again
      child.kill('SIGCONT');
      child.kill(signal);
      await exited;
    }
  };
  const stop = async () => {
    await kill('SIGKILL');
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    pid: child.pid!,
    dir,
    process: child,
    kill,
    stop,
  };
}
