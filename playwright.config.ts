/**
 * The browser tests: Playwright driving the system's Chromium against the
 * real lab server (`scripts/start.ts`, as `npm start` runs it, in workshop
 * mode) on the real local test cluster, both started by the global setup.
 * Screenshots and, on failure, traces go to test-results/browser/.
 */
import { defineConfig } from '@playwright/test';
import { chromiumPath } from './cluster/src/system-packages.ts';

const executablePath = chromiumPath();
if (!executablePath) {
  throw new Error('The browser tests need Chromium and none was found: install it (sudo apt-get install chromium) or set CHROMIUM_PATH.');
}

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
    launchOptions: { executablePath },
    viewport: { width: 1366, height: 820 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
});
