/**
 * How much of the shared cluster one sandbox namespace may hold, and the
 * bound that follows for etcd.
 *
 * etcd is the one resource every learner shares and nobody may fill: past
 * its size limit it raises a NOSPACE alarm and the whole cluster turns
 * read-only. Kubernetes has no quota in bytes for API objects, only counts;
 * but every object is written to etcd in one request, and etcd refuses a
 * request over its `--max-request-bytes` (1.5 MiB by default, EKS included),
 * so no object of any kind is stored larger than that. A count on every kind
 * a learner can create, directly or through a controller (a Deployment's
 * ReplicaSets, a Service's EndpointSlices, a Job's pods), therefore bounds
 * the bytes: the sum of the counts times 1.5 MiB. The `cdl-sandbox-kinds`
 * admission policy (policies.ts) refuses a learner any kind that is not in
 * this table, so a CRD that aggregates into `admin` cannot open an uncounted
 * way in.
 *
 * The counts leave room for every lab's setup, solution and wrong attempts
 * (the proof in test/labs applies them all under this quota), and the cluster's
 * own objects in each namespace count too: the `kube-root-ca.crt` ConfigMap,
 * the `default` ServiceAccount, the platform's `learner` RoleBinding.
 */

/** The largest object etcd stores: its default `--max-request-bytes`. */
export const MAX_OBJECT_BYTES = 1_572_864;

export interface CountedKind {
  /** API group; '' for the core group. */
  group: string;
  /** Plural resource name, as in a URL. */
  resource: string;
  /** How many may exist at once in one sandbox namespace. */
  count: number;
}

/**
 * Every kind a learner may create in a sandbox namespace, with its count.
 * Pods are counted whatever their phase (`count/pods`), since a finished
 * pod stays in etcd until its Job goes.
 */
export const COUNTED_KINDS: readonly CountedKind[] = [
  { group: '', resource: 'pods', count: 30 },
  { group: '', resource: 'services', count: 5 },
  { group: '', resource: 'endpoints', count: 5 },
  { group: '', resource: 'configmaps', count: 10 },
  { group: '', resource: 'secrets', count: 8 },
  { group: '', resource: 'serviceaccounts', count: 6 },
  { group: '', resource: 'persistentvolumeclaims', count: 2 },
  { group: 'apps', resource: 'deployments', count: 8 },
  { group: 'apps', resource: 'replicasets', count: 16 },
  { group: 'apps', resource: 'statefulsets', count: 2 },
  { group: 'apps', resource: 'daemonsets', count: 1 },
  { group: 'apps', resource: 'controllerrevisions', count: 6 },
  { group: 'batch', resource: 'jobs', count: 6 },
  { group: 'batch', resource: 'cronjobs', count: 2 },
  { group: 'autoscaling', resource: 'horizontalpodautoscalers', count: 2 },
  { group: 'policy', resource: 'poddisruptionbudgets', count: 4 },
  { group: 'networking.k8s.io', resource: 'networkpolicies', count: 10 },
  { group: 'networking.k8s.io', resource: 'ingresses', count: 2 },
  { group: 'discovery.k8s.io', resource: 'endpointslices', count: 10 },
  { group: 'rbac.authorization.k8s.io', resource: 'roles', count: 8 },
  { group: 'rbac.authorization.k8s.io', resource: 'rolebindings', count: 8 },
];

/**
 * Kinds a learner may create that are never stored: a question to the
 * authorizer. They pass the kinds policy and need no count.
 */
export const UNSTORED_KINDS: readonly Pick<CountedKind, 'group' | 'resource'>[] = [
  { group: 'authorization.k8s.io', resource: 'localsubjectaccessreviews' },
];

export interface ComputeLimits {
  /** Pods that are not finished, the same number as `count/pods`. */
  pods: string;
  cpu: string;
  memory: string;
}

/** `count/configmaps`, `count/deployments.apps`: the object-count quota's names. */
export function countName(kind: Pick<CountedKind, 'group' | 'resource'>): string {
  return `count/${kind.resource}${kind.group ? `.${kind.group}` : ''}`;
}

/**
 * The ResourceQuotas of one sandbox namespace, by name, with their
 * `spec.hard`. Every admitted create updates the quota that counts it, and
 * the quota controller rewrites a quota whenever something it counts goes
 * away, so pods (which come and go all the time) have a quota of their own:
 * creating a Deployment or a ConfigMap does not race their churn.
 */
export function sandboxQuotas(limits: ComputeLimits): Record<string, Record<string, string>> {
  const { pods, cpu, memory } = limits;
  const isPods = (kind: CountedKind) => kind.group === '' && kind.resource === 'pods';
  return {
    sandbox: {
      [countName({ group: '', resource: 'pods' })]: pods,
      pods,
      'requests.cpu': cpu,
      'requests.memory': memory,
      'limits.cpu': cpu,
      'limits.memory': memory,
    },
    'sandbox-objects': {
      ...Object.fromEntries(COUNTED_KINDS.filter((kind) => !isPods(kind)).map((kind) => [countName(kind), String(kind.count)])),
      // NodePorts come from one small range for the whole cluster, and a
      // LoadBalancer is a paid cloud load balancer: no lab needs either.
      'services.nodeports': '0',
      'services.loadbalancers': '0',
      // Volumes are disks, not etcd; a little room for a StatefulSet to try.
      'requests.storage': '10Gi',
    },
  };
}

/** Objects one sandbox namespace may hold at once, pods at `limits.pods`. */
export function objectsPerNamespace(limits: Pick<ComputeLimits, 'pods'>): number {
  return COUNTED_KINDS.reduce((sum, kind) => sum + (kind.resource === 'pods' ? Number(limits.pods) : kind.count), 0);
}

/** The most bytes one sandbox namespace can put into etcd. */
export function etcdBytesPerNamespace(limits: Pick<ComputeLimits, 'pods'>): number {
  return objectsPerNamespace(limits) * MAX_OBJECT_BYTES;
}
