/**
 * What both servers share: their settings, the store options they hand their adapter (the same
 * prefix and schema, a sweeper, an `onExpired` that reports), and how they pick a port.
 * @module
 */
import { createServer } from 'node:net';
import type {
  ActiveRun,
  ActiveRunsAdapterOptions,
  ActiveRunsLogger,
  Scope,
} from '@active-runs/core';
import type { ServerName } from './app-routes.js';
import { type RunData, runData } from './run-data.js';

/** Where the adapters mount the active-runs API. */
export const API_PREFIX = '/api';

/** Settings of one server. */
export interface ServerConfig {
  /** `redis://` URL; the adapter creates (and closes) its own client. */
  redis: string;
  /** Key prefix of the demo's runs: the servers and the simulator share it. */
  prefix: string;
  /** Signs the demo login's cookies: both servers share it, so a login works on either. */
  sessionSecret: string;
  /** Port on 127.0.0.1; `0` for any free port. */
  port: number;
  /** When `port` is taken, listen on a free port instead of failing. */
  anyPortIfBusy: boolean;
  /** One sweep every this many ms: expires the runs whose worker died. */
  sweepIntervalMs: number;
  /** Where the server reports (expired runs, warnings). */
  log(line: string): void;
}

/** A server that listens. */
export interface RunningServer {
  readonly name: ServerName;
  /** Base URL, e.g. `http://localhost:3000`. */
  readonly url: string;
  /** Ends the event streams, stops the sweeper, closes the store and the HTTP server. */
  close(): Promise<void>;
}

/** The store's warnings and errors, as lines of the server's log. */
function storeLogger(log: (line: string) => void): ActiveRunsLogger {
  const write = (level: string) => (object: unknown, message?: string) =>
    log(
      `${level}: ${message ?? ''} ${object instanceof Error ? object.message : JSON.stringify(object)}`,
    );
  const quiet = () => {};
  return { warn: write('warn'), error: write('error'), info: quiet, debug: quiet };
}

function describeExpired(run: ActiveRun<RunData>, scope: Scope): string {
  const caption = run.caption ? `, last caption "${run.caption}"` : '';
  return `run ${run.id.slice(0, 8)} in ${scope.workspaceId}/${scope.projectId} expired (${run.status}, source ${run.source ?? '-'}${caption}): its worker stopped heartbeating; a real app marks it failed here`;
}

/** The adapter options of a server: every store option, the sweeper, `onExpired`. */
export function storeOptions(config: ServerConfig): ActiveRunsAdapterOptions<RunData, never> {
  return {
    redis: config.redis,
    prefix: config.prefix,
    dataSchema: runData,
    sweeper: { intervalMs: config.sweepIntervalMs },
    onExpired: (run, scope) => config.log(describeExpired(run, scope)),
    logger: storeLogger(config.log),
  };
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** The port to listen on: `config.port`, or any free one if it is taken and that is allowed. */
export async function choosePort(config: Pick<ServerConfig, 'port' | 'anyPortIfBusy'>) {
  if (config.port === 0 || !config.anyPortIfBusy || (await isFree(config.port))) return config.port;
  return 0;
}

/** The URL people open, for a server listening on 127.0.0.1. */
export function localUrl(address: unknown): string {
  const port = typeof address === 'object' && address ? (address as { port: number }).port : 0;
  return `http://localhost:${port}`;
}
