import { readdirSync, readFileSync } from 'node:fs';
import { freePort } from '@active-runs/test-utils';

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The process group of a process (`/proc/<pid>/stat`). */
export function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** The live processes of a process group (what a terminal's Ctrl-C reaches), as `pid command`. */
export function processGroup(pgid: number): string[] {
  const members: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(group) !== pgid || state === 'Z') continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      members.push(`${pid} ${command}`);
    } catch {
      // it exited while we looked
    }
  }
  return members;
}

/** A Redis URL where nothing listens. */
export async function nowhere(): Promise<string> {
  return `redis://127.0.0.1:${await freePort()}`;
}
