/**
 * The `external` provider: any cluster the operator already has (an EKS
 * cluster for a big event), reached through a kubeconfig they name with
 * `CDL_KUBECONFIG`, or, for a server that runs in that cluster (the Helm
 * chart), through its pod's ServiceAccount. The platform never creates,
 * deletes or rewrites the cluster.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { clusterSettings, type Environment } from '../../../contract/settings.ts';
import { ClusterError } from '../errors.ts';
import { apiState, loadKubeConfig } from '../kube.ts';
import type { Capabilities, ClusterProvider, ClusterStatus, Log } from '../provider.ts';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * A kubeconfig file for the pod's own ServiceAccount: the API server the
 * kubelet names in the environment, its CA, and the projected token by path
 * (read again as the kubelet renews it), as @kubernetes/client-node's
 * `loadFromCluster` makes it; written once into the temporary folder.
 */
function inClusterKubeconfig(): string {
  const kc = new KubeConfig();
  kc.loadFromCluster();
  const dir = join(tmpdir(), 'cdl-in-cluster');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  return file;
}

export class ExternalProvider implements ClusterProvider {
  readonly name = 'external' as const;
  /** A shared cluster: real containers, and no cluster of a learner's own. */
  readonly capabilities: Capabilities = { runsContainers: true, enforcesNetworkPolicy: true, ownedByPlatform: false, auditLog: false };
  readonly kubeconfig: string;

  constructor(env: Environment = process.env) {
    const { CDL_KUBECONFIG } = clusterSettings(env);
    if (CDL_KUBECONFIG) {
      this.kubeconfig = resolve(CDL_KUBECONFIG);
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
      this.kubeconfig = inClusterKubeconfig();
    } else {
      throw new ClusterError(
        'The external provider needs the kubeconfig of your cluster.',
        'Set CDL_KUBECONFIG=/path/to/kubeconfig (it is read, never written), or run the server in the cluster (deploy/helm).',
      );
    }
  }

  async status(): Promise<ClusterStatus> {
    const base = { provider: this.name, kubeconfig: this.kubeconfig } as const;
    if (!existsSync(this.kubeconfig)) return { ...base, state: 'stopped', detail: `the kubeconfig ${this.kubeconfig} does not exist` };
    try {
      const state = await apiState(loadKubeConfig(this.kubeconfig));
      return {
        ...base,
        state: 'running',
        detail: `external, Kubernetes ${state.serverVersion}, ${state.nodesReady}/${state.nodesTotal} nodes Ready`,
        ...state,
      };
    } catch (error) {
      return { ...base, state: 'degraded', detail: `the API server does not answer: ${(error as Error).message}` };
    }
  }

  async up(log: Log): Promise<ClusterStatus> {
    const status = await this.status();
    if (status.state !== 'running') {
      throw new ClusterError(
        `The external cluster is not reachable: ${status.detail}.`,
        'Check CDL_KUBECONFIG and that your credentials are current (`kubectl --kubeconfig "$CDL_KUBECONFIG" get nodes`).',
      );
    }
    log(`Using the external cluster: ${status.detail}.`);
    return status;
  }

  async down(log: Log): Promise<void> {
    log("The external cluster is not the platform's to delete; nothing was changed.");
  }
}
