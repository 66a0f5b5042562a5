#!/usr/bin/env node
// The README's screenshot of the dashboard: starts the example (dist/start.js, simulator
// included) on free ports, lets the traffic build up, and saves docs/example-dashboard.png.
//   pnpm --filter @active-runs/example run screenshot     (after the build; a Redis and chromium)
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';

const OUT = fileURLToPath(new URL('../../../docs/example-dashboard.png', import.meta.url));
const START = fileURLToPath(new URL('../dist/start.js', import.meta.url));
const TRAFFIC_MS = 12_000;

const example = spawn(process.execPath, [START, '--fastify-port', '0', '--nest-port', '0'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const exited = new Promise((resolve) => example.once('exit', resolve));
let output = '';
const url = await new Promise((resolve, reject) => {
  example.stdout.on('data', (chunk) => {
    output += chunk;
    const found = /Dashboard \(Fastify plugin\)\s+(http:\S+)/.exec(output);
    if (found) resolve(found[1]);
  });
  void exited.then((code) => reject(new Error(`the example exited (${code}):\n${output}`)));
});

try {
  await new Promise((resolve) => setTimeout(resolve, TRAFFIC_MS));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    await page.goto(url);
    await page.locator('#live[data-state="live"]').waitFor();
    await page.waitForTimeout(2_000);
    await page.screenshot({ path: OUT });
  } finally {
    await browser.close();
  }
} finally {
  example.kill('SIGINT');
  await exited;
}
console.log(`wrote ${OUT}`);
