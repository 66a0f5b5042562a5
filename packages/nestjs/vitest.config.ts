import { defineConfig } from 'vitest/config';

// The module's tests, on a real Redis: REDIS_URL, else a throwaway redis-server, else testcontainers.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
