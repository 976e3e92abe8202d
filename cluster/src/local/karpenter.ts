/**
 * Karpenter beside a local cluster: the real Karpenter controller with its
 * kwok cloud provider, so a NodePool makes nodes appear for pending pods and
 * consolidation removes them, as on EKS, with kwok's simulated nodes for
 * instances.
 *
 * It runs as one more process of the cluster, started after the control
 * plane once its CRDs are in (Karpenter's controllers stop at start for a
 * kind the API server does not serve), with its pid file beside kwokctl's so
 * `status` and `down` see it. Its "cloud" offers a small catalogue of EC2-like
 * instance types in the cluster's own zones (us-west-2a to c), amd64 and
 * arm64, Spot and On-Demand, with illustrative prices; kwok's controller
 * makes each node it creates Ready, since they carry kwok's annotation.
 *
 * Karpenter binds its metrics and health endpoints on every interface (it has
 * no setting for the address), so each gets a port the system picks.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiextensionsV1Api, type KubeConfig, loadAllYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { ClusterError } from '../errors.ts';
import { processAlive } from '../exec.ts';
import { applyObjects, hasCondition, waitFor } from '../kube.ts';
import type { KarpenterBinaries } from './binaries.ts';
import { ZONES } from './nodes.ts';

/** The component's name in status lines and its pid file. */
export const KARPENTER = 'karpenter';

/** The node class every NodePool of this cluster names: kwok's has no settings. */
export const NODE_CLASS = { group: 'karpenter.kwok.sh', kind: 'KWOKNodeClass', name: 'default' } as const;

interface InstanceType {
  name: string;
  arch: 'amd64' | 'arm64';
  cpu: number;
  memoryGi: number;
  /** On-Demand, US dollars an hour (us-west-2, rounded); Spot is offered at a third of it. */
  price: number;
}

/** EC2-like instance types: general purpose and compute optimised, Graviton (arm64) beside x86. */
export const INSTANCE_TYPES: readonly InstanceType[] = [
  { name: 'm7g.large', arch: 'arm64', cpu: 2, memoryGi: 8, price: 0.0816 },
  { name: 'm7g.xlarge', arch: 'arm64', cpu: 4, memoryGi: 16, price: 0.1632 },
  { name: 'm7g.2xlarge', arch: 'arm64', cpu: 8, memoryGi: 32, price: 0.3264 },
  { name: 'c7g.xlarge', arch: 'arm64', cpu: 4, memoryGi: 8, price: 0.145 },
  { name: 'c7g.2xlarge', arch: 'arm64', cpu: 8, memoryGi: 16, price: 0.29 },
  { name: 'm6i.large', arch: 'amd64', cpu: 2, memoryGi: 8, price: 0.096 },
  { name: 'm6i.xlarge', arch: 'amd64', cpu: 4, memoryGi: 16, price: 0.192 },
  { name: 'm6i.2xlarge', arch: 'amd64', cpu: 8, memoryGi: 32, price: 0.384 },
  { name: 'c6i.xlarge', arch: 'amd64', cpu: 4, memoryGi: 8, price: 0.17 },
  { name: 'c6i.2xlarge', arch: 'amd64', cpu: 8, memoryGi: 16, price: 0.34 },
];

const SPOT_SHARE = 1 / 3;

/** The catalogue in the JSON form Karpenter's kwok provider reads (INSTANCE_TYPES_FILE_PATH). */
export function instanceTypesFile(types: readonly InstanceType[] = INSTANCE_TYPES): string {
  const round = (n: number) => Math.round(n * 10_000) / 10_000;
  const offerings = (type: InstanceType) =>
    ZONES.flatMap((zone) =>
      (['spot', 'on-demand'] as const).map((capacityType) => ({
        Price: round(capacityType === 'spot' ? type.price * SPOT_SHARE : type.price),
        Available: true,
        Requirements: [
          { key: 'karpenter.sh/capacity-type', operator: 'In', values: [capacityType] },
          { key: 'topology.kubernetes.io/zone', operator: 'In', values: [zone] },
        ],
      })),
    );
  const entries = types.map((type) => ({
    name: type.name,
    offerings: offerings(type),
    architecture: type.arch,
    operatingSystems: ['linux'],
    resources: { cpu: String(type.cpu), memory: `${type.memoryGi}Gi`, pods: '110', 'ephemeral-storage': '20Gi' },
  }));
  return `${JSON.stringify(entries, null, 2)}\n`;
}

export interface KarpenterPlace {
  /** kwokctl's folder of the cluster: `pids/` and `logs/` are in it. */
  clusterDir: string;
  /** An admin kubeconfig for the cluster. */
  kubeconfig: string;
}

export function karpenterPidFile(clusterDir: string): string {
  return join(clusterDir, 'pids', `${KARPENTER}.pid`);
}

/** Applies Karpenter's CRDs and waits until the API server serves them, then the node class. */
export async function installKarpenterApis(kc: KubeConfig, crdsFile: string): Promise<void> {
  const crds = loadAllYaml(await readFile(crdsFile, 'utf8')) as V1CustomResourceDefinition[];
  await applyObjects(kc, crds);
  const api = kc.makeApiClient(ApiextensionsV1Api);
  await waitFor(
    "Karpenter's CRDs to be served",
    async () => {
      const served = await Promise.all(crds.map((crd) => api.readCustomResourceDefinition({ name: crd.metadata?.name ?? '' })));
      return served.every((crd) => hasCondition(crd, 'Established'));
    },
    30_000,
  );
  await applyObjects(kc, [{ apiVersion: `${NODE_CLASS.group}/v1alpha1`, kind: NODE_CLASS.kind, metadata: { name: NODE_CLASS.name } }]);
}

/** Starts Karpenter as a detached process of the cluster, logging into its `logs/` folder; returns its pid. */
export async function spawnKarpenter(place: KarpenterPlace, binaries: KarpenterBinaries): Promise<number> {
  const typesFile = join(place.clusterDir, 'karpenter-instance-types.json');
  await writeFile(typesFile, instanceTypesFile());
  await mkdir(join(place.clusterDir, 'logs'), { recursive: true });
  await mkdir(join(place.clusterDir, 'pids'), { recursive: true });
  const out = openSync(join(place.clusterDir, 'logs', `${KARPENTER}.log`), 'a');
  try {
    const child = spawn(binaries.karpenter, [], {
      detached: true,
      stdio: ['ignore', out, out],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        KUBECONFIG: place.kubeconfig,
        // One controller per cluster: nothing to elect against.
        DISABLE_LEADER_ELECTION: 'true',
        SYSTEM_NAMESPACE: 'kube-system',
        METRICS_PORT: '0',
        HEALTH_PROBE_PORT: '0',
        INSTANCE_TYPES_FILE_PATH: typesFile,
        LOG_LEVEL: 'info',
      },
    });
    const pid = child.pid;
    if (pid === undefined) throw new ClusterError(`could not start ${binaries.karpenter}`, 'Check that the file exists and is executable.');
    child.unref();
    await writeFile(karpenterPidFile(place.clusterDir), `${pid}\n`);
    // A controller that stops at once (a bad kubeconfig, a missing CRD) says why in its log.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (!processAlive(pid)) {
      const log = await readFile(join(place.clusterDir, 'logs', `${KARPENTER}.log`), 'utf8').catch(() => '');
      throw new ClusterError(
        `Karpenter exited right after it started:\n${log.split('\n').slice(-10).join('\n')}`,
        `Its whole log is ${join(place.clusterDir, 'logs', `${KARPENTER}.log`)}.`,
      );
    }
    return pid;
  } finally {
    closeSync(out);
  }
}
