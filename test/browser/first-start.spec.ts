/**
 * The first start in the browser (test/support/first-start.ts: `npm start`
 * with an empty binary cache, its Kubernetes download held halfway): a
 * lesson can be read at once, its terminal says what is being prepared and
 * how far it is, and connects by itself once the cluster is ready.
 */
import { expect, test } from '@playwright/test';
import { type FirstStart, firstStart } from '../support/first-start.ts';

let start: FirstStart | undefined;

test.afterAll(async () => {
  await start?.stop();
});

test('a lesson is readable while the cluster is prepared, and its terminal connects by itself when it is ready', async ({ page }) => {
  test.setTimeout(300_000);
  start = await firstStart(`cdl-first-browser-${process.pid}`);
  await page.goto(`${start.origin}/lessons/getting-started/first-deployment/`);
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  const terminal = page.locator('cdl-terminal');
  await expect(terminal).toHaveAttribute('data-state', 'preparing');
  await expect(terminal.locator('[data-status]')).toContainText(
    /Preparing the cluster: .*downloading kubernetes: [\d.]+ of [\d.]+ MB.* \(\d+ %\)/,
  );

  start.release();
  await expect(terminal).toHaveAttribute('data-state', 'connected', { timeout: 180_000 });
  await expect(
    page
      .locator('cdl-terminal .xterm-rows > div')
      .filter({ hasText: /learner@first-deployment/ })
      .first(),
  ).toBeVisible({
    timeout: 30_000,
  });
});
