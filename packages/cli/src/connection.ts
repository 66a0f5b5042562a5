import type { ActiveRunStore, ActiveRunStoreOptions } from '@active-runs/core';
import { createActiveRunStore } from '@active-runs/core';
import { Cluster, Redis } from 'ioredis';
import { CliError, usage } from './errors.js';

/** The options every command shares. */
export interface GlobalOptions {
  redisUrl?: string;
  cluster?: string;
  prefix: string;
  timeoutMs: number;
}

/** Default Redis when neither --redis-url nor REDIS_URL is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Parses `host:port,host:port` seed nodes of a Cluster. */
export function parseClusterNodes(text: string): { host: string; port: number }[] {
  const nodes = text.split(',').map((entry) => {
    const match = /^\s*([^\s:]+):(\d{1,5})\s*$/.exec(entry);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65_535) {
      throw usage(
        `--cluster: "${entry.trim()}" is not host:port (expected e.g. 10.0.0.1:6379,10.0.0.2:6379)`,
      );
    }
    return { host: match[1]!, port };
  });
  return nodes;
}

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usage(`--redis-url: "${url}" is not a URL (expected redis://host:port or rediss://...)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw usage(`--redis-url: "${url}" must start with redis:// or rediss://`);
  }
  return url;
}

/** Where the CLI connects, for messages (without a password). */
function describe(options: GlobalOptions, url: string): string {
  if (options.cluster) return `cluster ${options.cluster}`;
  const parsed = new URL(url);
  parsed.password = '';
  parsed.username = '';
  return parsed.toString();
}

/**
 * Connects to Redis (a `Cluster` with --cluster) and fails fast with one line when it cannot:
 * a CLI must not wait on reconnection forever. Commands time out after --timeout-ms.
 */
export async function connect(options: GlobalOptions): Promise<Redis | Cluster> {
  // an empty REDIS_URL counts as unset, as shells and CI files often leave it
  const url = options.cluster
    ? ''
    : checkUrl(options.redisUrl ?? (process.env.REDIS_URL || DEFAULT_REDIS_URL));
  const connectTimeout = Math.min(options.timeoutMs, 5_000);
  const client = options.cluster
    ? new Cluster(parseClusterNodes(options.cluster), {
        lazyConnect: true,
        clusterRetryStrategy: () => null,
        redisOptions: { commandTimeout: options.timeoutMs, connectTimeout },
      })
    : new Redis(url, {
        lazyConnect: true,
        commandTimeout: options.timeoutMs,
        connectTimeout,
        maxRetriesPerRequest: 1,
        retryStrategy: () => null,
      });
  // the connection's own error (ECONNREFUSED...) says more than connect()'s "Connection is closed"
  let cause: unknown;
  client.on('error', (error: unknown) => {
    cause ??= error;
  });
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    const first = cause ?? error;
    const reason = first instanceof Error ? first.message : String(first);
    throw new CliError(`Redis is unreachable at ${describe(options, url)}: ${reason}`);
  }
  return client;
}

/** A store on a fresh connection; the caller closes it (which quits the connection). */
export async function openStore(
  options: GlobalOptions,
  extra: Partial<ActiveRunStoreOptions> = {},
): Promise<ActiveRunStore> {
  const redis = await connect(options);
  try {
    return createActiveRunStore({ redis, prefix: options.prefix, closeClient: true, ...extra });
  } catch (error) {
    redis.disconnect();
    throw error;
  }
}
