/**
 * A server killed with SIGKILL in the middle of starting, resetting or
 * solving a lab, until twelve kills have landed while a request ran, on the real cluster: `npm start`'s server
 * as a real process (without the site build), killed at random moments
 * while a learner's request runs and started again each time. Afterwards
 * every lab works (its namespaces exist, its checks run, its solution
 * applies and passes) and no step passed before the kills was lost.
 */

import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../../cluster/src/paths.ts';
import { defaultNamespace, type SandboxNamespaces } from '../../contract/sandbox.ts';
import { testKubeConfig } from '../support/kube.ts';
import { freePort } from '../support/ports.ts';
import { onTestCluster, type Running, runEntry } from '../support/process.ts';
import { Client } from '../support/server.ts';

const ADMIN_TOKEN = 'crash-test-admin-token-0123456789';
const CLUSTER_NAME = `cdl-crash-${process.pid}`;
/** Kills that land while the request runs, and a bound on kills in all (a kill may land after the answer). */
const MID_ACTION_KILLS = 12;
const MAX_KILLS = 40;
/** Two labs: one without setup objects, one with (a kill may land half way through applying them). */
const LABS = ['first-deployment', 'secrets-least-read'] as const;
/** Each action, and a first time within which a kill is likely to land while it runs (shortened to the answer's time when the answer came first). */
const ACTIONS = [
  ['start', 1000],
  ['reset', 2000],
  ['solve', 400],
] as const;
/** Node's compile cache, so that each of the many starts does not parse every module again. */
const COMPILE_CACHE = join(tmpdir(), `cdl-crash-compile-cache-${process.pid}`);

const core = testKubeConfig().makeApiClient(CoreV1Api);

function start(port: number): Promise<Running> {
  return runEntry({
    script: 'test/support/platform-entry.ts',
    port,
    env: { PORT: String(port), NODE_COMPILE_CACHE: COMPILE_CACHE, ...onTestCluster(inject('kubeconfig'), CLUSTER_NAME, ADMIN_TOKEN) },
  });
}

async function namespaceLive(name: string): Promise<boolean> {
  const ns = await core.readNamespace({ name }).catch(() => undefined);
  return ns !== undefined && ns.status?.phase !== 'Terminating';
}

describe('a server killed mid-action, again and again', () => {
  const started: Running[] = [];
  let port = 0;

  afterAll(async () => {
    await Promise.all(started.map((running) => running.stop('SIGKILL')));
    rmSync(join(projectRoot, '.cluster', CLUSTER_NAME), { recursive: true, force: true });
    rmSync(join(projectRoot, '.cluster', `active-${CLUSTER_NAME}.json`), { force: true });
    rmSync(COMPILE_CACHE, { recursive: true, force: true });
    for (const running of started) {
      rmSync(join(tmpdir(), `cdl-terminals-${running.child.pid}-${port}`), { recursive: true, force: true });
    }
  });

  it('leaves every lab working and every pass kept', { timeout: 360_000 }, async () => {
    port = await freePort();
    let server = await start(port);
    started.push(server);
    const origin = `http://localhost:${port}`;
    const learner = new Client(origin);
    const admin = new Client(origin, { authorization: `Bearer ${ADMIN_TOKEN}` });
    const session = (await learner.post('/api/session')).body.id as string;
    try {
      // Progress to keep: the first lab's first step passed.
      expect((await learner.post('/api/labs/first-deployment/start')).status).toBe(201);
      expect((await learner.post('/api/labs/first-deployment/solve')).status).toBe(200);
      expect((await learner.post('/api/labs/first-deployment/steps/deploy/check')).body.passed).toBe(true);
      const passedAt = (await learner.get('/api/labs/first-deployment')).body.progress.steps[0].passedAt as string;
      expect(passedAt).toBeTruthy();

      const log: string[] = [];
      const within = new Map<string, number>(ACTIONS);
      let midAction = 0;
      for (let kill = 0; kill < MAX_KILLS && midAction < MID_ACTION_KILLS; kill += 1) {
        const lab = LABS[Math.floor(Math.random() * LABS.length)];
        const [action] = ACTIONS[Math.floor(Math.random() * ACTIONS.length)] ?? ACTIONS[0];
        const sent = Date.now();
        let answered: { status: number; after: number } | undefined;
        const request = learner.post(`/api/labs/${lab}/${action}`).then(
          (answer) => {
            answered = { status: answer.status, after: Date.now() - sent };
          },
          () => undefined,
        );
        const after = Math.floor(Math.random() * (within.get(action) ?? 1000));
        await sleep(after);
        if (answered === undefined) {
          midAction += 1;
          log.push(`${action} ${lab}: killed after ${after} ms mid-action`);
        } else {
          // This machine answers faster than the window assumed: aim within the answer's time next.
          within.set(action, Math.max(20, answered.after));
          log.push(`${action} ${lab}: killed after ${after} ms (answered ${answered.status} after ${answered.after} ms)`);
        }
        await server.stop('SIGKILL');
        await request;
        server = await start(port);
        started.push(server);
      }
      expect(midAction, log.join('\n')).toBeGreaterThanOrEqual(MID_ACTION_KILLS);

      for (const lab of LABS) {
        const begun = await learner.post(`/api/labs/${lab}/start`);
        expect([200, 201], `${lab}: ${JSON.stringify(begun.body)}\n${log.join('\n')}`).toContain(begun.status);
        for (const { namespace } of begun.body.namespaces as SandboxNamespaces) {
          expect(await namespaceLive(namespace), `${lab}: ${namespace} exists`).toBe(true);
        }
        // The learner's own credentials work in the sandbox (its binding is there too).
        const own = new KubeConfig();
        own.loadFromString((await learner.get(`/api/labs/${lab}/kubeconfig`)).body);
        const namespace = defaultNamespace(begun.body.namespaces as SandboxNamespaces) ?? '';
        await expect(own.makeApiClient(CoreV1Api).listNamespacedPod({ namespace })).resolves.toBeDefined();

        const steps = (await learner.get(`/api/labs/${lab}`)).body.progress.steps as Array<{ id: string }>;
        for (const step of steps) {
          const checked = await learner.post(`/api/labs/${lab}/steps/${step.id}/check`);
          expect(checked.status, `${lab}/${step.id}: ${JSON.stringify(checked.body)}`).toBe(200);
        }
        const solved = await learner.post(`/api/labs/${lab}/solve`);
        expect(solved.status, `${lab}: ${JSON.stringify(solved.body)}`).toBe(200);
        const first = steps[0]?.id ?? '';
        const passing = await learner.post(`/api/labs/${lab}/steps/${first}/check`);
        expect(passing.body.passed, `${lab}/${first}: ${JSON.stringify(passing.body)}`).toBe(true);
      }
      const kept = (await learner.get('/api/labs/first-deployment')).body.progress.steps[0];
      expect(kept.passedAt, 'the pass from before the kills is kept').toBe(passedAt);
      const row = (await admin.get('/api/admin/progress')).body.learners.find((l: { id: string }) => l.id === session);
      expect(row.labs['first-deployment'].steps[0].passedAt).toBe(passedAt);
    } finally {
      await admin.delete(`/api/admin/sessions/${session}`);
    }
  });
});
