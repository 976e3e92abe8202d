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
          // A machine runs one real node at most: the shared cluster has it
          // (cluster-setup.ts), and a cluster a test starts beside it has none.
          env: { CDL_REAL_NODE: 'off' },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // Tests that need the machine to themselves (the real node's own
        // lifecycle: kill -9 of everything, down leaving the host as it was),
        // run after the others (scripts/test.ts), with no shared cluster.
        test: {
          name: 'machine',
          include: ['test/machine/**/*.test.ts'],
          // One real node per machine: each file's cluster has it in turn.
          fileParallelism: false,
          env: { CDL_REAL_NODE: 'off' },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
