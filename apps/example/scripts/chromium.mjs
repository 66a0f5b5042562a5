// Headless Chromium for the browser tests and the README's screenshot: Debian's chromium
// (`apt-get install -y chromium`) driven by playwright-core.
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

/** The browser binary; another Chrome or Chromium with ACTIVE_RUNS_CHROMIUM. */
export const CHROMIUM = process.env.ACTIVE_RUNS_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Launches headless Chromium, or fails saying how to install it (the browser tests never skip;
 * CI installs chromium in .ci/run). Playwright gives it a fresh temporary profile
 * (`--user-data-dir`) and deletes it on close.
 * @returns {Promise<import('playwright-core').Browser>}
 */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `The example's browser tests drive Chromium, and there is none at ${CHROMIUM}. Install it: "sudo apt-get install -y chromium" (Debian, Ubuntu; .ci/run does this in CI), or set ACTIVE_RUNS_CHROMIUM to the path of a Chrome or Chromium binary.`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
