/**
 * The processes `npm start` runs (the two servers and the simulator): started with an IPC
 * channel (a child stops when it closes, so none outlives the start command), their output
 * shown line by line under their name, and stopped with SIGTERM, then SIGKILL if one hangs.
 * @module
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { styleText } from 'node:util';
import type { ReadyMessage } from '../server-process.js';

type Color = 'cyan' | 'magenta' | 'yellow' | 'green';

/** Writes lines under a name, e.g. `[fastify] listening on ...`, colored on a terminal. */
export function tagged(name: string, color: Color, stream: NodeJS.WriteStream = process.stdout) {
  const tag = stream.isTTY ? styleText(color, `[${name}]`) : `[${name}]`;
  return (line: string) => stream.write(`${tag} ${line}\n`);
}

/** A running child. */
export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Resolves with the exit code (or the signal's name) once it exited. */
  readonly exited: Promise<number | string>;
}

/** Options of {@link startChild}. */
export interface StartChildOptions {
  name: string;
  color: Color;
  /** Path of the child's script (run with this Node). */
  script: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/** Starts a child; its stdout and stderr appear under its name. */
export function startChild(options: StartChildOptions): Child {
  const child = fork(options.script, options.args, {
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const out = tagged(options.name, options.color);
  const err = tagged(options.name, options.color, process.stderr);
  createInterface({ input: child.stdout! }).on('line', out);
  createInterface({ input: child.stderr! }).on('line', err);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (error) => {
      err(`could not start: ${error.message}`);
      resolve('spawn error');
    });
  });
  return { name: options.name, process: child, exited };
}

/** Resolves with a server's `ready` message; rejects if it exits first or after `timeoutMs`. */
export function whenReady(child: Child, timeoutMs: number): Promise<ReadyMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${child.name} did not start within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    child.process.on('message', (message: ReadyMessage) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      resolve(message);
    });
    void child.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${child.name} exited (${code}) before it was ready`));
    });
  });
}

const isRunning = (child: Child) =>
  child.process.exitCode === null && child.process.signalCode === null;

/**
 * Stops the children: SIGTERM (each stops cleanly: streams ended, stores closed), then SIGKILL
 * for any still running after `graceMs`. Resolves once every one has exited.
 * @returns the names of the children that had to be killed
 */
export async function stopChildren(
  children: readonly Child[],
  graceMs = 10_000,
): Promise<string[]> {
  for (const child of children) if (isRunning(child)) child.process.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise((resolve) => {
    timer = setTimeout(resolve, graceMs);
  });
  await Promise.race([Promise.all(children.map((child) => child.exited)), graceOver]);
  clearTimeout(timer);
  const killed = children.filter(isRunning);
  for (const child of killed) child.process.kill('SIGKILL');
  await Promise.all(killed.map((child) => child.exited));
  return killed.map((child) => child.name);
}
