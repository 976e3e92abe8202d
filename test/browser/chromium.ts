/** The system's Chromium for Playwright: `CHROMIUM_PATH`, or `chromium` on PATH (Debian's package). */
import { onPath } from '../../scripts/system-packages.ts';

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const path = env.CHROMIUM_PATH || onPath('chromium') || onPath('chromium-browser');
  if (!path) {
    throw new Error('The browser tests need Chromium and none was found. Install it (sudo apt-get install chromium) or set CHROMIUM_PATH.');
  }
  return path;
}
