/**
 * Starts what the browser tests stand on, as a workshop would run it: the
 * local test cluster, then the lab server's own entry (`scripts/start.ts`)
 * in workshop mode with a known access code and admin token, on a free port.
 * The server's log goes to test-results/browser/server.log. If either cannot
 * start, the run fails here with the reason; the teardown stops both.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import { freePort } from '../support/ports.ts';
import { BROWSER_ENV, type BrowserEnv } from './env.ts';

const root = join(import.meta.dirname, '..', '..');
const logDir = join(root, 'test-results', 'browser');
const say = (line: string) => process.stderr.write(`[browser tests] ${line}\n`);

async function waitForServer(origin: string, server: ChildProcess, logFile: string, deadline: number): Promise<void> {
  let exited: number | null | undefined;
  server.once('exit', (code) => {
    exited = code;
  });
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n');
      throw new Error(`The lab server exited (code ${exited}) before it was ready:\n${tail}`);
    }
    try {
      const response = await fetch(`${origin}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`The lab server did not answer ${origin}/healthz in time; see ${logFile}`);
}

async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  server.kill('SIGTERM');
  const killed = setTimeout(() => server.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killed);
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const clusterName = process.env.CDL_TEST_CLUSTER ?? 'cdl-test';
  const provider = new LocalProvider({ clusterName });
  const status = await provider.up(say);
  if (status.state !== 'running') throw new Error(`The test cluster did not become ready: ${status.detail}`);

  const port = await freePort();
  const env: BrowserEnv = {
    origin: `http://localhost:${port}`,
    accessCode: 'container-day',
    adminToken: 'browser-tests-admin-token-0123456789',
  };
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, 'server.log');
  const log = createWriteStream(logFile);
  const server = spawn(process.execPath, [join(root, 'scripts', 'start.ts')], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      CDL_PROVIDER: 'local',
      CDL_CLUSTER_NAME: clusterName,
      CDL_MODE: 'workshop',
      CDL_ACCESS_CODE: env.accessCode,
      CDL_ADMIN_TOKEN: env.adminToken,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout?.pipe(log);
  server.stderr?.pipe(log);
  const started = Date.now();
  try {
    await waitForServer(env.origin, server, logFile, started + 180_000);
  } catch (error) {
    await stop(server);
    await provider.down(say);
    throw error;
  }
  say(`lab server ready at ${env.origin} in ${((Date.now() - started) / 1000).toFixed(1)} s (log: ${logFile})`);
  process.env[BROWSER_ENV] = JSON.stringify(env);

  return async () => {
    await stop(server);
    log.end();
    await provider.down(say);
  };
}
