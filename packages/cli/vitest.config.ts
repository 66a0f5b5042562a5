import { defineConfig } from 'vitest/config';

/**
 * The CLI runs as a child process (dist/bin.js, built before the tests) against a real Redis:
 * `standalone` on one throwaway redis-server, `cluster` (test/cluster.test.ts) on a local
 * 3-master Redis Cluster.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'standalone',
          include: ['test/**/*.test.ts'],
          exclude: ['test/cluster.test.ts'],
          globalSetup: ['./test/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/cluster.test.ts'],
          globalSetup: ['./test/cluster-global-setup.ts'],
        },
      },
    ],
  },
});
