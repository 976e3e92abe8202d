/**
 * A control plane that lost a process must not pass for a running one. On a
 * local cluster of its own (the other cluster tests share theirs in
 * parallel), each process is killed in turn with SIGKILL, as the kernel or a
 * lost leader lease would end it, and for each: the status says degraded and
 * names it, the lab server's /healthz answers 503, `up` restarts that process
 * alone, and the cluster works again (its Deployment grows by one pod,
 * created, scheduled onto a simulated node and Running, in the same etcd).
 * Last, every process at once, as after a reboot.
 */
import type { Server } from 'node:http';
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cluster/src/cli.ts';
import { processAlive } from '../../cluster/src/exec.ts';
import { loadKubeConfig, waitFor } from '../../cluster/src/kube.ts';
import { CONTROL_PLANE } from '../../cluster/src/local/control-plane.ts';
import { NODE_SPECS } from '../../cluster/src/local/nodes.ts';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import type { ComponentStatus } from '../../cluster/src/provider.ts';
import { createApp } from '../../labs-server/src/app.ts';
import { createTestNamespace } from '../support/kube.ts';
import { freePort } from '../support/ports.ts';

const NAME = 'cdl-degraded';
const env = { ...process.env, CDL_PROVIDER: 'local', CDL_CLUSTER_NAME: NAME };
const provider = new LocalProvider({ clusterName: NAME });
const ALL: readonly string[] = CONTROL_PLANE;
const SIMULATED_NODES = new Set(NODE_SPECS.map((n) => n.name));

let kc: KubeConfig;
let namespace = '';
let deploymentUid: string | undefined;
let server: Server | undefined;
let baseUrl = '';
const repairs: string[] = [];

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  return { code, stdout, stderr };
}

async function healthz() {
  const response = await fetch(`${baseUrl}/healthz`);
  return { status: response.status, body: (await response.json()) as { ok: boolean; cluster: { state: string; detail: string } } };
}

function pids(components: readonly ComponentStatus[] | undefined): Record<string, number | undefined> {
  return Object.fromEntries((components ?? []).map((c) => [c.name, c.pid]));
}

/** Sets the Deployment's replicas and waits until that many of its pods are Running on simulated nodes. */
async function scaleAndWait(replicas: number): Promise<void> {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  await apps.patchNamespacedDeploymentScale({ name: 'web', namespace, body: [{ op: 'replace', path: '/spec/replicas', value: replicas }] });
  await waitFor(
    `${replicas} Running pods on simulated nodes`,
    async () => {
      const pods = (await core.listNamespacedPod({ namespace, labelSelector: 'app=web' })).items;
      const running = pods.filter((p) => p.status?.phase === 'Running' && SIMULATED_NODES.has(p.spec?.nodeName ?? ''));
      return running.length === replicas;
    },
    60_000,
  );
}

beforeAll(async () => {
  const status = await provider.up(() => {});
  expect(status.state, status.detail).toBe('running');
  kc = loadKubeConfig(provider.kubeconfig);
  namespace = await createTestNamespace(kc, 'degraded');
  const labels = { app: 'web' };
  const created = await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } },
      },
    },
  });
  deploymentUid = created.metadata?.uid;
  await scaleAndWait(1);
  const port = await freePort();
  server = createApp({ cluster: provider, logger: pino({ level: 'silent' }) }).listen(port, '127.0.0.1');
  await new Promise((resolve) => server?.once('listening', resolve));
  baseUrl = `http://127.0.0.1:${port}`;
}, 240_000);

afterAll(async () => {
  server?.close();
  // Through the CLI, as `up` was, so that its record of this cluster goes too.
  const down = await cli('down');
  expect(down.code, down.stderr).toBe(0);
  if (repairs.length > 0) process.stderr.write(`[degraded] repair times: ${repairs.join(', ')}\n`);
}, 120_000);

describe('a local control plane', () => {
  it('counts and names all five processes while it runs, and /healthz says so', async () => {
    const text = await cli('status');
    expect(text.code, text.stdout).toBe(0);
    expect(text.stdout).toContain(`running: 5 of 5 processes (${ALL.join(', ')})`);

    const json = await cli('status', '--json');
    const status = JSON.parse(json.stdout) as { state: string; components: ComponentStatus[] };
    expect(status.state).toBe('running');
    expect(status.components.map((c) => c.name)).toEqual(ALL);
    expect(status.components.every((c) => c.running && Number.isInteger(c.pid))).toBe(true);

    const health = await healthz();
    expect(health.status).toBe(200);
    expect(health.body.ok).toBe(true);
  });

  // The order goes from what the review saw (a scheduler and a controller
  // manager gone while the API server answers) to the processes under them.
  const order = ['kube-scheduler', 'kube-controller-manager', 'kwok-controller', 'kube-apiserver', 'etcd'];
  it('kills every component in this test, each once', () => {
    expect([...order].sort()).toEqual([...ALL].sort());
  });

  for (const [round, component] of order.entries()) {
    it(`without ${component}: says degraded and names it, /healthz is 503, up restarts only it, and pods get scheduled`, async () => {
      const before = await provider.status();
      expect(before.state, before.detail).toBe('running');
      const victim = before.components?.find((c) => c.name === component)?.pid;
      expect(victim).toBeGreaterThan(0);
      process.kill(victim ?? 0, 'SIGKILL');
      await waitFor(`${component} to exit`, async () => !processAlive(victim ?? 0), 5_000, 50);

      const text = await cli('status');
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(new RegExp(`^local: degraded: ${component} not running; `));
      expect(text.stdout).toContain(`running: 4 of 5 processes (${ALL.filter((n) => n !== component).join(', ')})`);
      const json = JSON.parse((await cli('status', '--json')).stdout) as { state: string; components: ComponentStatus[] };
      expect(json.state).toBe('degraded');
      expect(json.components.filter((c) => !c.running).map((c) => c.name)).toEqual([component]);

      const health = await healthz();
      expect(health.status).toBe(503);
      expect(health.body.ok).toBe(false);
      expect(health.body.cluster).toMatchObject({ state: 'degraded', detail: expect.stringContaining(`${component} not running`) });

      const started = Date.now();
      const up = await cli('up');
      const took = Date.now() - started;
      repairs.push(`${component} ${(took / 1000).toFixed(1)} s`);
      expect(up.code, up.stderr).toBe(0);
      expect(up.stderr).toContain(`Restarting ${component}…`);
      expect(up.stdout).toMatch(/^running: Kubernetes v1\.36\.\d+, 7\/7 nodes Ready; running: 5 of 5 processes/);

      const after = await provider.status();
      expect(after.state, after.detail).toBe('running');
      const [old, now] = [pids(before.components), pids(after.components)];
      expect(now[component]).not.toBe(old[component]);
      expect({ ...now, [component]: 'restarted' }).toEqual({ ...old, [component]: 'restarted' });
      expect((await healthz()).status).toBe(200);

      // The same Deployment (etcd kept its data) grows by one pod: the
      // controller manager creates it, the scheduler places it, kwok runs it.
      const deployment = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'web', namespace });
      expect(deployment.metadata?.uid).toBe(deploymentUid);
      await scaleAndWait(round + 2);
    }, 180_000);
  }

  it('without any process (as after a reboot): names all five, and up brings the same cluster back', async () => {
    const before = await provider.status();
    expect(before.state, before.detail).toBe('running');
    for (const { pid } of before.components ?? []) process.kill(pid ?? 0, 'SIGKILL');
    await waitFor('every process to exit', async () => (before.components ?? []).every((c) => !processAlive(c.pid ?? 0)), 5_000, 50);

    const text = await cli('status');
    expect(text.code).toBe(1);
    expect(text.stdout).toBe(
      'local: degraded: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok-controller not running; running: 0 of 5 processes\n',
    );
    expect((await healthz()).status).toBe(503);

    const started = Date.now();
    const up = await cli('up');
    repairs.push(`all five ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain(`Restarting ${ALL.join(', ')}…`);
    expect(up.stderr).not.toContain('starting a fresh one');
    expect((await healthz()).status).toBe(200);
    const deployment = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'web', namespace });
    expect(deployment.metadata?.uid).toBe(deploymentUid);
    await scaleAndWait(order.length + 2);
  }, 180_000);
});
