/**
 * The browser tests: Playwright driving the system's Chromium against the
 * real lab server (`scripts/start.ts`, as `npm start` runs it, in workshop
 * mode) on the real local test cluster, both started by the global setup.
 * Screenshots and, on failure, traces go to test-results/browser/.
 */
import { defineConfig } from '@playwright/test';
import { chromiumPath } from './test/browser/chromium.ts';

export default defineConfig({
  testDir: 'test/browser',
  outputDir: 'test-results/browser/artifacts',
  globalSetup: './test/browser/global-setup.ts',
  // One learner's story at a time: two cores run the cluster, the server and the browser.
  workers: 1,
  forbidOnly: true,
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 20_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    launchOptions: { executablePath: chromiumPath() },
    viewport: { width: 1366, height: 820 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
});
