/**
 * `npm start`: the whole platform on one machine. Builds the lesson site
 * when its sources changed and serves it at once; brings the cluster up
 * (saying on /healthz and in every terminal what is being prepared), then
 * serves the API and the terminals on the same port and prints the address,
 * and in workshop mode the access code and the instructor's token. The cluster keeps running after
 * Ctrl-C, so the next start takes seconds; `npm run cluster -- down` stops it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { reportStartupError, say, startPlatform, untilStopped } from './platform.ts';

async function main(): Promise<void> {
  const started = Date.now();
  const { server, config, announce } = await startPlatform({ buildSite: true, serveWhilePreparing: true });
  announce(server.url, started);
  // For a person at a terminal; a replica in a pod is stopped by its Deployment.
  if (process.stdin.isTTY) say('Press Ctrl-C to stop the server; the cluster keeps running (`npm run cluster -- down` stops it).');
  await untilStopped();
  // Browsers are told to reconnect, and /healthz says so; a load balancer has SHUTDOWN_DELAY_SECONDS to stop sending anyone here.
  server.drain();
  if (config.SHUTDOWN_DELAY_SECONDS > 0) {
    say(`Stopping in ${config.SHUTDOWN_DELAY_SECONDS} s (SHUTDOWN_DELAY_SECONDS); terminals were told to reconnect.`);
    await sleep(config.SHUTDOWN_DELAY_SECONDS * 1000);
  }
  await server.close();
}

try {
  await main();
} catch (error) {
  reportStartupError(error);
}
