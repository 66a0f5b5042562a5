#!/usr/bin/env node
// Makes `npm start` / `npm test` / `npm run tour` work on a fresh machine with only Node 20:
// installs the pinned pnpm if missing, then the workspace dependencies, then builds.
// With --browser (npm test): also Debian's chromium and firefox-esr for the example's browser
// tests, when they are missing and apt-get can run without a password (root, or passwordless
// sudo); otherwise those tests fail with the command to install them.
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
const has = (cmd) => {
  try {
    execSync(cmd, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const browsers = process.argv.includes('--browser')
  ? ['chromium', 'firefox-esr'].filter((name) => !has(`command -v ${name}`))
  : [];
if (browsers.length > 0) {
  const names = browsers.join(' ');
  const sudo = process.getuid?.() === 0 ? '' : has('sudo -n true') ? 'sudo -n ' : undefined;
  if (sudo !== undefined && has('command -v apt-get')) {
    console.log(`[bootstrap] installing ${names} for the browser tests (apt-get install ${names})`);
    run(`${sudo}apt-get update -qq && ${sudo}apt-get install -y -qq ${names} >/dev/null`);
  } else {
    console.log(
      `[bootstrap] ${names} not installed and cannot be installed from here: the browser tests will fail. Install with: sudo apt-get install -y ${names}`,
    );
  }
}
run(process.env.CI ? 'pnpm install --frozen-lockfile' : 'pnpm install');
run('pnpm exec turbo run build');
