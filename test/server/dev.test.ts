/**
 * `npm run dev` as a lesson author runs it: the lab server plus Astro's dev
 * server, which serves the lessons live and forwards the API and the
 * terminal's WebSocket to the lab server, whose Origin and session checks
 * still apply through it.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../../cluster/src/paths.ts';
import { freePort } from '../support/ports.ts';
import { onTestCluster, type Running, runEntry } from '../support/process.ts';
import { Client } from '../support/server.ts';
import { isRefusal, TerminalClient } from '../support/terminal-client.ts';

const ADMIN_TOKEN = 'dev-test-admin-token-0123456789';
const CLUSTER_NAME = `cdl-dev-${process.pid}`;

describe('npm run dev', () => {
  let running: Running;
  let port = 0;
  let devOrigin = '';
  let learner: Client;

  beforeAll(async () => {
    port = await freePort();
    const devPort = await freePort();
    devOrigin = `http://localhost:${devPort}`;
    running = await runEntry({
      script: 'scripts/dev.ts',
      port,
      readyUrl: `http://127.0.0.1:${devPort}/`,
      timeoutMs: 90_000,
      env: {
        PORT: String(port),
        DEV_PORT: String(devPort),
        ...onTestCluster(inject('kubeconfig'), CLUSTER_NAME, ADMIN_TOKEN),
      },
    });
    learner = new Client(devOrigin);
  }, 120_000);

  afterAll(async () => {
    const id = learner && (await learner.get('/api/session')).body.id;
    if (id) await new Client(`http://localhost:${port}`, { authorization: `Bearer ${ADMIN_TOKEN}` }).delete(`/api/admin/sessions/${id}`);
    await running?.stop();
    rmSync(join(projectRoot, '.cluster', CLUSTER_NAME), { recursive: true, force: true });
    rmSync(join(projectRoot, '.cluster', `active-${CLUSTER_NAME}.json`), { force: true });
    if (running?.child.pid) rmSync(join(tmpdir(), `cdl-terminals-${running.child.pid}-${port}`), { recursive: true, force: true });
  });

  it('serves a lesson from its sources, beside its terminal', async () => {
    const page = await fetch(`${devOrigin}/lessons/getting-started/first-deployment/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<cdl-terminal lab="first-deployment"');
    expect(html).toContain('data-step="deploy"');
    expect(running.output()).toContain(`is ready in`);
  });

  it('forwards the API and the terminal to the lab server, whose checks still apply', { timeout: 60_000 }, async () => {
    const session = await learner.post('/api/session');
    expect(session.status).toBe(201);
    expect(session.body.mode).toBe('single');

    const url = `ws://localhost:${new URL(devOrigin).port}/api/terminal?lab=first-deployment`;
    const crossSite = await TerminalClient.open(url, { origin: 'https://evil.example', cookie: learner.cookie });
    expect(isRefusal(crossSite) && crossSite.status).toBe(403);
    const noSession = await TerminalClient.open(url, { origin: devOrigin });
    expect(isRefusal(noSession) && noSession.status).toBe(401);

    const terminal = await TerminalClient.open(url, { origin: devOrigin, cookie: learner.cookie });
    if (isRefusal(terminal)) throw new Error(`terminal refused: ${terminal.status} ${terminal.body}`);
    try {
      await terminal.waitFor(/\$ $/m, 20_000);
      expect(await terminal.run('kubectl auth can-i create pods --namespace kube-system')).toMatch(/^no\r?$/m);
    } finally {
      await terminal.close();
    }
  });
});
