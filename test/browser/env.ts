/** What the global setup tells the browser tests: where the server is and its workshop's secrets. */
import { expect, type Page } from '@playwright/test';
import { type BrowserTests, testSettings } from '../../contract/settings.ts';

/** The variable that carries it to Playwright's workers (a test setting, contract/settings.ts). */
export const BROWSER_ENV = 'CDL_BROWSER_TESTS';

export type BrowserEnv = BrowserTests;

export function browserEnv(): BrowserEnv {
  const value = testSettings().CDL_BROWSER_TESTS;
  if (!value) throw new Error(`${BROWSER_ENV} is not set: run the browser tests through playwright.config.ts`);
  return value;
}

/** Joins the workshop from the home page's dialog as a learner named `name`, and waits for the dialog to close. */
export async function joinWorkshop(page: Page, env: BrowserEnv, name: string): Promise<void> {
  const join = page.getByRole('dialog', { name: 'Join the workshop' });
  await join.getByLabel('Your name').fill(name);
  await join.getByLabel(/Access code/).fill(env.accessCode);
  await join.getByRole('button', { name: 'Join' }).click();
  await expect(join).toBeHidden();
}
