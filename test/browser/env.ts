/** What the global setup tells the browser tests: where the server is and its workshop's secrets. */
import { type BrowserTests, testSettings } from '../../contract/settings.ts';

/** The variable that carries it to Playwright's workers (a test setting, contract/settings.ts). */
export const BROWSER_ENV = 'CDL_BROWSER_TESTS';

export type BrowserEnv = BrowserTests;

export function browserEnv(): BrowserEnv {
  const value = testSettings().CDL_BROWSER_TESTS;
  if (!value) throw new Error(`${BROWSER_ENV} is not set: run the browser tests through playwright.config.ts`);
  return value;
}
