#!/usr/bin/env node
// Makes `npm start` / `npm test` / `npm run tour` work on a fresh machine with only Node 20:
// installs the pinned pnpm if missing, then the workspace dependencies, then builds.
import { execSync } from 'node:child_process';

const PNPM_VERSION = '12.4.2';
const run = (cmd) => execSync(cmd, { stdio: 'inherit' });

let current = '';
try {
  current = execSync('pnpm --version', { stdio: ['ignore', 'pipe', 'ignore'] })
    .toString()
    .trim();
} catch {}
if (current !== PNPM_VERSION) {
  console.log(`[bootstrap] installing pnpm@${PNPM_VERSION} (found: ${current || 'none'})`);
  run(`npm install --global --silent pnpm@${PNPM_VERSION}`);
}
run(process.env.CI ? 'pnpm install --frozen-lockfile' : 'pnpm install');
run('pnpm exec turbo run build');
