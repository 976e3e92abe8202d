/**
 * The `kind` provider, for people with Docker: a kind cluster made from
 * `cluster/kind/cluster.yaml`, where pods run real containers and
 * NetworkPolicy is enforced. It shells out to the `kind` CLI and keeps its
 * kubeconfig in the project-local state folder like every provider.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterError } from '../errors.ts';
import { run, tail, which } from '../exec.ts';
import { apiState, loadKubeConfig } from '../kube.ts';
import { kubeconfigPath, projectRoot, stateDir } from '../paths.ts';
import type { Capabilities, ClusterProvider, ClusterStatus, Log } from '../provider.ts';

export const KIND_CONFIG = join(projectRoot, 'cluster', 'kind', 'cluster.yaml');

export interface KindProviderOptions {
  clusterName?: string;
  root?: string;
  env?: NodeJS.ProcessEnv;
}

/** The `kind` command lines this provider runs, kept pure so they can be tested without Docker. */
export function kindCommands(clusterName: string, kubeconfig: string) {
  return {
    create: ['create', 'cluster', '--name', clusterName, '--config', KIND_CONFIG, '--kubeconfig', kubeconfig, '--wait', '3m'],
    delete: ['delete', 'cluster', '--name', clusterName, '--kubeconfig', kubeconfig],
    list: ['get', 'clusters'],
  };
}

export class KindProvider implements ClusterProvider {
  readonly name = 'kind' as const;
  readonly capabilities: Capabilities = { runsContainers: true, enforcesNetworkPolicy: true, ownedByPlatform: true, auditLog: false };
  readonly kubeconfig: string;
  readonly clusterName: string;
  private readonly root: string | undefined;
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: KindProviderOptions = {}) {
    this.clusterName = options.clusterName ?? 'cdl';
    this.root = options.root;
    this.kubeconfig = kubeconfigPath(this.clusterName, options.root);
    this.env = options.env ?? process.env;
  }

  private kind(args: string[]) {
    const kind = which('kind', this.env);
    if (!kind) {
      throw new ClusterError(
        'The kind provider needs the `kind` command, which is not on PATH.',
        'Install kind (https://kind.sigs.k8s.io) and Docker, or use `--provider local`.',
      );
    }
    return run(kind, args, { env: this.env, timeoutMs: 300_000 });
  }

  private async exists(): Promise<boolean> {
    const listed = await this.kind(kindCommands(this.clusterName, this.kubeconfig).list);
    return listed.stdout.split('\n').some((line) => line.trim() === this.clusterName);
  }

  async status(): Promise<ClusterStatus> {
    const base = { provider: this.name, kubeconfig: this.kubeconfig } as const;
    if (!(await this.exists())) return { ...base, state: 'stopped', detail: `no kind cluster "${this.clusterName}"` };
    if (!existsSync(this.kubeconfig))
      return { ...base, state: 'degraded', detail: 'the kind cluster exists but its kubeconfig is missing' };
    try {
      const state = await apiState(loadKubeConfig(this.kubeconfig));
      const ready = state.nodesReady === state.nodesTotal && state.nodesTotal > 0;
      return {
        ...base,
        state: ready ? 'running' : 'degraded',
        detail: `kind, Kubernetes ${state.serverVersion}, ${state.nodesReady}/${state.nodesTotal} nodes Ready`,
        ...state,
      };
    } catch (error) {
      return { ...base, state: 'degraded', detail: `the API server does not answer: ${(error as Error).message}` };
    }
  }

  async up(log: Log): Promise<ClusterStatus> {
    const current = await this.status();
    if (current.state === 'running') return current;
    if (current.state === 'degraded') await this.down(log);
    await mkdir(stateDir(this.clusterName, this.root), { recursive: true });
    log(`Creating the kind cluster "${this.clusterName}" (this pulls a node image the first time)…`);
    const created = await this.kind(kindCommands(this.clusterName, this.kubeconfig).create);
    if (created.code !== 0) {
      throw new ClusterError(
        `kind could not create the cluster:\n${tail(created.stderr)}`,
        'Check that Docker is running (`docker info`), then run `npm run cluster -- up` again.',
      );
    }
    return this.status();
  }

  async down(log: Log): Promise<void> {
    if (await this.exists()) {
      const deleted = await this.kind(kindCommands(this.clusterName, this.kubeconfig).delete);
      if (deleted.code !== 0)
        throw new ClusterError(
          `kind could not delete the cluster:\n${tail(deleted.stderr)}`,
          `Run \`kind delete cluster --name ${this.clusterName}\` by hand.`,
        );
      log(`Deleted the kind cluster "${this.clusterName}".`);
    }
    await rm(stateDir(this.clusterName, this.root), { recursive: true, force: true });
  }
}
