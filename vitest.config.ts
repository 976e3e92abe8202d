import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs without a cluster; `cluster` shares one real local
// cluster, started once by its global setup, and fails with the reason if the
// cluster cannot start. There is no mock API server anywhere.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts', 'test/labs/**/*.test.ts', 'test/server/**/*.test.ts'],
          globalSetup: ['test/support/cluster-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
