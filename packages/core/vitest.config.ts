import { defineConfig } from 'vitest/config';

/**
 * The whole integration suite runs twice: on a standalone Redis (`standalone`) and on a 3-master
 * Redis Cluster through an ioredis `Cluster` client (`cluster`); test/harness.ts hands each test
 * the client of its project. `cluster-faults` starts its own 3+3 cluster, kills and fails over
 * nodes, so it runs alone, after the others. `chaos` (test/chaos) kills connections, stalls,
 * restarts and flushes throwaway servers and a cluster of its own under load: last, one file at
 * a time.
 *   pnpm test                              all four
 *   pnpm vitest run --project standalone   one of them
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
          exclude: ['test/cluster-faults*.test.ts', 'test/chaos/**'],
          globalSetup: ['./test/global-setup.ts'],
          provide: { redisTopology: 'standalone' },
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/**/*.test.ts'],
          exclude: ['test/cluster-faults*.test.ts', 'test/chaos/**'],
          globalSetup: ['./test/cluster-global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster-faults',
          include: ['test/cluster-faults*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'chaos',
          include: ['test/chaos/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
