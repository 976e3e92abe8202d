/**
 * One attendee's story in the browser, against the real server and cluster:
 * join the workshop, open the getting-started lesson, use its terminal, get a
 * wrong attempt explained, finish the lab through the terminal, keep the
 * shell across a reload; then the instructor sees it on the dashboard.
 * Screenshots of the lesson and the dashboard go to test-results/browser/.
 */
import { type BrowserContext, expect, type Locator, type Page, test } from '@playwright/test';
import { TOPICS } from '../../contract/content.ts';
import { type BrowserEnv, browserEnv } from './env.ts';

const LESSON = '/lessons/getting-started/first-deployment/';
const LEARNER = 'Ada Lovelace';
const shots = (name: string) => `test-results/browser/${name}.png`;

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
  await learner?.close();
});

/** The terminal's text as xterm renders it, one line per row. */
const rows = (p: Page): Locator => p.locator('cdl-terminal .xterm-rows > div');
/** A row whose whole text is `text`, trailing blanks aside. */
const row = (p: Page, text: string | RegExp): Locator =>
  rows(p).filter({ hasText: typeof text === 'string' ? new RegExp(`^\\s*${literal(text)}\\s*$`) : text });
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const prompt = (p: Page) => rows(p).filter({ hasText: /learner@first-deployment \(.+\) ~ \$/ });

/** Types a command into the terminal as a learner would, and presses Enter. */
async function type(p: Page, command: string): Promise<void> {
  await p.locator('cdl-terminal .xterm').click();
  await p.keyboard.type(command);
  await p.keyboard.press('Enter');
}

async function check(p: Page, step: string): Promise<Locator> {
  const box = p.locator(`cdl-check[data-step="${step}"]`);
  await box.getByRole('button', { name: 'Check this step' }).click();
  await expect(box.locator('[data-result] .verdict')).toBeVisible();
  return box;
}

test('a new learner joins on the home page, opens the getting-started lesson, and its terminal answers no', async () => {
  await page.goto('/');
  for (const topic of TOPICS)
    await expect(page.getByRole('main').getByRole('heading', { name: topic.title, level: 2, exact: true })).toBeVisible();
  const join = page.getByRole('dialog', { name: 'Join the workshop' });
  await expect(join).toBeVisible();
  await join.getByLabel('Your name').fill(LEARNER);
  await join.getByLabel(/Access code/).fill('not-the-code');
  await join.getByRole('button', { name: 'Join' }).click();
  await expect(join.getByRole('alert')).toContainText(/access code/i);
  await join.getByLabel(/Access code/).fill(env.accessCode);
  await join.getByRole('button', { name: 'Join' }).click();
  await expect(join).toBeHidden();

  const started = Date.now();
  await page.getByRole('link', { name: 'Your terminal, your sandbox, your first Deployment' }).click();
  await expect(page).toHaveURL(LESSON);
  await expect(prompt(page).first()).toBeVisible({ timeout: 30_000 });
  const toPrompt = Date.now() - started;
  await expect(page.locator('cdl-terminal')).toHaveAttribute('data-state', 'connected');
  test.info().annotations.push({ type: 'first visit: click to prompt', description: `${toPrompt} ms` });
  process.stderr.write(`[browser tests] first visit, click to a usable prompt (sandbox and lab start included): ${toPrompt} ms\n`);

  await page
    .locator('cdl-run[data-cmd="kubectl auth can-i create pods --namespace kube-system"]')
    .getByRole('button', { name: /Run/ })
    .click();
  await expect(row(page, 'no')).toHaveCount(1);
  await page.screenshot({ path: shots('lesson'), fullPage: false });
});

test('a wrong attempt shows the failing criterion and the difference, expected beside actual', async () => {
  await type(page, 'kubectl create deployment hello --image=public.ecr.aws/nginx/nginx:1.27');
  await expect(row(page, 'deployment.apps/hello created')).toHaveCount(1);

  const box = await check(page, 'deploy');
  await expect(box).toHaveAttribute('data-passed', 'false');
  const replicas = box.locator('li.fail[data-criterion="replicas"]');
  await expect(replicas).toContainText('asks for 1 replica; the task asks for 2');
  await expect(replicas.locator('.hint')).toContainText('kubectl scale');
  const diff = replicas.locator('table.diff tbody tr');
  await expect(diff).toHaveCount(1);
  await expect(diff.locator('td')).toHaveText(['spec.replicas', '2', '1']);
  await expect(box.locator('li.pass[data-criterion="image"]')).toBeVisible();
  await box.scrollIntoViewIfNeeded();
  await page.screenshot({ path: shots('lesson-wrong-attempt') });
});

test('the learner completes the lab through the terminal and each check turns green', async () => {
  await type(page, 'kubectl scale deployment hello --replicas=2 && kubectl rollout status deployment hello');
  await expect(row(page, /successfully rolled out/)).toHaveCount(1);
  const deploy = await check(page, 'deploy');
  await expect(deploy).toHaveAttribute('data-passed', 'true');
  await expect(deploy.locator('li.fail')).toHaveCount(0);

  await type(page, 'kubectl expose deployment hello --port=80');
  await expect(row(page, 'service/hello exposed')).toHaveCount(1);
  const expose = await check(page, 'expose');
  await expect(expose).toHaveAttribute('data-passed', 'true');
  await expect(expose.locator('.verdict')).toHaveText('Well done: every criterion passes.');
});

test('a page reload comes back to the same shell, with its earlier output', async () => {
  await type(page, 'LESSON_MARK=kept-$((6*7))');
  const started = Date.now();
  await page.reload();
  await expect(page.locator('cdl-terminal')).toHaveAttribute('data-state', 'connected');
  // Replayed from the server's buffer: output from before the reload.
  await expect(row(page, 'service/hello exposed')).toHaveCount(1);
  await expect(prompt(page).last()).toBeVisible();
  const toPrompt = Date.now() - started;
  process.stderr.write(`[browser tests] reload to a usable prompt (same shell, replay): ${toPrompt} ms\n`);
  await type(page, 'echo "mark is $LESSON_MARK"');
  await expect(row(page, 'mark is kept-42')).toHaveCount(1);
});

test("the instructor's dashboard shows that learner's progress", async ({ browser }) => {
  const instructor = await browser.newContext({ baseURL: env.origin });
  const dashboard = await instructor.newPage();
  await dashboard.goto('/instructor/');
  await dashboard.getByLabel('Admin token').fill('wrong-token-wrong-token');
  await dashboard.getByRole('button', { name: 'Show progress' }).click();
  await expect(dashboard.getByRole('status')).toContainText(/admin token/i);
  await expect(dashboard.locator('#dashboard')).toBeHidden();

  await dashboard.getByLabel('Admin token').fill(env.adminToken);
  await dashboard.getByRole('button', { name: 'Show progress' }).click();
  const grid = dashboard.locator('#grid');
  // The grid is drawn once the progress has come back: wait for it before reading its columns.
  await expect(grid.locator('thead th', { hasText: 'First deployment' })).toHaveCount(1);
  const header = await grid.locator('thead th').allTextContents();
  const column = header.indexOf('First deployment');
  expect(column).toBeGreaterThan(0);
  const ada = grid.locator('tbody tr', { has: dashboard.getByRole('rowheader', { name: LEARNER }) });
  await expect(ada).toHaveCount(1);
  const cell = ada.locator('th, td').nth(column);
  await expect(cell).toHaveText('2/2');
  await expect(cell).toHaveClass(/done/);
  // This server's shells are its own: it has no pool of shell pods (409), so the page offers no pool control.
  await expect(dashboard.locator('#pool')).toBeHidden();
  await dashboard.screenshot({ path: shots('dashboard'), fullPage: true });
  await instructor.close();
});

test("the instructor's page sizes the warm pool where shells run in pods", async ({ browser }) => {
  const instructor = await browser.newContext({ baseURL: env.origin });
  const dashboard = await instructor.newPage();
  // A server with shells in pods answers the pool's route (test/server/shell-pods.test.ts proves the API); here only the page is under test.
  const asked: unknown[] = [];
  let pool = { size: 10, ready: 7, starting: 3 };
  await dashboard.route('**/api/admin/pool', async (route) => {
    if (route.request().method() === 'PUT') {
      asked.push(route.request().postDataJSON());
      pool = { size: (asked.at(-1) as { size: number }).size, ready: 7, starting: 43 };
    }
    await route.fulfill({ json: pool });
  });
  await dashboard.goto('/instructor/');
  await dashboard.getByLabel('Admin token').fill(env.adminToken);
  await dashboard.getByRole('button', { name: 'Show progress' }).click();
  const size = dashboard.getByLabel('Warm pool of shell pods');
  await expect(size).toHaveValue('10');
  await expect(dashboard.locator('#pool-status')).toHaveText('7 ready, 3 starting');
  await size.fill('50');
  await dashboard.getByRole('button', { name: 'Set for every replica' }).click();
  await expect(dashboard.locator('#pool-status')).toHaveText('7 ready, 43 starting');
  expect(asked).toEqual([{ size: 50 }]);
  await instructor.close();
});
