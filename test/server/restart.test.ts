/**
 * The server keeps nothing that matters in its own memory: `npm start`'s
 * entry, run as a real process on the test cluster (through the external
 * provider), is killed with SIGKILL mid-workshop and started again, and the
 * learner's session, its sandbox and its progress are all still there.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../../cluster/src/paths.ts';
import { freePort } from '../support/ports.ts';
import { onTestCluster, type Running, runEntry } from '../support/process.ts';
import { Client } from '../support/server.ts';

const ADMIN_TOKEN = 'restart-test-admin-token-0123456789';
const CLUSTER_NAME = `cdl-restart-${process.pid}`;

function start(port: number): Promise<Running> {
  return runEntry({
    script: 'scripts/serve.ts',
    port,
    env: { PORT: String(port), ...onTestCluster(inject('kubeconfig'), CLUSTER_NAME, ADMIN_TOKEN) },
  });
}

describe('a server killed and started again', () => {
  const started: Running[] = [];
  let port = 0;

  afterAll(async () => {
    await Promise.all(started.map((running) => running.stop('SIGKILL')));
    rmSync(join(projectRoot, '.cluster', CLUSTER_NAME), { recursive: true, force: true });
    rmSync(join(projectRoot, '.cluster', `active-${CLUSTER_NAME}.json`), { force: true });
    for (const running of started) {
      rmSync(join(tmpdir(), `cdl-terminals-${running.child.pid}-${port}`), { recursive: true, force: true });
    }
  });

  it('still has every session, its sandbox and its progress', { timeout: 180_000 }, async () => {
    port = await freePort();
    // The bundle's compiled code is written once the server is ready, not at exit: a server killed later has left it.
    const compileCache = join(projectRoot, '.build', 'compile-cache');
    rmSync(compileCache, { recursive: true, force: true });
    const first = await start(port);
    started.push(first);
    await expect
      .poll(() => readdirSync(compileCache, { recursive: true }).filter((f) => statSync(join(compileCache, String(f))).isFile()).length, {
        timeout: 10_000,
      })
      .toBeGreaterThan(0);
    const origin = `http://localhost:${port}`;
    const learner = new Client(origin);
    const admin = new Client(origin, { authorization: `Bearer ${ADMIN_TOKEN}` });

    const session = await learner.post('/api/session');
    expect(session.status).toBe(201);
    try {
      expect((await learner.post('/api/labs/first-deployment/start')).status).toBe(201);
      const failing = await learner.post('/api/labs/first-deployment/steps/deploy/check');
      expect(failing.body.passed).toBe(false);
      expect((await learner.post('/api/labs/first-deployment/solve')).status).toBe(200);
      const passing = await learner.post('/api/labs/first-deployment/steps/deploy/check');
      expect(passing.body.passed, JSON.stringify(passing.body)).toBe(true);
      const before = (await learner.get('/api/labs/first-deployment')).body;

      await first.stop('SIGKILL');
      expect(first.child.signalCode).toBe('SIGKILL');
      started.push(await start(port));

      const again = await learner.get('/api/session');
      expect(again.status, 'the same cookie still opens the same session').toBe(200);
      expect(again.body.id).toBe(session.body.id);
      const after = (await learner.get('/api/labs/first-deployment')).body;
      expect(after.progress).toEqual(before.progress);
      expect(after.progress.passed).toBe(1);
      expect(after.namespaces).toEqual(before.namespaces);
      // The sandbox is still there and still graded the same.
      expect((await learner.post('/api/labs/first-deployment/steps/deploy/check')).body.passed).toBe(true);
      const row = (await admin.get('/api/admin/progress')).body.learners.find((l: { id: string }) => l.id === session.body.id);
      expect(row.labs['first-deployment'].steps[0].passedAt).toBeTruthy();
    } finally {
      await admin.delete(`/api/admin/sessions/${session.body.id}`);
    }
  });
});
