import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ClusterError } from '../../cluster/src/errors.ts';
import { ExternalProvider } from '../../cluster/src/external/provider.ts';
import { KIND_CONFIG, kindCommands } from '../../cluster/src/kind/provider.ts';
import {
  assess,
  CONTROL_PLANE,
  canServe,
  inspectControlPlane,
  missingPhrase,
  parsePid,
  pidFile,
  processesPhrase,
  runsBinary,
} from '../../cluster/src/local/control-plane.ts';
import { FARGATE_TAINT, NODE_SPECS, nodeObject, ZONES } from '../../cluster/src/local/nodes.ts';
import { kwokctlConfig } from '../../cluster/src/local/provider.ts';
import { chooseProvider, parseProviderName } from '../../cluster/src/select.ts';

const bins = {
  kubeApiserver: '/c/a',
  kubeControllerManager: '/c/cm',
  kubeScheduler: '/c/s',
  kubectl: '/c/k',
  etcd: '/c/e',
  kwok: '/c/kw',
  kwokctl: '/c/kc',
};

describe('the local provider', () => {
  it('binds every component to loopback and passes every binary by path', () => {
    const config = JSON.parse(kwokctlConfig(bins));
    expect(config.kind).toBe('KwokctlConfiguration');
    expect(config.options.bindAddress).toBe('127.0.0.1');
    expect(config.options.runtime).toBe('binary');
    // In-cluster clients connect to the kubernetes Service's address: the certificate must name it.
    expect(config.options.kubeApiserverCertSANs).toEqual(['10.0.0.1']);
    expect(config.options).toMatchObject({
      kubeApiserverBinary: '/c/a',
      etcdBinary: '/c/e',
      kwokControllerBinary: '/c/kw',
      kubectlBinary: '/c/k',
    });
  });

  it('runs the controller manager and the scheduler without leader election, which would make them exit under load', () => {
    const { componentsPatches } = JSON.parse(kwokctlConfig(bins));
    const patched = (name: string) => componentsPatches.find((p: { name: string }) => p.name === name)?.extraArgs;
    expect(patched('kube-controller-manager')).toEqual([{ key: 'leader-elect', value: 'false' }]);
    expect(patched('kube-scheduler')).toEqual([{ key: 'leader-elect', value: 'false' }]);
  });

  it("has the API server reach a real node's kubelet by address, with a client certificate, bind labs to it, audit or not", () => {
    const apiserver = (text: string) =>
      JSON.parse(text).componentsPatches.find((p: { name: string }) => p.name === 'kube-apiserver')?.extraArgs as Array<{
        key: string;
        value: string;
      }>;
    expect(apiserver(kwokctlConfig(bins))).toEqual([
      { key: 'kubelet-preferred-address-types', value: 'InternalIP,Hostname' },
      { key: 'service-cluster-ip-range', value: '10.0.0.0/24' },
      { key: 'enable-admission-plugins', value: 'PodNodeSelector,PodTolerationRestriction' },
    ]);
    const full = apiserver(kwokctlConfig(bins, { policy: '/p', log: '/l' }, { cert: '/admin.crt', key: '/admin.key' }));
    expect(full).toContainEqual({ key: 'kubelet-client-certificate', value: '/admin.crt' });
    expect(full).toContainEqual({ key: 'kubelet-client-key', value: '/admin.key' });
    expect(full).toContainEqual({ key: 'audit-log-path', value: '/l' });
  });

  it('simulates nodes in every zone with both architectures and one Fargate-style node', () => {
    const nodes = NODE_SPECS.map(nodeObject);
    for (const zone of ZONES) {
      const archs = nodes
        .filter((n) => n.metadata?.labels?.['topology.kubernetes.io/zone'] === zone && !n.spec?.taints)
        .map((n) => n.metadata?.labels?.['kubernetes.io/arch']);
      expect(archs.sort()).toEqual(['amd64', 'arm64']);
    }
    const tainted = nodes.filter((n) => n.spec?.taints?.length);
    expect(tainted).toHaveLength(1);
    expect(tainted[0]?.spec?.taints).toEqual([FARGATE_TAINT]);
    expect(nodes.every((n) => n.metadata?.annotations?.['kwok.x-k8s.io/node'] === 'fake')).toBe(true);
  });
});

const all = (running: boolean) => CONTROL_PLANE.map((name, i) => ({ name, running, pid: running ? 100 + i : undefined }));
const without = (...names: string[]) => all(true).map((c) => (names.includes(c.name) ? { name: c.name, running: false } : c));
const api = { serverVersion: 'v1.36.3', nodesReady: 7, nodesTotal: 7 };

describe("the local control plane's processes", () => {
  it('expects all five components, each with the pid file kwokctl names after it', () => {
    expect([...CONTROL_PLANE]).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok-controller']);
    expect(pidFile('/c/cdl', 'kwok-controller')).toBe('/c/cdl/pids/kwok-controller.pid');
  });

  it('reads a pid file, and nothing that is not one positive number', () => {
    expect(parsePid('4242')).toBe(4242);
    expect(parsePid('4242\n')).toBe(4242);
    for (const text of ['', '0', '-1', '12abc', '1.5', '42 43', '99999999999']) expect(parsePid(text), text).toBeUndefined();
  });

  it('tells a component from a process that took its number after a crash', () => {
    const cmdline = ['/root/.cache/container-day-labs/bin/kubernetes-v1.36.3/kube-scheduler', '--config=/x/scheduler.yaml', ''].join('\0');
    expect(runsBinary(cmdline, 'kube-scheduler')).toBe(true);
    expect(runsBinary(cmdline, 'kube-apiserver')).toBe(false);
    expect(runsBinary(['/usr/bin/vim', 'kube-scheduler', ''].join('\0'), 'kube-scheduler')).toBe(false);
    expect(runsBinary('', 'kube-scheduler')).toBe(false);
  });

  it('names what runs and what does not', () => {
    expect(processesPhrase(all(true))).toBe(
      'running: 5 of 5 processes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller)',
    );
    expect(processesPhrase(all(false))).toBe('running: 0 of 5 processes');
    expect(missingPhrase(all(true))).toBeUndefined();
    expect(missingPhrase(without('kube-scheduler'))).toBe('kube-scheduler not running');
    expect(missingPhrase(without('kube-controller-manager', 'kube-scheduler'))).toBe(
      'kube-controller-manager and kube-scheduler not running',
    );
    expect(missingPhrase(without('etcd', 'kube-apiserver', 'kwok-controller'))).toBe(
      'etcd, kube-apiserver and kwok-controller not running',
    );
  });

  it('is running only with every process, an answering API server and every node Ready', () => {
    expect(assess({ components: all(true), api })).toEqual({
      state: 'running',
      detail:
        'Kubernetes v1.36.3, 7/7 nodes Ready; running: 5 of 5 processes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller)',
    });
  });

  it('is degraded when a process is missing even though the API server answers, and says which first', () => {
    const { state, detail } = assess({ components: without('kube-scheduler'), api });
    expect(state).toBe('degraded');
    expect(detail).toBe(
      'kube-scheduler not running; Kubernetes v1.36.3, 7/7 nodes Ready; running: 4 of 5 processes (etcd, kube-apiserver, kube-controller-manager, kwok-controller)',
    );
  });

  it('asks the API server only while it and etcd run', () => {
    expect(canServe(all(true))).toBe(true);
    expect(canServe(without('kube-scheduler', 'kwok-controller'))).toBe(true);
    expect(canServe(without('etcd'))).toBe(false);
    expect(canServe(without('kube-apiserver'))).toBe(false);
  });

  it('is degraded when the API server does not answer or a node is not Ready', () => {
    const silent = assess({ components: without('etcd'), api: { error: 'no answer within 5000 ms' } });
    expect(silent.state).toBe('degraded');
    expect(silent.detail).toMatch(/^etcd not running; the API server does not answer \(no answer within 5000 ms\); running: 4 of 5/);
    expect(assess({ components: without('etcd') })).toEqual({
      state: 'degraded',
      detail: 'etcd not running; running: 4 of 5 processes (kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller)',
    });
    const notReady = assess({ components: all(true), api: { ...api, nodesReady: 5 } });
    expect(notReady).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/^2 of 7 nodes not Ready; /) });
    expect(assess({ components: all(true), api: { ...api, nodesReady: 0, nodesTotal: 0 } }).state).toBe('degraded');
  });

  it('finds every component of a cluster folder, running or not, and trusts a pid only for its own binary', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cdl-pids-'));
    try {
      await mkdir(join(dir, 'pids'));
      // This test's own process: alive, but it is node, not etcd.
      await writeFile(join(dir, 'pids', 'etcd.pid'), String(process.pid));
      await writeFile(join(dir, 'pids', 'kube-scheduler.pid'), 'garbage');
      const components = await inspectControlPlane(dir);
      expect(components.map((c) => c.name)).toEqual([...CONTROL_PLANE]);
      expect(components.every((c) => !c.running && c.pid === undefined)).toBe(true);
      expect(await inspectControlPlane(join(dir, 'missing'))).toHaveLength(5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("expects the real node's processes once their pid files exist, like any add-on", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cdl-pids-'));
    try {
      await mkdir(join(dir, 'pids'));
      expect((await inspectControlPlane(dir)).map((c) => c.name)).toEqual([...CONTROL_PLANE]);
      for (const name of ['containerd', 'kubelet', 'kube-proxy']) await writeFile(join(dir, 'pids', `${name}.pid`), '1');
      const components = await inspectControlPlane(dir);
      expect(components.map((c) => c.name)).toEqual([...CONTROL_PLANE, 'containerd', 'kubelet', 'kube-proxy']);
      expect(missingPhrase(components.slice(5))).toBe('containerd, kubelet and kube-proxy not running');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('counts a process as running when it runs the binary its pid file names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cdl-pids-'));
    await mkdir(join(dir, 'pids'));
    await symlink(process.execPath, join(dir, 'kube-scheduler'));
    const child = spawn(join(dir, 'kube-scheduler'), ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      // 'spawn' comes once the exec succeeded, so /proc shows the new command line, not the forked parent's.
      await once(child, 'spawn');
      await writeFile(join(dir, 'pids', 'kube-scheduler.pid'), String(child.pid));
      const components = await inspectControlPlane(dir);
      expect(components.find((c) => c.name === 'kube-scheduler')).toEqual({ name: 'kube-scheduler', running: true, pid: child.pid });
      expect(missingPhrase(components)).toBe('etcd, kube-apiserver, kube-controller-manager and kwok-controller not running');
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the kind provider', () => {
  it('has a config with workers in three zones and a tainted Fargate-style worker', async () => {
    const config = parse(await readFile(KIND_CONFIG, 'utf8'));
    expect(config.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    const workers = config.nodes.filter((n: { role: string }) => n.role === 'worker');
    const zones = new Set(workers.map((w: { labels: Record<string, string> }) => w.labels['topology.kubernetes.io/zone']));
    expect([...zones].sort()).toEqual([...ZONES]);
    const fargate = workers.filter((w: { labels: Record<string, string> }) => w.labels['eks.amazonaws.com/compute-type'] === 'fargate');
    expect(fargate).toHaveLength(1);
    expect(fargate[0].kubeadmConfigPatches[0]).toContain('effect: NoSchedule');
  });

  it('creates and deletes with the project-local kubeconfig, never the default one', () => {
    const commands = kindCommands('cdl', '/repo/.cluster/cdl/kubeconfig');
    for (const args of [commands.create, commands.delete]) {
      expect(args[args.indexOf('--kubeconfig') + 1]).toBe('/repo/.cluster/cdl/kubeconfig');
    }
    expect(commands.create[commands.create.indexOf('--config') + 1]).toBe(KIND_CONFIG);
  });
});

describe('choosing a provider', () => {
  it('refuses an unknown name and says which are known', () => {
    expect(() => parseProviderName('minikube', '--provider')).toThrow(/Unknown provider "minikube"/);
  });

  it('takes the flag before the environment', async () => {
    expect(await chooseProvider('kind', { CDL_PROVIDER: 'external' })).toBe('kind');
    expect(await chooseProvider(undefined, { CDL_PROVIDER: 'external' })).toBe('external');
  });

  it('falls back to local where there is no docker or kind', async () => {
    expect(await chooseProvider(undefined, { PATH: '/nonexistent' }, '/nonexistent-root')).toBe('local');
  });

  it('needs a kubeconfig for the external provider and says how to give one', () => {
    expect(() => new ExternalProvider({})).toThrow(ClusterError);
    expect(() => new ExternalProvider({})).toThrow(/kubeconfig/);
  });
});
