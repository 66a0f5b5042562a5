import { defineConfig } from 'vitest/config';

// The smoke run starts its own redis-server and BullMQ queue: a few tens of seconds.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
  },
});
