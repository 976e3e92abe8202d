/**
 * `npm start` without its site build: the same settings, cluster and lab
 * server, for tests that kill the server and start it again many times and
 * must not rebuild (or race another build of) the lesson site.
 */
import { reportStartupError, startPlatform, untilStopped } from '../../scripts/platform.ts';

try {
  const { server } = await startPlatform({ buildSite: false });
  await untilStopped();
  await server.close();
} catch (error) {
  reportStartupError(error);
}
