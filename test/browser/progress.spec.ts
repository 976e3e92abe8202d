/**
 * The learner's workspace in the browser, against the real server and
 * cluster: the home and topic pages show a lab's progress (none at first,
 * then done, with the time it took), and check results show their inline
 * code as <code>, whatever the server's strings hold, never as markup.
 * Screenshots of a check's hint and of the home page go to test-results/browser/.
 */
import { type BrowserContext, expect, type Locator, type Page, test } from '@playwright/test';
import type { CheckResult } from '../../contract/check.ts';
import { type BrowserEnv, browserEnv, joinWorkshop } from './env.ts';

const LESSON = '/lessons/getting-started/first-deployment/';
const TITLE = 'Your terminal, your sandbox, your first Deployment';

test.describe.configure({ mode: 'serial' });

let env: BrowserEnv;
let learner: BrowserContext;
let page: Page;

test.beforeAll(async ({ browser }) => {
  env = browserEnv();
  learner = await browser.newContext({ baseURL: env.origin });
  page = await learner.newPage();
});

test.afterAll(async () => {
  // Leaving removes the sandbox, which the next story does not need.
  await page?.evaluate(() => fetch('/api/session', { method: 'DELETE' })).catch(() => undefined);
  await learner?.close();
});

/** The progress under the lesson's link on the home page. */
const onHome = (p: Page): Locator =>
  p
    .locator('.lessons li')
    .filter({ has: p.getByRole('link', { name: TITLE, exact: true }) })
    .locator('[data-lab-progress]');

/** Runs a step's check from its button and waits for the verdict. */
async function check(p: Page, step: string): Promise<Locator> {
  const box = p.locator(`cdl-check[data-step="${step}"]`);
  await box.getByRole('button', { name: 'Check this step' }).click();
  await expect(box.locator('[data-result] .verdict')).toBeVisible();
  return box;
}

test('once the learner has joined, the home page shows each lab with none of its steps passed', async () => {
  await page.goto('/');
  const progress = onHome(page);
  await expect(progress).toBeEmpty();
  await joinWorkshop(page, env, 'Grace Hopper');
  await expect(progress).toHaveText('Your progress: 0 of 2 steps');
  await expect(progress).toHaveAttribute('data-done', 'false');
  await expect(progress.getByText('Done')).toHaveCount(0);
  // The label is for screen readers only.
  await expect(progress.getByText('Your progress:')).toHaveClass('visually-hidden');
});

test("a check's hint shows its command as code, without backticks", async () => {
  await page.getByRole('link', { name: TITLE, exact: true }).click();
  await expect(page).toHaveURL(LESSON);
  await expect(page.locator('cdl-terminal')).toHaveAttribute('data-state', 'connected', { timeout: 60_000 });

  const box = await check(page, 'deploy');
  await expect(box).toHaveAttribute('data-passed', 'false');
  const missing = box.locator('li.fail[data-criterion="deployment"]');
  await expect(missing).toContainText('The Deployment hello does not exist yet.');
  const hint = missing.locator('.hint');
  await expect(hint.locator('code')).toHaveText(['kubectl get deployments']);
  await expect(hint).toHaveText('Hint: kubectl get deployments lists what your namespace has.');
  await expect(box.locator('[data-result]')).not.toContainText('`');
  await box.scrollIntoViewIfNeeded();
  await page.screenshot({ path: 'test-results/browser/check-code.png' });
});

test("markup in a check's message or hint stays text, in code and out of it", async () => {
  const trap = (n: number) => `<img src="x" onerror="window.cdlTrap = ${n}">`;
  const answer: CheckResult = {
    labId: 'first-deployment',
    stepId: 'expose',
    passed: false,
    criteria: [
      {
        id: 'made-up',
        passed: false,
        message: `The Service \`${trap(1)}\` and ${trap(2)} differ.`,
        hint: 'Compare ``a`b`` with `kubectl get services`; a lone ` stays.',
      },
    ],
    durationMs: 1,
  };
  await page.route('**/api/labs/first-deployment/steps/expose/check', (route) => route.fulfill({ json: answer }));
  try {
    const box = await check(page, 'expose');
    const item = box.locator('li[data-criterion="made-up"]');
    await expect(item.locator('code')).toHaveText([trap(1), 'a`b', 'kubectl get services']);
    await expect(item).toContainText(`and ${trap(2)} differ.`);
    await expect(item.locator('.hint')).toHaveText('Hint: Compare a`b with kubectl get services; a lone ` stays.');
    await expect(box.locator('img')).toHaveCount(0);
    expect(await page.evaluate(() => Reflect.get(window, 'cdlTrap'))).toBeUndefined();
  } finally {
    await page.unroute('**/api/labs/first-deployment/steps/expose/check');
  }
});

test("a hint opened in the lesson counts in the instructor's training records, which download as CSV", async ({ browser }) => {
  await page.goto(LESSON);
  const hint = page.locator('details.hint').first();
  await hint.locator('summary').click();
  await expect(hint).toHaveAttribute('open', '');
  const me = await page.evaluate(async () => (await (await fetch('/api/session')).json()).id as string);
  const records = async () => {
    const answer = await page.request.get('/api/admin/progress/records', { headers: { authorization: `Bearer ${env.adminToken}` } });
    const body = (await answer.json()) as { records: Array<{ session: string; step: string; hintsShown: number }> };
    return body.records.find((r) => r.session === me && r.step === 'deploy')?.hintsShown;
  };
  await expect.poll(records, { timeout: 10_000 }).toBe(1);

  const instructor = await browser.newContext({ baseURL: env.origin, acceptDownloads: true });
  try {
    const dashboard = await instructor.newPage();
    await dashboard.goto('/instructor/');
    await dashboard.getByLabel('Admin token').fill(env.adminToken);
    await dashboard.getByRole('button', { name: 'Show progress' }).click();
    const [download] = await Promise.all([
      dashboard.waitForEvent('download'),
      dashboard.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^progress-\d{4}-\d{2}-\d{2}\.csv$/);
    const text = await (await download.createReadStream()).toArray();
    const csv = Buffer.concat(text as Buffer[]).toString('utf8');
    expect(csv.split('\r\n')[0]).toBe(
      'session,learner,lab,step,stepTitle,startedAt,passedAt,minutesToPass,attempts,hintsShown,solutionUsed',
    );
    expect(csv).toMatch(new RegExp(`^${me},Grace Hopper,first-deployment,deploy,[^\r]*,1,false$`, 'm'));
  } finally {
    await instructor.close();
  }
});

test('once every step passes, the home and topic pages show the lab done, with the time it took', async () => {
  page.once('dialog', (dialog) => void dialog.accept());
  const controls = page.locator('cdl-lab-controls');
  await controls.getByRole('button', { name: 'Solve' }).click();
  await expect(controls.getByRole('status')).toHaveText('Solved: run the checks.', { timeout: 60_000 });
  for (const step of ['deploy', 'expose']) {
    // The solution's pods take a moment to be available: check again until they are.
    await expect(async () => {
      await expect(await check(page, step)).toHaveAttribute('data-passed', 'true', { timeout: 1000 });
    }).toPass({ timeout: 60_000 });
  }

  await page.goto('/');
  const progress = onHome(page);
  await expect(progress).toHaveAttribute('data-done', 'true');
  await expect(progress).toHaveText(/^Your progress: ✔ Done, 2 of 2 steps in (under a minute|\d+ minutes?)$/);
  await expect(progress.locator('.done')).toHaveText('✔ Done');
  await expect(progress.locator('.done [aria-hidden="true"]')).toHaveText('✔');
  await progress.scrollIntoViewIfNeeded();
  await page.screenshot({ path: 'test-results/browser/home-progress.png' });

  await page.goto('/topics/getting-started/');
  const section = page.locator('section').filter({ has: page.getByRole('heading', { name: TITLE }) });
  await expect(section.locator('[data-lab-progress]')).toHaveText(/^Your progress: ✔ Done, 2 of 2 steps in /);
});
