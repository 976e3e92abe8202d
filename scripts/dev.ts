/**
 * `npm run dev`: for lesson authors and site developers. The lab server as
 * `npm start` runs it (API and terminals on PORT, default 4321) and Astro's
 * dev server on DEV_PORT (default 4322), which reloads a lesson when it is
 * saved and forwards /api and the terminal WebSocket to the lab server
 * (site/astro.config.mjs). Open the dev server's address; the lab server
 * accepts WebSockets from it.
 */
import { dev } from 'astro';
import { projectRoot } from '../cluster/src/paths.ts';
import { developmentSettings } from '../contract/settings.ts';
import { allowedOrigins, readConfig } from '../labs-server/src/config.ts';
import { assertPortFree } from '../labs-server/src/listen.ts';
import { reportStartupError, say, startPlatform, untilStopped } from './platform.ts';

async function main(): Promise<void> {
  const started = Date.now();
  const { DEV_PORT: devPort } = developmentSettings();
  const serverSettings = readConfig();
  await assertPortFree(devPort, '127.0.0.1');
  const devOrigins = [`http://localhost:${devPort}`, `http://127.0.0.1:${devPort}`];
  // The pages come from the dev server, so their WebSockets carry its origin
  // too; PUBLIC_ORIGINS, when set, is taken as it is.
  const origins = serverSettings.PUBLIC_ORIGINS ?? [...allowedOrigins(serverSettings), ...devOrigins];
  const env = { ...process.env, PUBLIC_ORIGINS: origins.join(',') };
  const { server, config, announce } = await startPlatform({ buildSite: false, env });
  process.env.LABS_SERVER = `http://127.0.0.1:${config.PORT}`;
  const site = await dev({ root: `${projectRoot}/site`, server: { port: devPort, host: '127.0.0.1' }, logLevel: 'warn' });
  announce(`http://localhost:${devPort}/`, started);
  say(`  lessons reload as you save them; API and terminals from ${server.url}`);
  say('Press Ctrl-C to stop; the cluster keeps running (`npm run cluster -- down` stops it).');
  await untilStopped();
  await site.stop();
  await server.close();
}

try {
  await main();
} catch (error) {
  reportStartupError(error);
}
