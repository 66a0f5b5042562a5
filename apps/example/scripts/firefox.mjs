// Headless Firefox for the browser tests: Debian's Firefox ESR (`apt-get install -y firefox-esr`)
// driven by puppeteer-core over WebDriver BiDi (playwright-core cannot drive a stock Firefox: it
// calls BiDi commands that Firefox ESR does not have).
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

/** The browser binary; another Firefox with ACTIVE_RUNS_FIREFOX. */
export const FIREFOX = process.env.ACTIVE_RUNS_FIREFOX ?? '/usr/bin/firefox-esr';

/**
 * Launches headless Firefox, or fails saying how to install it (the browser tests never skip;
 * CI installs firefox-esr in .ci/run). Puppeteer gives it a fresh temporary profile and deletes
 * it on close.
 * @returns {Promise<import('puppeteer-core').Browser>}
 */
export async function launchFirefox() {
  if (!existsSync(FIREFOX)) {
    throw new Error(
      `The example's browser tests drive Firefox, and there is none at ${FIREFOX}. Install it: "sudo apt-get install -y firefox-esr" (Debian, Ubuntu; .ci/run does this in CI), or set ACTIVE_RUNS_FIREFOX to the path of a Firefox binary.`,
    );
  }
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: {
      // an EventSource retries after 3 s, as in Chromium, not Firefox's 5 s: the tests that
      // stop the server wait for the browser's retries, and are as long in both browsers
      'dom.serverEvents.defaultReconnectionTime': 3_000,
    },
  });
}
