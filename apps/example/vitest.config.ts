import { defineConfig } from 'vitest/config';

// The example's tests, on a real Redis (REDIS_URL, else a throwaway redis-server, else
// testcontainers); the browser tests drive Debian's chromium through playwright-core.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
