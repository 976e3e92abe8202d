/**
 * The local cluster's real node, on a cluster of its own that has the
 * machine to itself (it runs after the suite's shared cluster is gone: one
 * real node per machine, scripts/test.ts), forced on so that a machine that cannot run it fails
 * here with the reason instead of skipping: real containers run and log,
 * exec reaches them through the API server, a memory limit ends in
 * OOMKilled, a learner's pod of a lab that needs containers lands there by
 * its namespace alone; a second cluster on `auto` starts without one and says why;
 * after kill -9 of every process, `up` brings it back; and
 * `down` leaves the host as it found it: no process, mount, link, iptables
 * rule or cgroup of the node's.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, NetworkingV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cluster/src/cli.ts';
import { kubeConfigFromString, loadKubeConfig, waitFor } from '../../cluster/src/kube.ts';
import { ensureBinaries } from '../../cluster/src/local/binaries.ts';
import { IMAGE_REFS } from '../../cluster/src/local/images.ts';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import { REAL_NODE_LABEL, REAL_NODE_NAME, REAL_NODE_TAINT } from '../../cluster/src/local/real-node.ts';
import { hostNames, nodeLayout } from '../../cluster/src/local/real-node-config.ts';
import { cgroupMounts, nodeProcesses, STRAY_FOLDERS } from '../../cluster/src/local/real-node-host.ts';
import { KERNEL_TUNABLES, mountsUnder, parseIptablesSave } from '../../cluster/src/local/real-node-host-state.ts';
import { stateDir } from '../../cluster/src/paths.ts';
import { createApp } from '../../labs-server/src/app.ts';
import { Sandboxes } from '../../labs-server/src/sandbox/provision.ts';
import { ensureCrd } from '../../labs-server/src/sessions/crd.ts';
import { SessionStore } from '../../labs-server/src/sessions/store.ts';

const run = promisify(execFile);
const NAME = 'rn-real-node';
const provider = new LocalProvider({ clusterName: NAME, realNode: 'on' });
const layout = nodeLayout(stateDir(NAME));
const names = hostNames(NAME);
const log: string[] = [];
let kubectl = '';

/** What of the host the node touches, as comparable text: rules and user chains of both families, links, mounts, cgroups. */
async function hostSnapshot() {
  const rules: string[] = [];
  for (const family of ['iptables', 'ip6tables']) {
    const saved = await run(`${family}-save`).catch(() => ({ stdout: '' }));
    for (const table of parseIptablesSave(saved.stdout)) {
      for (const chain of table.chains)
        if (!/^[A-Z]+$/.test(chain) || chain.startsWith('KUBE')) rules.push(`${family} ${table.name} :${chain}`);
      for (const rule of table.rules) rules.push(`${family} ${table.name} -A ${rule.chain} ${rule.spec}`);
    }
  }
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
  const mounts = mountsUnder(readFileSync('/proc/self/mountinfo', 'utf8'), [stateDir(NAME)]);
  const cgroups = (await cgroupMounts()).map((m) => join(m, names.cgroupRoot)).filter((dir) => existsSync(dir));
  const processes = nodeProcesses(layout.dir, names.cgroupRoot).map((p) => p.pid);
  const kernel = KERNEL_TUNABLES.map((key) => `${key}=${readFileSync(join('/proc/sys', key), 'utf8').trim()}`);
  const folders = STRAY_FOLDERS.filter((folder) => existsSync(folder));
  const ipsets = (await run('ipset', ['list', '-n']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean).sort();
  return { rules: rules.sort(), links, mounts, cgroups, processes, kernel, folders, ipsets };
}

let before: Awaited<ReturnType<typeof hostSnapshot>>;

/** `npm run cluster -- <args>` on this file's cluster. */
async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const env = { ...process.env, CDL_PROVIDER: 'local', CDL_CLUSTER_NAME: NAME };
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  return { code, stdout, stderr };
}

const kc = () => loadKubeConfig(provider.kubeconfig);
const core = () => kc().makeApiClient(CoreV1Api);

function realPod(name: string, container: V1Container, restartPolicy = 'Never'): V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy,
      nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
      tolerations: [{ key: REAL_NODE_TAINT.key, operator: 'Exists', effect: REAL_NODE_TAINT.effect }],
      containers: [{ imagePullPolicy: 'IfNotPresent', ...container }],
    },
  };
}

/** The lab server's /healthz for a provider's cluster, from an app of its own. */
async function healthz(cluster: LocalProvider) {
  const server = createApp({ cluster, logger: pino({ level: 'silent' }) }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    return (await response.json()) as { cluster: { state: string; detail: string; capabilities: Record<string, boolean> } };
  } finally {
    server.close();
  }
}

async function podPhase(name: string): Promise<V1Pod> {
  return core().readNamespacedPod({ name, namespace: 'default' });
}

async function waitRunning(name: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(`${name} to run`, async () => (await podPhase(name)).status?.phase === 'Running', timeoutMs, 250);
}

beforeAll(async () => {
  before = await hostSnapshot();
  kubectl = (await ensureBinaries({ log: () => {} })).kubectl;
  // Forced on: a machine that cannot run the node fails here, with the reason.
  const status = await provider.up((line) => log.push(line));
  expect(status.state, `${status.detail}\n${log.join('\n')}`).toBe('running');
  await waitFor(
    'the default ServiceAccount',
    async () => {
      await core().readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      return true;
    },
    15_000,
  );
}, 1_200_000);

afterAll(async () => {
  await provider.down(() => {});
}, 120_000);

describe('the real node', () => {
  it('runs beside the seven simulated nodes, tainted, and status says containers run', async () => {
    const status = await provider.status();
    expect(status.detail).toMatch(/8\/8 nodes Ready; running: 9 of 9 processes \(.*containerd, kubelet, kube-proxy, kube-router\)/);
    expect(status.runsContainers).toBe(true);
    expect(status.realNode).toBeUndefined();
    expect(provider.capabilities.runsContainers).toBe(true);
    const node = await core().readNode({ name: REAL_NODE_NAME });
    expect(node.spec?.taints).toContainEqual({ ...REAL_NODE_TAINT });
    expect(node.metadata?.annotations?.['kwok.x-k8s.io/node'], 'kwok must not take it over').toBeUndefined();
    expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).toMatch(/^10\.8[89]\.\d+\.1$/);
  });

  it('reports in /healthz that containers run', async () => {
    const health = await healthz(provider);
    expect(health.cluster).toMatchObject({ state: 'running', capabilities: { runsContainers: true } });
  });

  it('is one per machine: a second cluster on auto starts without one, says why in one line, and /healthz says so', {
    timeout: 120_000,
  }, async () => {
    const second = new LocalProvider({ clusterName: `${NAME}-2`, realNode: 'auto' });
    const lines: string[] = [];
    try {
      const status = await second.up((line) => lines.push(line));
      expect(status.state, status.detail).toBe('running');
      expect(status.runsContainers).toBe(false);
      const why = lines.filter((line) => line.startsWith('No real node'));
      expect(why).toEqual([expect.stringContaining(`the real node of the cluster "${NAME}" runs on this machine`)]);
      const health = await healthz(second);
      expect(health.cluster).toMatchObject({ state: 'running', capabilities: { runsContainers: false } });
      expect(health.cluster.detail).toMatch(/containers do not run: the real node cannot run here: the real node of the cluster/);
    } finally {
      await second.down(() => {});
    }
    // The second cluster's down left this one's node alone.
    expect((await provider.status()).runsContainers).toBe(true);
  });

  it('keeps ordinary pods on the simulated nodes', async () => {
    await core().createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'ordinary' }, spec: { containers: [{ name: 'app', image: IMAGE_REFS.busybox }] } },
    });
    await waitFor('ordinary to be scheduled', async () => Boolean((await podPhase('ordinary')).spec?.nodeName), 20_000);
    expect((await podPhase('ordinary')).spec?.nodeName).not.toBe(REAL_NODE_NAME);
  });

  it('runs a real container whose output the API server reads back, execs into it, and limits its pids', async () => {
    const command = ['sh', '-c', 'echo "hello from $(hostname)"; exec sleep 3600'];
    const pod = realPod('hello', { name: 'app', image: IMAGE_REFS.busybox, command }, 'Always');
    await core().createNamespacedPod({ namespace: 'default', body: pod });
    await waitRunning('hello');
    await waitFor(
      'the log line',
      async () => (await core().readNamespacedPodLog({ name: 'hello', namespace: 'default' })).includes('hello from hello'),
      10_000,
    );
    const exec = await run(kubectl, ['--kubeconfig', provider.kubeconfig, 'exec', 'hello', '--', 'sh', '-c', 'echo $((6 * 7)) $(id -u)']);
    expect(exec.stdout.trim()).toBe('42 0');
    // The kubelet's pids limit, on the pod's cgroup (a BestEffort pod), in whichever hierarchy has the pids controller.
    const uid = (await podPhase('hello')).metadata?.uid ?? '';
    const limits = (await cgroupMounts())
      .map((mount) => join(mount, names.cgroupRoot, 'kubepods', 'besteffort', `pod${uid}`, 'pids.max'))
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file, 'utf8').trim());
    expect(limits).toEqual(['1024']);
  });

  it("runs a learner's pod of a lab that needs containers there, placed by its namespace, in the learner's identity", async () => {
    const admin = kc();
    await ensureCrd(admin);
    const sandboxes = new Sandboxes(admin, undefined, provider.containerNodes);
    await sandboxes.ensureSystemNamespace();
    const store = new SessionStore(admin, { ttlMs: 600_000 });
    const { session } = await store.create('real node learner');
    const [ns] = await sandboxes.provision(session, 'real-containers', [{ name: 'app' }], { containers: true });
    const { token } = await sandboxes.issueToken(session, 600);
    const learner = kubeConfigFromString(sandboxes.learnerKubeconfig(token, ns?.namespace ?? '')).makeApiClient(CoreV1Api);
    const namespace = ns?.namespace ?? '';
    // No selector, no toleration, a limit of memory as the sandbox's LimitRange asks: the namespace does the rest.
    await learner.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'mine' },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'app',
              image: IMAGE_REFS.busybox,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', 'echo ran on a real node; sleep 600'],
            },
          ],
        },
      },
    });
    await waitFor(
      'the learner pod to run',
      async () => (await learner.readNamespacedPod({ name: 'mine', namespace })).status?.phase === 'Running',
      60_000,
    );
    const placed = await learner.readNamespacedPod({ name: 'mine', namespace });
    expect(placed.spec?.nodeName).toBe(REAL_NODE_NAME);
    await waitFor(
      'its log',
      async () => (await learner.readNamespacedPodLog({ name: 'mine', namespace })).includes('ran on a real node'),
      10_000,
    );
    await store.end(session.metadata.name);
  });

  it('enforces a memory limit: the container is OOMKilled', async () => {
    const pod = realPod('oom', {
      name: 'app',
      image: IMAGE_REFS.demoApp,
      env: [{ name: 'ALLOC_MB', value: '200' }],
      resources: { limits: { memory: '64Mi' } },
    });
    await core().createNamespacedPod({ namespace: 'default', body: pod });
    await waitFor('oom to end', async () => Boolean((await podPhase('oom')).status?.containerStatuses?.[0]?.state?.terminated), 60_000);
    const terminated = (await podPhase('oom')).status?.containerStatuses?.[0]?.state?.terminated;
    expect(terminated?.reason).toBe('OOMKilled');
    expect(terminated?.exitCode).toBe(137);
  });

  it('comes back on up after kill -9 of every process, with its pods', { timeout: 240_000 }, async () => {
    const pids = [...(await provider.livePids()).map((p) => p.pid), ...nodeProcesses(layout.dir, names.cgroupRoot).map((p) => p.pid)];
    expect(pids.length).toBeGreaterThan(8);
    for (const pid of new Set(pids)) process.kill(pid, 'SIGKILL');
    await waitFor('every process to exit', async () => nodeProcesses(layout.dir, names.cgroupRoot).length === 0, 10_000, 100);
    const degraded = await provider.status();
    expect(degraded.state).toBe('degraded');
    expect(degraded.runsContainers).toBe(false);
    expect(degraded.detail).toMatch(/^etcd, .*containerd, kubelet, kube-proxy and kube-router not running; /);
    expect(degraded.realNode).toBe('the real node is down (containerd, kubelet, kube-proxy and kube-router not running)');

    // Through the CLI, whose flag outranks CDL_REAL_NODE=off of the test run (vitest.config.ts).
    expect(process.env.CDL_REAL_NODE).toBe('off');
    const { code, stdout, stderr } = await cli('up', '--real-node');
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^running: .*8\/8 nodes Ready; running: 9 of 9 processes/);
    expect(stderr).toContain(
      'Restarting etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller, containerd, kubelet, kube-proxy, kube-router…',
    );
    expect((await provider.status()).runsContainers).toBe(true);
    // The new kubelet starts the pod bound to it again, in a new sandbox.
    await waitFor(
      'exec to work again',
      async () => {
        const exec = await run(kubectl, ['--kubeconfig', provider.kubeconfig, 'exec', 'hello', '--', 'echo', 'back']).catch(() => ({
          stdout: '',
        }));
        return exec.stdout.trim() === 'back';
      },
      60_000,
      1000,
    );
  });

  it('down leaves nothing behind: processes, mounts, links, iptables rules, ipsets, cgroups, kernel settings, folders', {
    timeout: 120_000,
  }, async () => {
    // A policy, so that the NetworkPolicy firewall has sets of pods to clean up.
    const policy = {
      metadata: { name: 'web-from-clients' },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Ingress'],
        ingress: [{ _from: [{ podSelector: { matchLabels: { role: 'client' } } }] }],
      },
    };
    await kc().makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({ namespace: 'default', body: policy });
    await waitFor('the firewall to make its sets', async () => (await hostSnapshot()).ipsets.length > before.ipsets.length, 30_000);
    const during = await hostSnapshot();
    expect(during.processes.length).toBeGreaterThan(3);
    expect(during.mounts.length).toBeGreaterThan(0);
    expect(during.links).toContain(names.bridge);
    expect(during.rules.length).toBeGreaterThan(before.rules.length);
    expect(during.cgroups.length).toBeGreaterThan(0);

    const down = await cli('down');
    expect(down.code, down.stderr).toBe(0);
    const after = await hostSnapshot();
    expect(after.processes).toEqual([]);
    expect(after.mounts).toEqual([]);
    expect(after.links).toEqual(before.links);
    expect(after.rules).toEqual(before.rules);
    expect(after.ipsets).toEqual(before.ipsets);
    expect(after.cgroups).toEqual([]);
    expect(after.kernel, 'the kernel settings the kubelet changed are put back').toEqual(before.kernel);
    // Folders outside the cluster's that its programs made: none is left that was not there before (an empty one may go).
    expect(after.folders.filter((folder) => !before.folders.includes(folder))).toEqual([]);
    expect(existsSync(stateDir(NAME))).toBe(false);
    const status = await provider.status();
    expect(status.state).toBe('stopped');
    expect(status.runsContainers).toBe(false);
  });
});
