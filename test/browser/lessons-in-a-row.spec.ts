/**
 * A learner clicking through the course, lesson after lesson, in the page:
 * every lesson's terminal connects (the shells of lessons left behind never
 * block the next one); going back to a lesson left a moment ago finds its
 * shell and its output; and with ten terminals shown in ten browser tabs, an
 * eleventh says in the page what to do, and doing it works.
 */
import { type BrowserContext, expect, type Locator, type Page, test } from '@playwright/test';
import { courseCatalog } from '../../checks/catalog.ts';
import { loadLessons } from '../../content/lessons.ts';
import { browserEnv, joinWorkshop } from './env.ts';

/** Eleven lessons whose labs need nothing but a namespace: one more than a session keeps shells for. */
function elevenLessons(): Array<{ lab: string; path: string }> {
  const catalog = courseCatalog();
  const plain = new Set(
    catalog
      .list()
      .filter((lab) => lab.scope === 'namespace' && !lab.needsContainers && !lab.needsKarpenter && !lab.needsAuditLog)
      .map((lab) => lab.id),
  );
  return loadLessons()
    .flatMap(({ slug, lesson }) => (lesson.lab && plain.has(lesson.lab) ? [{ lab: lesson.lab, path: `/lessons/${slug}/` }] : []))
    .slice(0, 11);
}

const terminal = (page: Page): Locator => page.locator('cdl-terminal');
const main = (page: Page): Locator => page.locator('cdl-terminal [role="tabpanel"][aria-label="Terminal main"]');
/** A row of the main terminal whose whole text is `text`. */
const row = (page: Page, text: string): Locator =>
  main(page)
    .locator('.xterm-rows > div')
    .filter({ hasText: new RegExp(`^\\s*${text}\\s*$`) });

async function openLesson(context: BrowserContext, path: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(path);
  return page;
}

async function connected(page: Page): Promise<void> {
  await expect(terminal(page)).toHaveAttribute('data-state', 'connected', { timeout: 60_000 });
}

test('a learner moves through eleven lessons, comes back to one, and is told what to do at the limit', async ({ browser }) => {
  test.setTimeout(300_000);
  const env = browserEnv();
  const lessons = elevenLessons();
  expect(lessons).toHaveLength(11);
  const context = await browser.newContext({ baseURL: env.origin });
  const page = await context.newPage();
  await page.goto('/');
  await joinWorkshop(page, env, 'Grace');

  // Lesson after lesson in one browser tab: each terminal connects and runs a command.
  for (const { lab, path } of lessons) {
    await page.goto(path);
    await connected(page);
    await expect(main(page)).toContainText(new RegExp(`learner@${lab} \\(.+\\) ~ \\$`));
    await main(page).click();
    await page.keyboard.type(`echo was-in-${lab}`);
    await page.keyboard.press('Enter');
    await expect(row(page, `was-in-${lab}`)).toHaveCount(1);
  }

  // Back to the tenth lesson, left a moment ago: its shell, with what it printed.
  const first = lessons.at(0);
  const tenth = lessons.at(9);
  if (!first || !tenth) throw new Error('eleven lessons were checked above');
  await page.goto(tenth.path);
  await connected(page);
  await expect(row(page, `was-in-${tenth.lab}`)).toHaveCount(1);

  // Ten lessons shown at once, in ten browser tabs (their shells found again): all connected.
  const shown = [page];
  for (const { path } of [...lessons.slice(1, 9), ...lessons.slice(10)]) shown.push(await openLesson(context, path));
  for (const each of shown) await connected(each);

  // An eleventh, while ten are shown: the page says why and what to do.
  const eleventh = await openLesson(context, first.path);
  await expect(terminal(eleventh)).toHaveAttribute('data-state', 'ended', { timeout: 30_000 });
  await expect(terminal(eleventh).locator('[data-status]')).toContainText('Close one and reload');

  // Doing what it says: one tab closed, a reload connects.
  await (shown[1] as Page).close();
  await eleventh.reload();
  await connected(eleventh);
  await expect(main(eleventh)).toContainText(new RegExp(`learner@${first.lab} \\(.+\\) ~ \\$`));
  await context.close();
});
