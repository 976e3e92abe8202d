/**
 * The `local` provider: a real control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler) run as local processes by
 * kwokctl's binary runtime, with kwok simulating the nodes. Everything a lab
 * checks through the API (scheduling, Jobs, RBAC, admission, Pod Security)
 * behaves as in a real cluster; only containers do not run.
 *
 * Two kwokctl defaults are unsafe for a laptop and are overridden here: it
 * would write the user's ~/.kube/config (we pass a project-local path), and
 * it would bind every component, etcd included, to 0.0.0.0 (we bind to
 * 127.0.0.1 through its configuration file).
 *
 * Nothing restarts a component that exits, so `status` checks every process
 * (control-plane.ts) and `up` on a degraded cluster restarts only the missing
 * ones with `kwokctl start cluster`, keeping etcd's data and with it every
 * learner's session; only when that fails does it start a fresh cluster.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterError } from '../errors.ts';
import { formatDuration, processAlive, run, tail } from '../exec.ts';
import { apiState, applyObjects, deleteLeases, loadKubeConfig, waitFor } from '../kube.ts';
import { kubeconfigPath, stateDir } from '../paths.ts';
import type { Capabilities, ClusterProvider, ClusterStatus, Log, UpProgress } from '../provider.ts';
import { ensureBinaries, ensureKarpenter, type LocalBinaries, VERSIONS } from './binaries.ts';
import { assess, type ComponentName, canServe, inspectControlPlane, missingPhrase, pidFile, processesPhrase } from './control-plane.ts';
import { installKarpenterApis, KARPENTER, spawnKarpenter } from './karpenter.ts';
import { NODE_SPECS, nodeObject } from './nodes.ts';

export interface LocalProviderOptions {
  /** Names the kwokctl cluster and its state folder; the tests use their own. */
  clusterName?: string;
  /** The project root under which `.cluster/` lives. */
  root?: string;
  env?: NodeJS.ProcessEnv;
}

/** The kwokctl configuration file: binaries, versions, and loopback-only binding. */
export function kwokctlConfig(binaries: LocalBinaries): string {
  const options = {
    runtime: 'binary',
    bindAddress: '127.0.0.1',
    kubeVersion: VERSIONS.kubernetes,
    etcdVersion: VERSIONS.etcd.replace(/^v/, ''),
    kubeApiserverBinary: binaries.kubeApiserver,
    kubeControllerManagerBinary: binaries.kubeControllerManager,
    kubeSchedulerBinary: binaries.kubeScheduler,
    kubectlBinary: binaries.kubectl,
    etcdBinary: binaries.etcd,
    kwokControllerBinary: binaries.kwok,
    kubeAuthorization: true,
    kubeAdmission: true,
  };
  // A lone controller manager or scheduler has no rival to elect against, and
  // with leader election on it exits when the API server is slow to renew its
  // lease (under load), and nothing would start it again.
  const componentsPatches = [
    ...['kube-controller-manager', 'kube-scheduler'].map((name) => ({
      name,
      extraArgs: [{ key: 'leader-elect', value: 'false' }],
    })),
    // kwok takes over the nodes it simulates (NODE_SPECS, and those Karpenter
    // makes: both carry its annotation), never a real node beside them.
    {
      name: 'kwok-controller',
      extraArgs: [
        { key: 'manage-all-nodes', value: 'false' },
        { key: 'manage-nodes-with-annotation-selector', value: 'kwok.x-k8s.io/node=fake' },
      ],
    },
  ];
  const config = { kind: 'KwokctlConfiguration', apiVersion: 'config.kwok.x-k8s.io/v1alpha1', options, componentsPatches };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export class LocalProvider implements ClusterProvider {
  readonly name = 'local' as const;
  readonly capabilities: Capabilities = { runsContainers: false, enforcesNetworkPolicy: false, ownedByPlatform: true };
  readonly kubeconfig: string;
  readonly clusterName: string;
  private readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: LocalProviderOptions = {}) {
    this.clusterName = options.clusterName ?? 'cdl';
    this.dir = stateDir(this.clusterName, options.root);
    this.kubeconfig = kubeconfigPath(this.clusterName, options.root);
    this.env = options.env ?? process.env;
  }

  /** kwokctl's own state (certificates, etcd data, logs, pids) lives here. */
  private get workdir(): string {
    return join(this.dir, 'kwok');
  }

  private get clusterDir(): string {
    return join(this.workdir, 'clusters', this.clusterName);
  }

  private kwokctl(binaries: LocalBinaries, args: string[], timeoutMs = 180_000) {
    return run(binaries.kwokctl, args, { env: { ...this.env, KWOK_WORKDIR: this.workdir }, timeoutMs });
  }

  /** The control plane's processes that are still alive, from kwokctl's pid files. */
  async livePids(): Promise<Array<{ name: string; pid: number }>> {
    const components = await inspectControlPlane(this.clusterDir);
    return components.flatMap(({ name, pid }) => (pid === undefined ? [] : [{ name, pid }]));
  }

  async status(): Promise<ClusterStatus> {
    const components = await inspectControlPlane(this.clusterDir);
    const base = { provider: this.name, kubeconfig: this.kubeconfig } as const;
    if (!existsSync(this.clusterDir)) {
      return { ...base, state: 'stopped', detail: 'no local cluster; start one with `npm run cluster -- up`', components };
    }
    if (!existsSync(this.kubeconfig)) {
      const problems = [missingPhrase(components), 'a half-started cluster (no kubeconfig)', processesPhrase(components)];
      return { ...base, state: 'degraded', detail: problems.filter(Boolean).join('; '), components };
    }
    // Asking an API server whose etcd is gone takes the whole timeout, and /healthz should answer at once.
    if (!canServe(components)) return { ...base, ...assess({ components }), components };
    try {
      const api = await withTimeout(apiState(loadKubeConfig(this.kubeconfig)), 5000);
      return { ...base, ...assess({ components, api }), ...api, components };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return { ...base, ...assess({ components, api: { error: reason } }), components };
    }
  }

  async up(log: Log, progress?: (progress: UpProgress) => void): Promise<ClusterStatus> {
    const binaries = await ensureBinaries({ log, env: this.env, ...(progress ? { onProgress: progress } : {}) });
    const current = await this.status();
    if (current.state === 'running') {
      log(`The local cluster "${this.clusterName}" is already running: ${current.detail}.`);
      return current;
    }
    if (current.state === 'degraded') {
      if (existsSync(this.kubeconfig) && existsSync(join(this.clusterDir, 'kwok.yaml'))) {
        const repaired = await this.repair(binaries, current, log).catch((error: unknown) => {
          log(`The repair failed: ${error instanceof Error ? error.message : String(error)}`);
          return undefined;
        });
        if (repaired?.state === 'running') return repaired;
        log(`Removing the cluster "${this.clusterName}" and starting a fresh one instead (its objects are lost).`);
      } else {
        log(`Found a broken cluster from an earlier run (${current.detail}); removing it first.`);
      }
      await this.down(log);
    }
    const started = Date.now();
    log(`Starting the local cluster "${this.clusterName}" (Kubernetes ${VERSIONS.kubernetes}, nodes simulated by kwok)…`);
    await mkdir(this.dir, { recursive: true });
    const configPath = join(this.dir, 'kwokctl.json');
    await writeFile(configPath, kwokctlConfig(binaries));
    const created = await this.kwokctl(binaries, [
      'create',
      'cluster',
      '--name',
      this.clusterName,
      '--config',
      configPath,
      '--kubeconfig',
      this.kubeconfig,
      '--wait',
      '2m',
    ]);
    if (created.code !== 0) {
      const logs = join(this.clusterDir, 'logs');
      await this.down(() => {});
      throw new ClusterError(
        `kwokctl could not start the control plane:\n${tail(created.stderr || created.stdout)}`,
        `Look at the component logs in ${logs} if they are still there, then run \`npm run cluster -- up\` again.`,
      );
    }
    await this.ensureNodes();
    const status = await this.status();
    log(`Local cluster ready in ${formatDuration(Date.now() - started)}: ${status.detail}.`);
    return status;
  }

  /**
   * Brings a degraded cluster back in place: kwokctl starts each component
   * whose process is gone (and leaves the running ones alone), then the nodes
   * are applied again in case they never were. A component can exit while
   * another restarts (one that still elects a leader loses its lease while the
   * API server is down), so the missing ones are looked for a second time.
   *
   * A new kwok controller has an identity of its own and will not run pods on
   * a node whose lease the dead one held until that lease expires, 200 s
   * later; so the leases are deleted before it starts, or, when the API
   * server could not be asked first, it is started once more after that.
   */
  private async repair(binaries: LocalBinaries, current: ClusterStatus, log: Log): Promise<ClusterStatus> {
    const started = Date.now();
    log(`The local cluster "${this.clusterName}" is degraded: ${current.detail}.`);
    let status = current;
    for (let round = 1; round <= 2; round++) {
      const missing = (await inspectControlPlane(this.clusterDir)).filter((c) => !c.running).map((c) => c.name);
      log(
        missing.length > 0
          ? `Restarting ${missing.join(', ')}${round > 1 ? ' again' : ''}…`
          : 'Every process runs; waiting for the API server and the nodes…',
      );
      const newKwok = missing.includes('kwok-controller');
      const apiAnswered = status.serverVersion !== undefined;
      if (newKwok && apiAnswered) await this.releaseNodeLeases();
      await this.startMissing(binaries, missing);
      if (newKwok && !apiAnswered) {
        log('Restarting kwok-controller once more, now that the API server answers, so that it takes the nodes over at once…');
        await this.stopComponent('kwok-controller');
        await this.releaseNodeLeases();
        await this.startMissing(binaries, ['kwok-controller']);
      }
      await this.ensureNodes();
      status = await this.status();
      if (status.state === 'running') break;
    }
    if (status.state === 'running') {
      log(`Repaired the local cluster "${this.clusterName}" in ${formatDuration(Date.now() - started)}: ${status.detail}.`);
    } else {
      log(`The local cluster "${this.clusterName}" is still degraded after a restart: ${status.detail}.`);
    }
    return status;
  }

  /**
   * Adds Karpenter to the running cluster (karpenter.ts): builds it the first
   * time (minutes; progress as for the other binaries), installs its CRDs and
   * node class, and starts it. Nothing happens when it already runs.
   */
  async addKarpenter(log: Log, progress?: (progress: UpProgress) => void): Promise<void> {
    const current = (await inspectControlPlane(this.clusterDir)).find((c) => c.name === KARPENTER);
    if (current?.running) return;
    const binaries = await ensureKarpenter({ log, env: this.env, ...(progress ? { onProgress: progress } : {}) });
    const status = await this.status();
    if (status.serverVersion === undefined) {
      throw new ClusterError(
        `Karpenter needs a running cluster, and "${this.clusterName}" is ${status.state}: ${status.detail}`,
        'Run `npm run cluster -- up` first.',
      );
    }
    await installKarpenterApis(loadKubeConfig(this.kubeconfig), binaries.crds);
    const pid = await spawnKarpenter({ clusterDir: this.clusterDir, kubeconfig: this.kubeconfig }, binaries);
    log(`Karpenter ${VERSIONS.karpenter} runs beside the local cluster "${this.clusterName}" (pid ${pid}).`);
  }

  /** `kwokctl start cluster` starts every component that does not run, and waits until the API server is healthy. */
  private async startMissing(binaries: LocalBinaries, missing: readonly ComponentName[]): Promise<void> {
    // kwokctl skips a component whose pid file names a live process; after a
    // crash that number may belong to another program by now. Add-ons are
    // the platform's own to start, once the API server answers.
    const addOn = missing.includes(KARPENTER);
    await Promise.all(missing.map((name) => rm(pidFile(this.clusterDir, name), { force: true })));
    const restarted = await this.kwokctl(binaries, ['start', 'cluster', '--name', this.clusterName, '--wait', '1m'], 150_000);
    if (restarted.code !== 0) {
      throw new ClusterError(
        `kwokctl could not restart the control plane:\n${tail(restarted.stderr || restarted.stdout)}`,
        `Look at the component logs in ${join(this.clusterDir, 'logs')}, then run \`npm run cluster -- reset\`.`,
      );
    }
    if (addOn) await this.addKarpenter(() => {});
  }

  /** Stops one component (SIGTERM, then SIGKILL after 10 s) and waits until it is gone. */
  private async stopComponent(name: ComponentName): Promise<void> {
    const pid = (await inspectControlPlane(this.clusterDir)).find((c) => c.name === name)?.pid;
    if (pid === undefined) return;
    signal(pid, 'SIGTERM');
    await waitFor(`${name} to exit`, async () => !processAlive(pid), 10_000, 100).catch(() => signal(pid, 'SIGKILL'));
    await waitFor(`${name} to exit after SIGKILL`, async () => !processAlive(pid), 5_000, 100);
  }

  /** Frees the simulated nodes' leases, which a kwok controller that died still holds. */
  private async releaseNodeLeases(): Promise<void> {
    await deleteLeases(
      loadKubeConfig(this.kubeconfig),
      'kube-node-lease',
      NODE_SPECS.map((n) => n.name),
    );
  }

  /** Applies the simulated nodes (again: applying is idempotent) and waits until all are Ready. */
  private async ensureNodes(): Promise<void> {
    const kc = loadKubeConfig(this.kubeconfig);
    await applyObjects(kc, NODE_SPECS.map(nodeObject));
    await waitFor(
      `${NODE_SPECS.length} nodes to be Ready`,
      async () => {
        const state = await apiState(kc);
        return state.nodesReady >= NODE_SPECS.length;
      },
      60_000,
    );
  }

  async down(log: Log): Promise<void> {
    const components = await inspectControlPlane(this.clusterDir);
    const before = components.flatMap(({ name, pid }) => (pid === undefined ? [] : [{ name, pid }]));
    // kwokctl does not know the add-ons: they are stopped here, first, so none acts on a cluster going away.
    for (const { pid } of components.filter((c) => c.name === KARPENTER && c.running)) if (pid) signal(pid, 'SIGTERM');
    if (existsSync(this.clusterDir)) {
      // kwokctl kills whatever its pid files name: not a program that took a dead component's number.
      await Promise.all(components.filter((c) => !c.running).map((c) => rm(pidFile(this.clusterDir, c.name), { force: true })));
      const binaries = await ensureBinaries({ log, env: this.env }).catch(() => undefined);
      if (binaries)
        await this.kwokctl(binaries, ['delete', 'cluster', '--name', this.clusterName, '--kubeconfig', this.kubeconfig], 60_000);
    }
    // kwokctl returns before its processes have exited; wait, then insist.
    await waitFor('the control plane to exit', async () => (await pidsAlive(before)).length === 0, 10_000).catch(() => undefined);
    for (const { pid } of await pidsAlive(before)) signal(pid, 'SIGKILL');
    await waitFor('the control plane to exit after SIGKILL', async () => (await pidsAlive(before)).length === 0, 5_000);
    await rm(this.dir, { recursive: true, force: true });
    if (before.length > 0) log(`Stopped the local cluster "${this.clusterName}" (${before.map((p) => p.name).join(', ')}).`);
    else log(`No local cluster "${this.clusterName}" was running.`);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // it exited between the check and the signal
  }
}

async function pidsAlive(pids: ReadonlyArray<{ name: string; pid: number }>) {
  return pids.filter(({ pid }) => processAlive(pid));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
