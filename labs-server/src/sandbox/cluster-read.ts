/**
 * What a learner may read outside their sandbox: the cluster-scope objects
 * an attendee of an EKS workshop sees, so that lessons can start with
 * `kubectl get nodes -L kubernetes.io/arch,topology.kubernetes.io/zone` and
 * show the nodes' architectures, zones and taints. One ClusterRole, made by
 * the platform at every start, holds these reads; each learner identity gets
 * a ClusterRoleBinding to it (provision.ts), removed with the learner's
 * other objects when the session's sandboxes go.
 *
 * The rules name each resource, never `*`, and give only get, list and
 * watch, so everything else at cluster scope stays refused: writes to these
 * kinds, a node's subresources (`nodes/proxy` reaches every kubelet's API,
 * `nodes/status` is the kubelet's to write), the list of namespaces, and
 * anything inside namespaces other than the learner's own.
 *
 * Only the learner's own identity is bound, never the ServiceAccounts of
 * their namespace: a RoleBinding a learner makes to this role is confined to
 * its namespace, where none of these cluster-scope kinds live, so it hands on
 * nothing, and a learner may not make ClusterRoleBindings.
 */
import type { KubeConfig, V1ClusterRole, V1PolicyRule } from '@kubernetes/client-node';
import { applyObjects } from '../../../cluster/src/kube.ts';
import { LABELS, MANAGER } from '../../../contract/session.ts';

export const CLUSTER_READ_ROLE = 'cdl-learner-cluster-read';

const READ = ['get', 'list', 'watch'];

/** The kinds a learner may read cluster-wide, each in its API group. */
export const CLUSTER_READ_RULES: readonly V1PolicyRule[] = [
  { apiGroups: [''], resources: ['nodes'], verbs: READ },
  { apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: READ },
  { apiGroups: ['storage.k8s.io'], resources: ['storageclasses'], verbs: READ },
  { apiGroups: ['scheduling.k8s.io'], resources: ['priorityclasses'], verbs: READ },
  { apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: READ },
];

export function clusterReadRole(): V1ClusterRole {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: CLUSTER_READ_ROLE, labels: { [LABELS.managedBy]: MANAGER } },
    rules: [...CLUSTER_READ_RULES],
  };
}

/** The ClusterRoleBinding that gives one session's learner identity the cluster-wide reads. */
export function clusterReadBindingName(sessionName: string): string {
  return `${CLUSTER_READ_ROLE}-${sessionName}`;
}

/** Applies the ClusterRole (server-side apply, so a newer server updates its rules in place). */
export async function ensureClusterReadRole(kc: KubeConfig): Promise<void> {
  await applyObjects(kc, [clusterReadRole()]);
}
