/**
 * `npm start`: the whole platform on one machine. Builds the lesson site
 * when its sources changed and serves it at once; brings the cluster up
 * (saying on /healthz and in every terminal what is being prepared), then
 * serves the API and the terminals on the same port and prints the address,
 * and in workshop mode the access code and the instructor's token. The cluster keeps running after
 * Ctrl-C, so the next start takes seconds; `npm run cluster -- down` stops it.
 */
import { reportStartupError, say, startPlatform, untilStopped } from './platform.ts';

async function main(): Promise<void> {
  const started = Date.now();
  const { server, announce } = await startPlatform({ buildSite: true, serveWhilePreparing: true });
  announce(server.url, started);
  say('Press Ctrl-C to stop the server; the cluster keeps running (`npm run cluster -- down` stops it).');
  await untilStopped();
  await server.close();
}

try {
  await main();
} catch (error) {
  reportStartupError(error);
}
