import type { Browser, ConsoleMessage, Page } from 'playwright-core';
import { expect } from 'vitest';

export { launchChromium } from '../scripts/chromium.mjs';

/** A dashboard open in its own browser context (its own cookies: its own login). */
export class Dashboard {
  /** Console errors and uncaught exceptions of the page. */
  readonly errors: string[] = [];

  private constructor(readonly page: Page) {
    page.on('console', (message: ConsoleMessage) => {
      if (message.type() === 'error') this.errors.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => this.errors.push(`uncaught: ${error.message}`));
  }

  /** Opens the dashboard at `base` (it signs in as the first demo workspace by itself). */
  static async open(browser: Browser, base: string): Promise<Dashboard> {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const dashboard = new Dashboard(await context.newPage());
    await dashboard.page.goto(`${base}/`);
    await dashboard.waitForLive('live');
    return dashboard;
  }

  async waitForLive(state: 'live' | 'down' | 'recovered', timeout = 15_000): Promise<void> {
    await this.page.locator(`#live[data-state="${state}"]`).waitFor({ timeout });
  }

  /** The ids of the rows, top to bottom. */
  rowIds(): Promise<string[]> {
    return this.page.$$eval('#rows tr', (rows) => rows.map((row) => row.dataset.runId ?? ''));
  }

  /** Waits until the rows are `ids` (in order). */
  async expectRows(ids: string[] | ((rows: string[]) => boolean), timeout = 10_000): Promise<void> {
    if (typeof ids === 'function') {
      await expect.poll(async () => ids(await this.rowIds()), { timeout }).toBe(true);
    } else {
      await expect.poll(() => this.rowIds(), { timeout }).toEqual(ids);
    }
  }

  /** The text of an element, as shown. */
  async text(selector: string): Promise<string> {
    return ((await this.page.locator(selector).textContent()) ?? '').trim();
  }

  /** Waits until the counts read `total / running / queued`. */
  async expectCounts(total: number, running: number, queued: number): Promise<void> {
    await expect
      .poll(
        async () =>
          Promise.all(['#count-total', '#count-running', '#count-queued'].map((s) => this.text(s))),
        { timeout: 10_000 },
      )
      .toEqual([total, running, queued].map(String));
  }

  /** A cell of a run's row. */
  cell(runId: string, column: string): Promise<string> {
    return this.text(`#rows tr[data-run-id="${runId}"] td.${column}`);
  }

  async close(): Promise<void> {
    await this.page.context().close();
  }
}
