import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built bin (turbo builds the package before its tests). */
export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

/** What a finished child process printed and its exit code. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `active-runs <args>` as a child process and waits for it to exit. */
export function cli(args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, REDIS_URL: '', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    collect(child, options.timeoutMs ?? 30_000).then(resolve, reject);
  });
}

/** A long-running `active-runs <args>` (watch, a migration to interrupt), its output so far. */
export function start(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, REDIS_URL: '', FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output,
    exited,
    /** Resolves once `predicate` holds for the output, or fails after `timeoutMs`. */
    async waitFor(predicate: (o: typeof output) => boolean, timeoutMs = 20_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(output)) {
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`gave up waiting; stdout: ${output.stdout}\nstderr: ${output.stderr}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

function collect(child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `the CLI did not exit within ${timeoutMs} ms; stdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A legacy record in the original shape (dates as ISO strings). */
export function legacyRecord(
  id: string,
  queuedAt: number,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({ uuid: id, queuedAt: new Date(queuedAt).toISOString(), ...extra });
}
