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
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterError } from '../errors.ts';
import { formatDuration, processAlive, run, tail } from '../exec.ts';
import { apiState, applyObjects, loadKubeConfig, waitFor } from '../kube.ts';
import { kubeconfigPath, stateDir } from '../paths.ts';
import type { Capabilities, ClusterProvider, ClusterStatus, Log } from '../provider.ts';
import { ensureBinaries, type LocalBinaries, VERSIONS } from './binaries.ts';
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
  return `${JSON.stringify({ kind: 'KwokctlConfiguration', apiVersion: 'config.kwok.x-k8s.io/v1alpha1', options }, null, 2)}\n`;
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
    const pidDir = join(this.clusterDir, 'pids');
    const files = await readdir(pidDir).catch(() => [] as string[]);
    const live: Array<{ name: string; pid: number }> = [];
    for (const file of files.filter((f) => f.endsWith('.pid'))) {
      const pid = Number.parseInt(await readFile(join(pidDir, file), 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) live.push({ name: file.replace(/\.pid$/, ''), pid });
    }
    return live;
  }

  async status(): Promise<ClusterStatus> {
    const base = { provider: this.name, kubeconfig: this.kubeconfig } as const;
    const live = await this.livePids();
    if (live.length === 0 && !existsSync(this.clusterDir)) {
      return { ...base, state: 'stopped', detail: 'no local cluster; start one with `npm run cluster -- up`' };
    }
    if (!existsSync(this.kubeconfig)) {
      return { ...base, state: 'degraded', detail: `a half-started cluster (${live.length} processes, no kubeconfig)` };
    }
    try {
      const state = await withTimeout(apiState(loadKubeConfig(this.kubeconfig)), 5000);
      const ready = state.nodesTotal > 0 && state.nodesReady === state.nodesTotal;
      return {
        ...base,
        state: ready ? 'running' : 'degraded',
        detail: `Kubernetes ${state.serverVersion}, ${state.nodesReady}/${state.nodesTotal} nodes Ready, ${live.length} control-plane processes`,
        ...state,
      };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return { ...base, state: 'degraded', detail: `the API server does not answer (${live.length} processes alive): ${reason}` };
    }
  }

  async up(log: Log): Promise<ClusterStatus> {
    const binaries = await ensureBinaries({ log, env: this.env });
    const current = await this.status();
    if (current.state === 'running') {
      log(`The local cluster "${this.clusterName}" is already running: ${current.detail}.`);
      return current;
    }
    if (current.state === 'degraded') {
      log(`Found a broken cluster from an earlier run (${current.detail}); removing it first.`);
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
    const status = await this.status();
    log(`Local cluster ready in ${formatDuration(Date.now() - started)}: ${status.detail}.`);
    return status;
  }

  async down(log: Log): Promise<void> {
    const before = await this.livePids();
    if (existsSync(this.clusterDir)) {
      const binaries = await ensureBinaries({ log, env: this.env }).catch(() => undefined);
      if (binaries)
        await this.kwokctl(binaries, ['delete', 'cluster', '--name', this.clusterName, '--kubeconfig', this.kubeconfig], 60_000);
    }
    // kwokctl returns before its processes have exited; wait, then insist.
    await waitFor('the control plane to exit', async () => (await pidsAlive(before)).length === 0, 10_000).catch(() => undefined);
    for (const { pid } of await pidsAlive(before)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // it exited between the check and the kill
      }
    }
    await waitFor('the control plane to exit after SIGKILL', async () => (await pidsAlive(before)).length === 0, 5_000);
    await rm(this.dir, { recursive: true, force: true });
    if (before.length > 0) log(`Stopped the local cluster "${this.clusterName}" (${before.map((p) => p.name).join(', ')}).`);
    else log(`No local cluster "${this.clusterName}" was running.`);
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
