/**
 * Several terminals for one lab: a lesson's `<Run tab="watch">` opens a tab
 * of that name, with its own shell, and runs the watch there while the
 * learner works in the first tab; the learner opens another with "+" and
 * closes it with ×. Each tab keeps its own output, and which tabs are open
 * and which is shown survive a reload (each shell found again, its output
 * replayed).
 */
import { expect, type Locator, type Page, test } from '@playwright/test';
import { browserEnv, joinWorkshop } from './env.ts';

const LESSON = '/lessons/operational-excellence/why-it-crashed/';

/** A tab's screen, by its name. */
const screen = (page: Page, tab: string): Locator => page.locator(`cdl-terminal [role="tabpanel"][aria-label="Terminal ${tab}"]`);
/** A row of a tab's screen whose whole text is `text`. */
const row = (page: Page, tab: string, text: string): Locator =>
  screen(page, tab)
    .locator('.xterm-rows > div')
    .filter({ hasText: new RegExp(`^\\s*${text}\\s*$`) });
const tabButton = (page: Page, tab: string): Locator => page.getByRole('tab', { name: tab, exact: true });

test('a lesson runs a watch in a tab of its own, the learner opens and closes another, and the layout survives a reload', async ({
  browser,
}) => {
  const env = browserEnv();
  const context = await browser.newContext({ baseURL: env.origin });
  const page = await context.newPage();
  await page.goto('/');
  await joinWorkshop(page, env, 'Margaret');

  await page.goto(LESSON);
  const terminal = page.locator('cdl-terminal');
  await expect(terminal).toHaveAttribute('data-state', 'connected', { timeout: 60_000 });
  await expect(page.getByRole('tab')).toHaveText(['main']);
  await expect(screen(page, 'main')).toContainText(/learner@why-it-crashed \(.+\) ~ \$/);

  // The lesson's Run with tab="watch": a second tab, shown, running the watch in its own shell.
  await page.locator('cdl-run[data-cmd="kubectl get pods -w"]').getByRole('button', { name: /Run/ }).click();
  await expect(page.getByRole('tab')).toHaveText(['main', 'watch']);
  await expect(tabButton(page, 'watch')).toHaveAttribute('aria-selected', 'true');
  await expect(screen(page, 'watch')).toBeVisible();
  await expect(screen(page, 'watch')).toContainText(/learner@why-it-crashed:watch/);
  await expect(screen(page, 'watch')).toContainText(/NAME\s+READY\s+STATUS/);
  await expect(screen(page, 'main')).toBeHidden();

  // Back in main, a command runs there and only there; the watch keeps running in its tab.
  await tabButton(page, 'main').click();
  await expect(screen(page, 'main')).toBeVisible();
  await screen(page, 'main').click();
  await page.keyboard.type('echo only-in-main');
  await page.keyboard.press('Enter');
  await expect(row(page, 'main', 'only-in-main')).toHaveCount(1);
  await expect(screen(page, 'watch')).not.toContainText('only-in-main');

  // "+" opens a third tab with its own shell; × closes it.
  await page.getByRole('button', { name: 'Open another terminal' }).click();
  await expect(page.getByRole('tab')).toHaveText(['main', 'watch', 't2']);
  await expect(screen(page, 't2')).toContainText(/learner@why-it-crashed:t2/);
  await page.getByRole('button', { name: 'Close terminal t2' }).click();
  await expect(page.getByRole('tab')).toHaveText(['main', 'watch']);
  await expect(tabButton(page, 'main')).toHaveAttribute('aria-selected', 'true');

  // Shown: the watch. After a reload, the same tabs, the watch shown, its shell found with its output.
  await tabButton(page, 'watch').click();
  await page.reload();
  await expect(page.getByRole('tab')).toHaveText(['main', 'watch']);
  await expect(tabButton(page, 'watch')).toHaveAttribute('aria-selected', 'true');
  await expect(terminal).toHaveAttribute('data-state', 'connected', { timeout: 30_000 });
  await expect(screen(page, 'watch')).toContainText(/NAME\s+READY\s+STATUS/);
  // The keyboard moves between tabs as a tablist's should.
  await tabButton(page, 'watch').focus();
  await page.keyboard.press('ArrowLeft');
  await expect(tabButton(page, 'main')).toHaveAttribute('aria-selected', 'true');
  await expect(row(page, 'main', 'only-in-main')).toHaveCount(1);
  await context.close();
});
