import { defineConfig } from 'vitest/config';

/**
 * The example's tests, on a real Redis (REDIS_URL, else a throwaway redis-server, else
 * testcontainers); the browser tests drive Debian's chromium through playwright-core and its
 * firefox-esr through puppeteer-core.
 * `start` runs `npm start` as a user does, whose bootstrap may restore the packages' dist from
 * turbo's cache: it runs after the others, so no test imports a dist file being rewritten.
 */
export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'example', include: ['test/**/*.test.ts'], exclude: ['test/start.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'start',
          include: ['test/start.test.ts'],
          testTimeout: 180_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
