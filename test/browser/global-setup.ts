/**
 * Starts what the browser tests stand on, as a workshop would run it: the
 * local test cluster, then the lab server as `npm start` runs it (the bundled
 * server, through `scripts/serve.ts`) in workshop mode with a known access
 * code and admin token, on a free port.
 * The server's log goes to test-results/browser/server.log. If either cannot
 * start, the run fails here with the reason; the teardown stops both.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import { projectRoot } from '../../cluster/src/paths.ts';
import { testSettings } from '../../contract/settings.ts';
import { freePort } from '../support/ports.ts';
import { runEntry } from '../support/process.ts';
import { BROWSER_ENV, type BrowserEnv } from './env.ts';

const say = (line: string) => process.stderr.write(`[browser tests] ${line}\n`);

export default async function globalSetup(): Promise<() => Promise<void>> {
  const clusterName = testSettings().CDL_TEST_CLUSTER;
  const provider = new LocalProvider({ clusterName });
  const status = await provider.up(say);
  if (status.state !== 'running') throw new Error(`The test cluster did not become ready: ${status.detail}`);

  const port = await freePort();
  const env: BrowserEnv = {
    origin: `http://localhost:${port}`,
    accessCode: 'container-day',
    adminToken: 'browser-tests-admin-token-0123456789',
  };
  const logDir = join(projectRoot, 'test-results', 'browser');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, 'server.log');
  const started = Date.now();
  let server: Awaited<ReturnType<typeof runEntry>>;
  try {
    server = await runEntry({
      script: 'scripts/serve.ts',
      port,
      timeoutMs: 180_000,
      logFile,
      env: {
        PORT: String(port),
        CDL_PROVIDER: 'local',
        CDL_CLUSTER_NAME: clusterName,
        CDL_MODE: 'workshop',
        CDL_ACCESS_CODE: env.accessCode,
        CDL_ADMIN_TOKEN: env.adminToken,
        // Every learner of these tests comes from this machine, as a room behind one NAT does.
        SHARED_ADDRESSES: '127.0.0.1,::1',
        LOG_LEVEL: 'info',
      },
    });
  } catch (error) {
    await provider.down(say);
    throw error;
  }
  say(`lab server ready at ${env.origin} in ${((Date.now() - started) / 1000).toFixed(1)} s (log: ${logFile})`);
  process.env[BROWSER_ENV] = JSON.stringify(env);

  return async () => {
    await server.stop();
    await provider.down(say);
  };
}
