import { defineConfig } from 'vitest/config';

// The fixtures' own tests: they start throwaway redis-servers and local clusters on free
// loopback ports (and read REDIS_URL only where a test says so).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
