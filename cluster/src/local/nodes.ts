/**
 * The simulated nodes of the local cluster, shaped like a small EKS cluster so
 * that every lab has something real to schedule against: managed node groups
 * of amd64 and arm64 (Graviton) instances in three zones, and one tainted
 * virtual node in the style of Fargate. kwok keeps any Node that carries the
 * `kwok.x-k8s.io/node: fake` annotation Ready and runs its pods' lifecycle.
 */
import type { V1Node } from '@kubernetes/client-node';

export const REGION = 'us-west-2';
export const ZONES = ['us-west-2a', 'us-west-2b', 'us-west-2c'] as const;
export const FARGATE_TAINT = { key: 'eks.amazonaws.com/compute-type', value: 'fargate', effect: 'NoSchedule' } as const;

interface NodeSpec {
  name: string;
  zone: string;
  arch: 'amd64' | 'arm64';
  instanceType: string;
  labels: Record<string, string>;
  cpu: string;
  memory: string;
  pods: string;
  fargate: boolean;
}

function managed(zoneIndex: number, arch: 'amd64' | 'arm64'): NodeSpec {
  const zone = ZONES[zoneIndex] ?? ZONES[0];
  const host = `ip-10-0-${zoneIndex + 1}-${arch === 'amd64' ? 10 : 20}`;
  return {
    name: `${host}.${REGION}.compute.internal`,
    zone,
    arch,
    instanceType: arch === 'amd64' ? 'm6i.xlarge' : 'm7g.xlarge',
    labels: {
      'eks.amazonaws.com/nodegroup': `general-${arch}`,
      'eks.amazonaws.com/capacityType': 'ON_DEMAND',
    },
    cpu: '4',
    memory: '16Gi',
    pods: '58',
    fargate: false,
  };
}

/** Six managed nodes (one amd64 and one arm64 per zone) and one Fargate-style node. */
export const NODE_SPECS: readonly NodeSpec[] = [
  ...ZONES.flatMap((_, i) => [managed(i, 'amd64'), managed(i, 'arm64')]),
  {
    name: `fargate-ip-10-0-4-10.${REGION}.compute.internal`,
    zone: ZONES[0],
    arch: 'amd64',
    instanceType: 'fargate',
    labels: { 'eks.amazonaws.com/compute-type': 'fargate' },
    // A virtual node stands for a pool of capacity, as Fargate's does: room
    // for every learner of a workshop to run a few pods there at once.
    cpu: '64',
    memory: '256Gi',
    pods: '250',
    fargate: true,
  },
];

/** The Node object for a spec, status included (kwok reads capacity from it). */
export function nodeObject(spec: NodeSpec): V1Node {
  const resources = { cpu: spec.cpu, memory: spec.memory, pods: spec.pods, 'ephemeral-storage': '80Gi' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': spec.arch,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': spec.name,
        'node.kubernetes.io/instance-type': spec.instanceType,
        'topology.kubernetes.io/region': REGION,
        'topology.kubernetes.io/zone': spec.zone,
        type: 'kwok',
        ...spec.labels,
      },
    },
    spec: spec.fargate ? { taints: [{ ...FARGATE_TAINT }] } : {},
    status: {
      allocatable: resources,
      capacity: resources,
      nodeInfo: {
        architecture: spec.arch,
        operatingSystem: 'linux',
        kubeletVersion: 'fake',
        kubeProxyVersion: 'fake',
        bootID: '',
        containerRuntimeVersion: '',
        kernelVersion: '',
        machineID: '',
        osImage: '',
        systemUUID: '',
      },
    },
  };
}
