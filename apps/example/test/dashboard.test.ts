/** The dashboard end to end in headless Chromium (Debian's chromium, driven by playwright-core). */
import { chromium } from './browser.js';
import { dashboardSuite } from './dashboard-suite.js';

dashboardSuite(chromium);
