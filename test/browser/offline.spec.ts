/**
 * "No network needed once installed", proven from the browser's side: every
 * lesson, the search (with a query, so its index and WebAssembly load) and
 * the instructor's page are visited with every request and WebSocket to
 * another origin recorded and refused. There must be none, and the pages'
 * Content-Security-Policy allows only the server's own origin. (The site
 * build refuses such references too: scripts/offline-check.ts.)
 */
import { expect, test } from '@playwright/test';
import { loadLessons } from '../../content/lessons.ts';
import { browserEnv } from './env.ts';

test('every page loads everything from its own origin, and nothing from anywhere else', async ({ browser }) => {
  test.setTimeout(180_000);
  const env = browserEnv();
  const own = new URL(env.origin).origin;
  const context = await browser.newContext({ baseURL: env.origin });
  const elsewhere: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === own || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    elsewhere.push(url);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('websocket', (socket) => {
    const origin = new URL(socket.url().replace(/^ws/, 'http')).origin;
    if (origin !== own) elsewhere.push(socket.url());
  });

  const lessons = loadLessons().map((file) => `/lessons/${file.slug}/`);
  expect(lessons.length).toBeGreaterThan(20);
  for (const path of ['/', ...lessons, '/instructor/']) {
    const answer = await page.goto(path, { waitUntil: 'load' });
    expect(answer?.status(), path).toBe(200);
    const csp = answer?.headers()['content-security-policy'] ?? '';
    expect(csp, path).toContain("default-src 'self'");
    expect(csp, path).not.toMatch(/https?:\/\/(?!localhost|127\.0\.0\.1)/);
  }
  await page.goto('/search/');
  await page.locator('.pagefind-ui__search-input').fill('PodDisruptionBudget');
  await expect(page.locator('.pagefind-ui__result').first()).toBeVisible();

  expect(elsewhere).toEqual([]);
  await context.close();
});
