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
          // A machine runs one real node at most, and these files run side by
          // side: a cluster a test starts has none unless it asks for one
          // (test/cluster/real-node.test.ts does).
          env: { CDL_REAL_NODE: 'off' },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
