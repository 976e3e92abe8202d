/**
 * Accessibility, audited: axe-core (the engine behind most accessibility
 * checkers) on the home page with its join dialog, a lesson with its
 * terminal connected, and the instructor's dashboard with a learner on its
 * grid, against WCAG 2.1 A and AA: no serious or critical violation. And
 * the terminal's screen reader mode: a button in the terminal's bar turns
 * xterm's accessibility tree on (the output as text a screen reader reads),
 * and the choice is kept for the next lesson.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';
import { type BrowserEnv, browserEnv, joinWorkshop } from './env.ts';

const LESSON = '/lessons/getting-started/who-may-do-what/';

let env: BrowserEnv;
test.beforeAll(() => {
  env = browserEnv();
});

/** The serious and critical violations on the page as it is now, each with the first elements it names. */
async function violations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  // The audit ran its rules on this page: an empty list below means they passed, not that none applied.
  expect(result.passes.length).toBeGreaterThan(10);
  const minor = result.violations.filter((v) => v.impact !== 'serious' && v.impact !== 'critical').map((v) => `${v.id} (${v.impact})`);
  process.stderr.write(
    `[accessibility] ${page.url()}: ${result.passes.length} rules passed; lesser findings: ${minor.join(', ') || 'none'}\n`,
  );
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help}: ${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(' '))
          .join(', ')}`,
    );
}

test('the home page, a lesson and the dashboard have no serious accessibility violation', async ({ browser }) => {
  const context = await browser.newContext({ baseURL: env.origin });
  const page = await context.newPage();
  await page.goto('/');
  const join = page.getByRole('dialog', { name: 'Join the workshop' });
  await expect(join).toBeVisible();
  expect(await violations(page), 'the home page, with its join dialog').toEqual([]);

  await join.getByLabel('Your name').fill('Grace');
  await join.getByLabel(/Access code/).fill(env.accessCode);
  await join.getByRole('button', { name: 'Join' }).click();
  await expect(join).toBeHidden();
  expect(await violations(page), 'the home page, joined').toEqual([]);

  await page.goto(LESSON);
  await expect(page.locator('cdl-terminal')).toHaveAttribute('data-state', 'connected', { timeout: 30_000 });
  expect(await violations(page), 'a lesson with its terminal').toEqual([]);

  const instructor = await browser.newContext({ baseURL: env.origin });
  const dashboard = await instructor.newPage();
  await dashboard.goto('/instructor/');
  expect(await violations(dashboard), 'the dashboard, before the token').toEqual([]);
  await dashboard.getByLabel('Admin token').fill(env.adminToken);
  await dashboard.getByRole('button', { name: 'Show progress' }).click();
  await expect(dashboard.getByRole('rowheader', { name: 'Grace' })).toBeVisible();
  expect(await violations(dashboard), 'the dashboard with a learner').toEqual([]);
  await instructor.close();
  await context.close();
});

test("the terminal's screen reader mode reads its output as text, and stays on for the next lesson", async ({ browser }) => {
  const context = await browser.newContext({ baseURL: env.origin });
  const page = await context.newPage();
  await page.goto('/');
  await joinWorkshop(page, env, 'Radia');

  await page.goto(LESSON);
  const terminal = page.locator('cdl-terminal');
  await expect(terminal).toHaveAttribute('data-state', 'connected', { timeout: 30_000 });
  const toggle = page.getByRole('button', { name: 'Screen reader mode' });
  await expect(toggle).toHaveAttribute('aria-pressed', 'false');
  await expect(terminal.locator('.xterm-accessibility-tree')).toHaveCount(0);

  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');
  await page.keyboard.type('echo read-me-aloud');
  await page.keyboard.press('Enter');
  // The accessibility tree holds the screen's rows as text, the command's output among them.
  await expect(terminal.locator('.xterm-accessibility-tree')).toContainText('read-me-aloud');

  await page.reload();
  await expect(terminal).toHaveAttribute('data-state', 'connected', { timeout: 30_000 });
  await expect(page.getByRole('button', { name: 'Screen reader mode' })).toHaveAttribute('aria-pressed', 'true');
  await expect(terminal.locator('.xterm-accessibility-tree')).toHaveCount(1);
  await context.close();
});
