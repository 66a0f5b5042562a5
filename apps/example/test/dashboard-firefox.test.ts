/**
 * The dashboard end to end in headless Firefox (Debian's firefox-esr, driven by puppeteer-core
 * over WebDriver BiDi): what a person sees, as in Chromium (dashboard-suite.ts).
 */
import { firefox } from './browser.js';
import { dashboardSuite } from './dashboard-suite.js';

// a run expiring and the NestJS server are the servers' doing, the same in every browser:
// dashboard.test.ts covers them
dashboardSuite(firefox, { serverSide: false });
