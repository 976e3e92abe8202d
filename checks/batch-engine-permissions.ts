/**
 * batch-engine-permissions: AWS Batch on EKS acts as the Kubernetes user
 * aws-batch (its service-linked role, mapped by an access entry or the
 * aws-auth ConfigMap), and needs the rights AWS documents for an EKS
 * compute environment: pods and a few reads in its namespace, and reads
 * across the cluster to see capacity. The authorizer is asked every one of
 * them, and a matrix of what must stay refused (pod changes elsewhere,
 * Secrets, wildcards, bindings), so any way of writing the grant counts.
 */
import { type Access, criterion, defineCheck } from './lib/check.ts';
import { askMatrix, beyondTheTask, describeRights, READ_VERBS, rights } from './lib/rbac-matrix.ts';

const USER = { user: 'aws-batch' };
const OTHERS = ['kube-system', 'default'];

/** In the compute environment's namespace: AWS's aws-batch-compute-environment-role. */
function namespaceRights(ns: string): Access[] {
  return [
    ...rights(['create', 'get', 'list', 'watch', 'delete', 'patch'], 'pods', ns),
    ...rights(['get', 'list'], 'serviceaccounts', ns),
    ...rights(['get', 'list'], 'roles.rbac.authorization.k8s.io', ns),
    ...rights(['get', 'list'], 'rolebindings.rbac.authorization.k8s.io', ns),
  ];
}

/** Across the cluster: AWS's aws-batch-cluster-role. */
function clusterRights(): Access[] {
  return [
    ...rights(['get'], 'namespaces'),
    ...['nodes', 'pods', 'configmaps', 'daemonsets.apps', 'deployments.apps', 'statefulsets.apps', 'replicasets.apps'].flatMap((r) =>
      rights(READ_VERBS, r),
    ),
    ...rights(['get', 'list'], 'clusterroles.rbac.authorization.k8s.io'),
    ...rights(['get', 'list'], 'clusterrolebindings.rbac.authorization.k8s.io'),
    ...rights(['list'], 'events'),
  ];
}

export default defineCheck({
  lab: 'batch-engine-permissions',
  steps: {
    async 'scheduler-rbac'(ctx) {
      const namespace = ctx.ns();
      const here = namespaceRights(namespace);
      const cluster = clusterRights();
      const refuse = [
        ...OTHERS.flatMap((ns) => rights(['create', 'delete', 'patch', 'update'], 'pods', ns)),
        ...rights(['create', 'delete', 'patch', 'deletecollection'], 'pods'),
        ...rights(['update', 'deletecollection'], 'pods', namespace),
        ...rights(['create', 'update', 'delete'], 'serviceaccounts', namespace),
        ...rights(['create', 'update', 'delete'], 'roles.rbac.authorization.k8s.io', namespace),
        ...rights(['create', 'update', 'patch'], 'configmaps', namespace),
        ...rights(['create', 'update', 'patch', 'delete'], 'deployments.apps', namespace),
        ...rights(['create', 'patch'], 'nodes'),
        ...rights(['create', 'delete'], 'events', namespace),
        ...beyondTheTask({ own: [namespace], others: OTHERS }, ['pods', 'nodes']),
      ];
      const { lacking, extra } = await askMatrix(ctx, USER, { need: [...here, ...cluster], refuse });
      const lackingHere = lacking.filter((a) => a.namespace === namespace);
      const lackingCluster = lacking.filter((a) => a.namespace === undefined);
      const isWildcard = (a: Access) => a.verb === '*' || a.resource === '*';
      const isSecrets = (a: Access) => a.resource === 'secrets';
      const wildcards = extra.filter(isWildcard);
      const secrets = extra.filter((a) => isSecrets(a) && !isWildcard(a));
      const outside = extra.filter((a) => a.namespace !== namespace && !isSecrets(a) && !isWildcard(a));
      const rest = extra.filter((a) => a.namespace === namespace && !isSecrets(a) && !isWildcard(a));
      const can = '`kubectl auth can-i --list --as aws-batch` (add `-n kube-system` for another namespace)';
      const bound = '`kubectl get rolebindings,clusterrolebindings -A -o wide | grep aws-batch`';
      return [
        criterion('namespace-rights', lackingHere.length === 0, {
          pass: `aws-batch may run and remove job pods in ${namespace}, and read its ServiceAccounts, Roles and RoleBindings.`,
          fail: `aws-batch may not yet ${describeRights(lackingHere)}. AWS Batch acts as the user aws-batch, not as a ServiceAccount.`,
          hint: `A RoleBinding in ${namespace} whose subject is the User aws-batch. ${can}`,
        }),
        criterion('cluster-read', lackingCluster.length === 0, {
          pass: 'aws-batch may read nodes, pods, workloads and RBAC objects across the cluster.',
          fail: `aws-batch may not yet ${describeRights(lackingCluster)}, so Batch cannot see the capacity it places jobs on.`,
          hint: 'Nodes and namespaces belong to no namespace: a ClusterRole and a ClusterRoleBinding grant them.',
        }),
        criterion('confined', outside.length === 0, {
          pass: 'aws-batch may change nothing outside its namespace.',
          fail: `aws-batch may ${describeRights(outside)}: outside its namespace, Batch only reads.`,
          hint: bound,
        }),
        criterion('no-secrets', secrets.length === 0, {
          pass: 'aws-batch may not read Secrets.',
          fail: `aws-batch may ${describeRights(secrets)}: Batch never reads Secrets (the kubelet pulls images and mounts Secrets for the pods itself).`,
          hint: bound,
        }),
        criterion('no-wildcards', wildcards.length === 0, {
          pass: 'No rule grants aws-batch a wildcard.',
          fail: `aws-batch is granted a wildcard: it may ${describeRights(wildcards)}, which covers verbs and resources that do not exist yet.`,
          hint: bound,
        }),
        criterion('nothing-else', rest.length === 0, {
          pass: `aws-batch may do nothing else in ${namespace}.`,
          fail: `aws-batch may also ${describeRights(rest)}, which AWS Batch does not need.`,
          hint: can,
        }),
      ];
    },
  },
});
