/**
 * The dashboard end to end in a headless browser: both servers, a real Redis, the runs written
 * by the store as the app's workers would, and what a person sees on the page. Each browser's
 * test file runs it: dashboard.test.ts (Chromium), dashboard-firefox.test.ts (Firefox).
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Scope } from '@active-runs/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server-config.js';
import { type BrowserUnderTest, Dashboard, type LaunchedBrowser } from './browser.js';
import { Demo, get } from './harness.js';

const ARTIFACTS = fileURLToPath(new URL('../test-results/', import.meta.url));
// the scopes the dashboard signs in to: acme's first project, and the switcher's others (each
// test file has a Demo of its own, so its own key prefix: the files can run side by side)
const assistant: Scope = { workspaceId: 'acme', projectId: 'assistant' };
const globex: Scope = { workspaceId: 'globex', projectId: 'chat' };
const SOURCES = ['api', 'playground', 'evaluation'];

/** Options of {@link dashboardSuite}. */
export interface DashboardSuiteOptions {
  /**
   * Also the tests of what the servers do, the same in every browser (a run expiring, the page
   * served by NestJS): one browser's file runs them; the others' stay short.
   * @default true
   */
  serverSide?: boolean;
}

/** The dashboard's tests in one browser. */
export function dashboardSuite(
  under: BrowserUnderTest,
  { serverSide = true }: DashboardSuiteOptions = {},
): void {
  const demo = new Demo();
  let browser: LaunchedBrowser;
  let fastify: RunningServer;
  let nest: RunningServer;
  const open: Dashboard[] = [];

  /**
   * `count` runs into a scope, a minute apart in the past, the first `running` of them started.
   * @returns their ids in the order the API lists them
   */
  async function seed(
    scope: Scope,
    tag: string,
    count: number,
    running: number,
  ): Promise<string[]> {
    const base = Date.now() - 3_600_000;
    for (let i = 0; i < count; i++) {
      const id = `${tag}-${String(i).padStart(2, '0')}`;
      const queuedAt = base + i * 60_000;
      await demo.store.enqueue(scope, {
        id,
        queuedAt,
        source: SOURCES[i % SOURCES.length]!,
        caption: `step ${i}`,
        data: { model: 'gpt-4o', tokens: i * 10 },
      });
      if (i < running) await demo.store.start(scope, id, { startedAt: queuedAt + 1_000 });
    }
    return (await demo.store.list(scope, { limit: 500 })).items.map((run) => run.id);
  }

  async function openDashboard(base = fastify.url): Promise<Dashboard> {
    const dashboard = await Dashboard.open(browser, base);
    open.push(dashboard);
    return dashboard;
  }

  /**
   * Listens on a stopped server's port and resets every connection, counting them: a server
   * that is away, whose port shows when the browser tries to reconnect.
   */
  async function resetConnections(port: number) {
    const listener = createServer((socket) => {
      away.attempts++;
      socket.resetAndDestroy();
    });
    const away = {
      attempts: 0,
      close: () => new Promise<void>((resolve) => listener.close(() => resolve())),
    };
    await new Promise<void>((resolve) => listener.listen(port, '127.0.0.1', resolve));
    return away;
  }

  /** The runs of acme/assistant as the API lists them: 10 running, then 20 queued. */
  let listed: string[] = [];

  beforeAll(async () => {
    browser = await under.launch();
    fastify = await demo.start('fastify');
    nest = await demo.start('nestjs');
    listed = await seed(assistant, 'a', 30, 10);
  });
  afterEach(async () => {
    for (const dashboard of open.splice(0)) {
      // no console errors and no uncaught exceptions, whatever the test did
      expect(dashboard.errors).toEqual([]);
      await dashboard.close();
    }
  });
  afterAll(async () => {
    await browser?.close();
    await demo.close();
  });

  // each test leaves acme/assistant as it found it
  describe(`the dashboard in ${under.name}`, () => {
    it('shows the first page, running first, with counts; new runs appear, ended ones vanish, counts move', async () => {
      const dashboard = await openDashboard();
      await dashboard.expectRows(listed.slice(0, 20));
      await dashboard.expectCounts(30, 10, 20);
      expect(await dashboard.text('#page-info')).toBe('Page 1 · 20 shown · 30 matching');
      expect(await dashboard.cell('a-09', 'status')).toBe('running');
      expect(await dashboard.cell('a-29', 'status')).toBe('queued');
      expect(await dashboard.text('#server')).toContain('Fastify');
      expect(await dashboard.value('#workspace')).toBe('acme');

      // a new run: the newest queued one, placed below the running ones
      await demo.store.enqueue(assistant, { id: 'fresh', source: 'api', caption: 'just in' });
      await dashboard.expectRows((rows) => rows.indexOf('fresh') === 10);
      await dashboard.expectCounts(31, 10, 21);
      // it starts: the newest running run, at the top
      await demo.store.start(assistant, 'fresh');
      await dashboard.expectRows((rows) => rows[0] === 'fresh');
      await dashboard.expectCounts(31, 11, 20);
      await demo.store.progress(assistant, 'fresh', { caption: 'thinking hard' });
      await expect
        .poll(() => dashboard.cell('fresh', 'caption'), { timeout: 10_000 })
        .toBe('thinking hard');
      // its age ticks
      const age = await dashboard.cell('fresh', 'age');
      expect(age).toMatch(/^\d+ s$/);
      await expect.poll(() => dashboard.cell('fresh', 'age'), { timeout: 5_000 }).not.toBe(age);
      // it ends: its row vanishes
      await demo.store.end(assistant, 'fresh');
      await dashboard.expectRows(listed.slice(0, 20));
      await dashboard.expectCounts(30, 10, 20);

      mkdirSync(ARTIFACTS, { recursive: true });
      await dashboard.screenshot(`${ARTIFACTS}dashboard-${under.name.toLowerCase()}.png`);
    });

    it('pages forward and back with cursors; each page follows the changes in its own range', async () => {
      const dashboard = await openDashboard();
      await dashboard.expectRows(listed.slice(0, 20));
      await dashboard.click('#next');
      await dashboard.expectRows(listed.slice(20));
      expect(await dashboard.text('#page-info')).toBe('Page 2 · 10 shown · 30 matching');
      expect(await dashboard.disabled('#next')).toBe(true);

      // a new run belongs to page 1: counted, not shown here
      await demo.store.enqueue(assistant, { id: 'page-one', source: 'api' });
      await dashboard.expectCounts(31, 10, 21);
      expect(await dashboard.rowIds()).toEqual(listed.slice(20));
      // an old one belongs to the end of the list: this page
      const oldest = Date.now() - 7_200_000;
      await demo.store.enqueue(assistant, { id: 'page-two', source: 'api', queuedAt: oldest });
      await dashboard.expectRows([...listed.slice(20), 'page-two']);
      await demo.store.end(assistant, 'page-two');
      await dashboard.expectRows(listed.slice(20));

      await dashboard.click('#back');
      const first = (await demo.store.list(assistant, { limit: 20 })).items.map((run) => run.id);
      expect(first.indexOf('page-one')).toBe(10);
      await dashboard.expectRows(first);
      expect(await dashboard.text('#page-info')).toBe('Page 1 · 20 shown · 31 matching');
      expect(await dashboard.disabled('#back')).toBe(true);
      // it ends: the page keeps its range (up to its last row as loaded), so it shows one row
      // less, and "next" still starts right after it
      await demo.store.end(assistant, 'page-one');
      await dashboard.expectRows(first.filter((id) => id !== 'page-one'));
    });

    it('filters by status and by source, live', async () => {
      const dashboard = await openDashboard();
      await dashboard.select('#status', 'queued');
      const queued = listed.filter((id) => Number(id.slice(2)) >= 10);
      await dashboard.expectRows(queued.slice(0, 20));
      expect(await dashboard.text('#page-info')).toBe('Page 1 · 20 shown · 20 matching');

      // a click on a source's count filters by it too
      await dashboard.click('#count-sources .chip[data-source="playground"]');
      const playground = queued.filter((id) => Number(id.slice(2)) % 3 === 1);
      await dashboard.expectRows(playground);
      expect(await dashboard.value('#source')).toBe('playground');

      await demo.store.enqueue(assistant, { id: 'play-new', source: 'playground' });
      await demo.store.enqueue(assistant, { id: 'api-new', source: 'api' });
      await dashboard.expectRows(['play-new', ...playground]);
      // it starts: no longer queued, so it leaves this page
      await demo.store.start(assistant, 'play-new');
      await dashboard.expectRows(playground);

      await dashboard.select('#status', '');
      await dashboard.expectRows((rows) => rows[0] === 'play-new' && !rows.includes('api-new'));
      for (const id of ['play-new', 'api-new']) await demo.store.end(assistant, id);
    });

    if (serverSide) {
      it('shows a run expiring when its worker dies (the sweeper runs in the server)', async () => {
        const dashboard = await openDashboard();
        // a lease long enough to see it arrive on a busy machine
        await demo.store.enqueue(assistant, { id: 'doomed', source: 'api', leaseMs: 5_000 });
        await dashboard.expectRows((rows) => rows.includes('doomed'));
        await dashboard.expectCounts(31, 10, 21);
        await dashboard.expectRows((rows) => !rows.includes('doomed'), 20_000);
        await dashboard.expectCounts(30, 10, 20);
        expect(
          demo.logs.some((line) => line.startsWith('run doomed in acme/assistant expired')),
        ).toBe(true);
      });
    }

    it('marks the live connection down while the stream is cut, and catches up when it is back', async () => {
      // a server of its own, stopped and started again on the same port
      const own = await demo.start('fastify');
      const port = Number(new URL(own.url).port);
      const dashboard = await openDashboard(own.url);
      await dashboard.expectRows(listed.slice(0, 20));
      // the browser may log its failed attempts to reconnect while the server is away
      const outage = dashboard.errors.length;

      await demo.stop(own);
      await dashboard.waitForLive('down');
      expect(await dashboard.text('#live-text')).toBe('Live updates lost: reconnecting…');
      await demo.store.enqueue(assistant, { id: 'while-down', source: 'api' });
      // the browser tries again (after ~3 s) and fails
      const away = await resetConnections(port);
      await expect.poll(() => away.attempts, { timeout: 15_000 }).toBeGreaterThan(0);
      expect(await dashboard.text('#live-text')).toBe('Live updates lost: reconnecting…');
      await away.close();

      const back = await demo.start('fastify', { port });
      await dashboard.waitForLive('recovered', 30_000);
      expect(await dashboard.text('#live-text')).toBe('Live again: page reloaded');
      await dashboard.expectRows((rows) => rows.includes('while-down'));
      await dashboard.expectCounts(31, 10, 21);
      await demo.store.end(assistant, 'while-down');
      await dashboard.expectCounts(30, 10, 20);
      await dashboard.waitForLive('live', 10_000);

      const reconnects = dashboard.errors.splice(outage);
      for (const error of reconnects) {
        expect(error).toMatch(under.logs.unreachable);
      }
      await demo.stop(back);
    });

    it('after a restart of the demo with a new secret, signs in again as the same workspace and project', async () => {
      const support: Scope = { workspaceId: 'acme', projectId: 'support' };
      const theirs = await seed(support, 's', 3, 1);
      const own = await demo.start('fastify');
      const port = Number(new URL(own.url).port);
      const dashboard = await openDashboard(own.url);
      await dashboard.select('#project', 'support');
      await dashboard.expectRows(theirs);

      // the stream is refused (401: the cookie was signed with the old secret): the page signs in
      await demo.stop(own);
      const restarted = await demo.start('fastify', {
        port,
        sessionSecret: 'a-new-secret-0123456789',
      });
      await dashboard.waitForLive('recovered', 30_000);
      expect(await dashboard.value('#workspace')).toBe('acme');
      expect(await dashboard.value('#project')).toBe('support');
      await dashboard.expectRows(theirs);
      // the browser may log the refused stream (401) and its failed attempts to reconnect
      const { unreachable, unauthorized = unreachable } = under.logs;
      for (const error of dashboard.errors.splice(0)) {
        expect(error).toMatch(new RegExp(`${unreachable.source}|${unauthorized.source}`));
      }
      await demo.stop(restarted);
      for (const id of theirs) await demo.store.end(support, id);
    });

    it('a user of one workspace sees none of another workspace, in the page or through the API', async () => {
      const theirs = await seed(globex, 'g', 5, 2);
      const acmeUser = await openDashboard();
      const globexUser = await openDashboard();
      await globexUser.select('#workspace', 'globex');
      await globexUser.expectRows(theirs);
      await globexUser.expectCounts(5, 2, 3);
      expect(await globexUser.value('#project')).toBe('chat');
      await acmeUser.expectRows(listed.slice(0, 20));

      // the API with the globex user's cookies: only globex's runs, whatever it asks
      const cookie = await globexUser.cookie(fastify.url);
      const api = (path: string) => get(fastify.url, `/api/runs/active${path}`, cookie);
      const page = await api('?limit=500');
      expect((page.body as { items: { id: string }[] }).items.map((run) => run.id)).toEqual(theirs);
      expect((await api('/a-00')).status).toBe(404);
      expect((await api('?workspaceId=acme')).status).toBe(400);

      // live: a change in acme reaches the acme user only
      await demo.store.enqueue(assistant, { id: 'acme-only', source: 'api' });
      await demo.store.enqueue(globex, { id: 'globex-only', source: 'api' });
      await globexUser.expectRows((rows) => rows.includes('globex-only'));
      await acmeUser.expectRows((rows) => rows.includes('acme-only'));
      expect(await globexUser.rowIds()).not.toContain('acme-only');
      expect(await acmeUser.rowIds()).not.toContain('globex-only');

      // switching back signs in as acme again
      await globexUser.select('#workspace', 'acme');
      await globexUser.expectRows(
        (rows) => rows.includes('acme-only') && !rows.includes('globex-only'),
      );
      await demo.store.end(assistant, 'acme-only');
      await demo.store.end(globex, 'globex-only');
    });

    if (serverSide) {
      it('is served the same by the NestJS server', async () => {
        const dashboard = await openDashboard(nest.url);
        expect(await dashboard.text('#server')).toContain('NestJS');
        await dashboard.expectRows(listed.slice(0, 20));
        await demo.store.enqueue(assistant, { id: 'via-nest', source: 'batch' });
        await dashboard.expectRows((rows) => rows.indexOf('via-nest') === 10 && rows.length === 21);
        await dashboard.click('#next');
        await dashboard.expectRows(listed.slice(20));
        await demo.store.end(assistant, 'via-nest');
      });
    }
  });
}
