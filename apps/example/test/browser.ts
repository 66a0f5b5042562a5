import type * as Playwright from 'playwright-core';
import type * as Puppeteer from 'puppeteer-core';
import { expect } from 'vitest';
import { launchChromium } from '../scripts/chromium.mjs';
import { launchFirefox } from '../scripts/firefox.mjs';

/**
 * What the tests read of the page's elements (this tsconfig has no DOM lib; the functions that
 * take them run in the page).
 */
interface ShownElement {
  readonly textContent: string | null;
  readonly dataset: Record<string, string | undefined>;
  readonly value?: string;
  readonly disabled?: boolean;
}

/** What {@link Dashboard} does with a page, whichever library drives the browser. */
interface PageDriver {
  goto(url: string): Promise<void>;
  /** Runs `fn` in the page (its source, so no closures) on the elements that match `selector`. */
  evalAll<R>(selector: string, fn: (elements: ShownElement[]) => R): Promise<R>;
  /** Waits until an element matches `selector`. */
  waitFor(selector: string, timeoutMs: number): Promise<void>;
  /** Clicks the element, waiting until it is there, visible and enabled. */
  click(selector: string): Promise<void>;
  /** Chooses an option of a `<select>` as a person does (`input` and `change` fire). */
  select(selector: string, value: string): Promise<void>;
  /** The `cookie` header the page's browser context sends to `url`: its login. */
  cookie(url: string): Promise<string>;
  screenshot(path: string): Promise<void>;
  /** Closes the page's browser context (its cookies go with it). */
  close(): Promise<void>;
}

/** A launched browser: pages in contexts of their own, each reporting its errors. */
export interface LaunchedBrowser {
  newPage(report: (error: string) => void): Promise<PageDriver>;
  close(): Promise<void>;
}

/** A browser the dashboard is tested in. */
export interface BrowserUnderTest {
  /** As the test names and artifacts say it. */
  readonly name: string;
  launch(): Promise<LaunchedBrowser>;
  /**
   * What the browser itself logs as errors while the server is away (its attempts to reconnect
   * fail) or refuses the stream (a 401, if it logs that): expected in the tests that do that,
   * and only there.
   */
  readonly logs: { unreachable: RegExp; unauthorized?: RegExp };
}

const VIEWPORT = { width: 1200, height: 900 };
const cookieHeader = (cookies: { name: string; value: string }[]) =>
  cookies.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');

/** Debian's chromium, driven by playwright-core. */
export const chromium: BrowserUnderTest = {
  name: 'Chromium',
  logs: {
    unreachable:
      /^console: Failed to load resource: net::ERR_CONNECTION_(REFUSED|RESET)$|api\/runs\/active\/events.*net::ERR_CONNECTION_(REFUSED|RESET)/,
    unauthorized: /Failed to load resource: the server responded with a status of 401/,
  },
  async launch() {
    const browser = await launchChromium();
    return {
      async newPage(report) {
        const context = await browser.newContext({ viewport: VIEWPORT });
        const page = await context.newPage();
        page.on('console', (message: Playwright.ConsoleMessage) => {
          if (message.type() === 'error') report(`console: ${message.text()}`);
        });
        page.on('pageerror', (error) => report(`uncaught: ${error.message}`));
        return {
          goto: async (url) => {
            await page.goto(url);
          },
          evalAll: (selector, fn) => page.$$eval(selector, fn),
          waitFor: async (selector, timeout) => {
            await page.locator(selector).waitFor({ timeout });
          },
          click: (selector) => page.click(selector),
          select: async (selector, value) => {
            await page.selectOption(selector, value);
          },
          cookie: async (url) => cookieHeader(await context.cookies(url)),
          screenshot: async (path) => {
            await page.screenshot({ path });
          },
          close: () => context.close(),
        };
      },
      close: () => browser.close(),
    };
  },
};

/** Debian's Firefox ESR, driven by puppeteer-core over WebDriver BiDi. */
export const firefox: BrowserUnderTest = {
  name: 'Firefox',
  logs: {
    // a new stream it cannot open, as a page error (its own reconnections fail silently, and
    // it does not log a 401)
    unreachable:
      /^uncaught: Firefox can.t establish a connection to the server at http:\S+\/api\/runs\/active\/events\.$/,
  },
  async launch() {
    const browser = await launchFirefox();
    return {
      async newPage(report) {
        const context = await browser.createBrowserContext();
        const page = await context.newPage();
        await page.setViewport(VIEWPORT);
        page.on('console', (message: Puppeteer.ConsoleMessage) => {
          if (message.type() === 'error') report(`console: ${message.text()}`);
        });
        page.on('pageerror', (error) => report(`uncaught: ${errorText(error)}`));
        return {
          goto: async (url) => {
            await page.goto(url);
          },
          // the function is serialized into the page: passed as it is, no closure around it
          evalAll: (selector, fn) => page.$$eval(selector, fn),
          waitFor: async (selector, timeout) => {
            await page.waitForSelector(selector, { timeout });
          },
          click: (selector) => page.locator(selector).click(),
          select: async (selector, value) => {
            await page.waitForSelector(selector);
            await page.select(selector, value);
          },
          cookie: async (url) => {
            const { hostname } = new URL(url);
            return cookieHeader((await context.cookies()).filter((c) => c.domain === hostname));
          },
          screenshot: async (path) => {
            await page.screenshot({ path });
          },
          close: () => context.close(),
        };
      },
      close: () => browser.close(),
    };
  },
};

/** Puppeteer hands a page error over as an `Error`, or as whatever the page threw. */
function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A dashboard open in its own browser context (its own cookies: its own login). */
export class Dashboard {
  private constructor(
    private readonly driver: PageDriver,
    /** Console errors and uncaught exceptions of the page. */
    readonly errors: string[],
  ) {}

  /** Opens the dashboard at `base` (it signs in as the first demo workspace by itself). */
  static async open(browser: LaunchedBrowser, base: string): Promise<Dashboard> {
    const errors: string[] = [];
    const dashboard = new Dashboard(await browser.newPage((error) => errors.push(error)), errors);
    await dashboard.driver.goto(`${base}/`);
    await dashboard.waitForLive('live');
    return dashboard;
  }

  async waitForLive(state: 'live' | 'down' | 'recovered', timeout = 15_000): Promise<void> {
    await this.driver.waitFor(`#live[data-state="${state}"]`, timeout);
  }

  /** The ids of the rows, top to bottom. */
  rowIds(): Promise<string[]> {
    return this.driver.evalAll('#rows tr', (rows) => rows.map((row) => row.dataset.runId ?? ''));
  }

  /** Waits until the rows are `ids` (in order). */
  async expectRows(ids: string[] | ((rows: string[]) => boolean), timeout = 10_000): Promise<void> {
    if (typeof ids === 'function') {
      await expect.poll(async () => ids(await this.rowIds()), { timeout }).toBe(true);
    } else {
      await expect.poll(() => this.rowIds(), { timeout }).toEqual(ids);
    }
  }

  /** The texts of the elements that match `selector`, as shown, in the page's order. */
  texts(selector: string): Promise<string[]> {
    return this.driver.evalAll(selector, (elements) =>
      elements.map((element) => (element.textContent ?? '').trim()),
    );
  }

  /** The text of an element, as shown; fails if there is none. */
  async text(selector: string): Promise<string> {
    const [text] = await this.texts(selector);
    if (text === undefined) throw new Error(`no element on the page matches ${selector}`);
    return text;
  }

  /** Waits until the counts read `total / running / queued`. */
  async expectCounts(total: number, running: number, queued: number): Promise<void> {
    await expect
      .poll(() => this.texts('#count-total, #count-running, #count-queued'), { timeout: 10_000 })
      .toEqual([total, running, queued].map(String));
  }

  /** A cell of a run's row. */
  cell(runId: string, column: string): Promise<string> {
    return this.text(`#rows tr[data-run-id="${runId}"] td.${column}`);
  }

  /** The value of a form control (the chosen option of a `<select>`). */
  value(selector: string): Promise<string> {
    return this.driver.evalAll(selector, (elements) => elements[0]?.value ?? '');
  }

  /** Whether a button is disabled. */
  disabled(selector: string): Promise<boolean> {
    return this.driver.evalAll(selector, (elements) => elements[0]?.disabled === true);
  }

  click(selector: string): Promise<void> {
    return this.driver.click(selector);
  }

  /** Chooses an option of a `<select>`. */
  select(selector: string, value: string): Promise<void> {
    return this.driver.select(selector, value);
  }

  /** The `cookie` header this dashboard's browser sends to `url`: its login, for API calls. */
  cookie(url: string): Promise<string> {
    return this.driver.cookie(url);
  }

  screenshot(path: string): Promise<void> {
    return this.driver.screenshot(path);
  }

  async close(): Promise<void> {
    await this.driver.close();
  }
}
