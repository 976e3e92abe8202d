/** What the global setup tells the browser tests: where the server is and its workshop's secrets. */
export const BROWSER_ENV = 'CDL_BROWSER_TESTS';

export interface BrowserEnv {
  origin: string;
  accessCode: string;
  adminToken: string;
}

export function browserEnv(): BrowserEnv {
  const value = process.env[BROWSER_ENV];
  if (!value) throw new Error(`${BROWSER_ENV} is not set: run the browser tests through playwright.config.ts`);
  return JSON.parse(value) as BrowserEnv;
}
