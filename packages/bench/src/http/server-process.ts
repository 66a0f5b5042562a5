import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerChildMessage, ServerChildOptions } from './app-setup.js';

/** The bench's handle on a server child (server-child.ts, built as dist/http-server.js). */
export interface HttpServerProcess {
  readonly framework: ServerChildOptions['framework'];
  readonly pid: number;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Size and content type of the page the floor route serves. */
  readonly floorBytes: number;
  readonly contentType: string;
  /** Stops the app and waits for the process to exit (and write its CPU profile, if asked). */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

/**
 * Starts one framework's app in its own node process and waits until it listens. With
 * `cpuProfileDir`, the child runs under `--cpu-prof` and leaves `http-<framework>.cpuprofile` there.
 */
export async function startHttpServer(
  options: ServerChildOptions,
  cpuProfileDir?: string,
): Promise<HttpServerProcess> {
  const script = fileURLToPath(new URL('./http-server.js', import.meta.url));
  const execArgv = cpuProfileDir
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${cpuProfileDir}`,
        `--cpu-prof-name=http-${options.framework}.cpuprofile`,
      ]
    : [];
  const child: ChildProcess = fork(script, [JSON.stringify(options)], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<Extract<ServerChildMessage, { type: 'ready' }>>(
    (resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill();
        reject(new Error(`the ${options.framework} server did not start in time`));
      }, READY_TIMEOUT_MS);
      child.once('message', (message: ServerChildMessage) => {
        clearTimeout(timer);
        if (message.type === 'ready') resolve(message);
        else reject(new Error(`the ${options.framework} server failed: ${message.message}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the ${options.framework} server exited (${code}) before it listened`));
      });
    },
  );
  return {
    framework: options.framework,
    pid: child.pid!,
    origin: `http://127.0.0.1:${ready.port}`,
    floorBytes: ready.floorBytes,
    contentType: ready.contentType,
    async stop() {
      if (child.exitCode === null) child.send('stop');
      await exited;
    },
  };
}
