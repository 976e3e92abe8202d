/**
 * The YAML editor beside the terminal: not loaded with the lesson page, only
 * once opened; a misspelt field is underlined from the cluster's own schema
 * as the learner writes; "Validate on the cluster" shows Pod Security's
 * refusal on the line it concerns; the text and the open editor survive a
 * reload.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';
import { browserEnv, joinWorkshop } from './env.ts';

const LESSON = '/lessons/getting-started/first-deployment/';

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicaz: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.27
`;

const PRIVILEGED = `apiVersion: v1
kind: Pod
metadata:
  name: root
spec:
  containers:
    - name: root
      image: busybox
      securityContext:
        privileged: true
`;

const CONFIGMAP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: colours
data:
  sky: blue
`;

/** Replaces the editor's text, as a paste would (no auto-indent on the way). */
async function write(page: Page, text: string): Promise<void> {
  const content = page.locator('.editor-panel .cm-content');
  await content.click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

test('the editor loads when opened, lints from the cluster schema, shows the cluster refusing, and keeps its text', async ({ browser }) => {
  const env = browserEnv();
  const context = await browser.newContext({ baseURL: env.origin });
  const page = await context.newPage();
  const scripts: string[] = [];
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('request', (request) => {
    if (request.resourceType() === 'script') scripts.push(new URL(request.url()).pathname);
  });
  await page.goto('/');
  await joinWorkshop(page, env, 'Barbara');

  await page.goto(LESSON);
  await expect(page.locator('cdl-terminal')).toHaveAttribute('data-state', 'connected', { timeout: 30_000 });
  // The lesson page's first load brings no editor.
  expect(scripts.filter((s) => /editor\./.test(s))).toEqual([]);

  const open = page.getByRole('button', { name: 'Editor', exact: true });
  await expect(open).toHaveAttribute('aria-expanded', 'false');
  await open.click();
  await expect(open).toHaveAttribute('aria-expanded', 'true');
  const panel = page.getByRole('region', { name: 'YAML editor' });
  await expect(panel.locator('.cm-editor')).toBeVisible();
  expect(scripts.some((s) => /editor\.[\w-]+\.js$/.test(s))).toBe(true);

  // A misspelt field, underlined from the cluster's schema of Deployment.
  await write(page, DEPLOYMENT);
  await expect(panel.getByRole('status')).toContainText("this cluster's schema of Deployment (apps/v1)");
  const underlined = panel.locator('.cm-lintRange-error');
  await expect(underlined.first()).toBeVisible({ timeout: 15_000 });
  // On the misspelt key itself, not on the whole object that holds it.
  await expect(underlined).toHaveText(['replicaz']);
  await page.screenshot({ path: 'test-results/browser/editor.png' });
  // Open, the editor keeps the page accessible (WCAG 2.1 A and AA, as the other pages).
  const audit = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(
    audit.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map(
        (v) =>
          `${v.id}: ${v.help}: ${v.nodes
            .slice(0, 4)
            .map((n) => `${n.target.join(' ')} ${n.any[0]?.message ?? ''}`)
            .join('; ')}`,
      ),
  ).toEqual([]);

  // Field names are completed from the same schema, deep in the object and at its top.
  await write(page, 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  ');
  await expect(panel.getByRole('status')).toContainText("this cluster's schema of Deployment (apps/v1)");
  await page.keyboard.press('Control+Space');
  const completions = page.locator('.cm-tooltip-autocomplete');
  await expect(completions).toContainText('revisionHistoryLimit');
  await expect(completions).not.toContainText('replicas');
  await page.keyboard.type('revisionH');
  await page.keyboard.press('Enter');
  await expect(panel.locator('.cm-content')).toContainText('revisionHistoryLimit:');
  await page.keyboard.press('Escape');

  // Pod Security answers a dry run in the learner's identity, on the line it concerns.
  await write(page, PRIVILEGED);
  await panel.getByRole('button', { name: 'Validate on the cluster' }).click();
  await expect(panel.getByRole('status')).toContainText('The cluster refuses 1 of 1');
  await expect(panel.getByRole('list', { name: "The cluster's answers" })).toContainText(/violates PodSecurity "baseline.*privileged/);
  await expect(panel.locator('.cm-lintRange-error').first()).toBeVisible();

  // Saved, the lab's terminal applies it from ~/files; the learner cannot write there.
  await write(page, CONFIGMAP);
  await panel.getByLabel('File').fill('colours.yaml');
  await panel.getByRole('button', { name: 'Save' }).click();
  await expect(panel.getByRole('status')).toContainText('kubectl apply -f ~/files/colours.yaml');
  const terminal = page.locator('cdl-terminal [role="tabpanel"]').first();
  await terminal.click();
  await page.keyboard.type('kubectl apply -f ~/files/colours.yaml; echo hacked > ~/files/colours.yaml');
  await page.keyboard.press('Enter');
  await expect(terminal).toContainText('configmap/colours created');
  await expect(terminal).toContainText(/Read-only file system|Permission denied/);
  await page.keyboard.type('kubectl get configmap colours -o jsonpath={.data.sky}; echo');
  await page.keyboard.press('Enter');
  await expect(terminal.locator('.xterm-rows > div').filter({ hasText: /^\s*blue\s*$/ })).toHaveCount(1);

  // The lesson's starter file opens in the editor under its name.
  await page.locator('cdl-edit[data-file="hello.yaml"]').getByRole('button', { name: 'Open in the editor' }).click();
  await expect(panel.getByLabel('File')).toHaveValue('hello.yaml');
  await expect(panel.locator('.cm-content')).toContainText('name: hello');
  await expect(panel.getByRole('status')).toContainText('Opened hello.yaml from the lesson');
  await write(page, CONFIGMAP);
  await panel.getByLabel('File').fill('colours.yaml');

  // A reload keeps the text, and the editor open.
  await page.reload();
  await expect(page.getByRole('button', { name: 'Editor', exact: true })).toHaveAttribute('aria-expanded', 'true');
  await expect(page.getByRole('region', { name: 'YAML editor' }).locator('.cm-content')).toContainText('sky: blue');
  await expect(page.getByRole('region', { name: 'YAML editor' }).getByLabel('File')).toHaveValue('colours.yaml');
  expect(errors, 'no error in the page').toEqual([]);
  await context.close();
});
