/**
 * The `external` provider: any cluster the operator already has (an EKS
 * cluster for a big event), reached through a kubeconfig they name with
 * `CDL_KUBECONFIG`. The platform never creates, deletes or rewrites it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { clusterSettings, type Environment } from '../../../contract/settings.ts';
import { ClusterError } from '../errors.ts';
import { apiState, loadKubeConfig } from '../kube.ts';
import type { Capabilities, ClusterProvider, ClusterStatus, Log } from '../provider.ts';

export class ExternalProvider implements ClusterProvider {
  readonly name = 'external' as const;
  /** A shared cluster: real containers, and no cluster of a learner's own. */
  readonly capabilities: Capabilities = { runsContainers: true, enforcesNetworkPolicy: true, ownedByPlatform: false, auditLog: false };
  readonly kubeconfig: string;

  constructor(env: Environment = process.env) {
    const { CDL_KUBECONFIG } = clusterSettings(env);
    if (!CDL_KUBECONFIG) {
      throw new ClusterError(
        'The external provider needs the kubeconfig of your cluster.',
        'Set CDL_KUBECONFIG=/path/to/kubeconfig (it is read, never written).',
      );
    }
    this.kubeconfig = resolve(CDL_KUBECONFIG);
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
