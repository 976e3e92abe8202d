/**
 * ci-deployer: the pipeline's ServiceAccount manages Deployments in its own
 * namespace and nothing else. The authorizer is asked a matrix (every verb
 * on Deployments here, the same and a sample of other rights in kube-system,
 * default and cluster-wide), so a ClusterRoleBinding of a Deployments role
 * fails as surely as one of cluster-admin; the bindings are read too, to
 * name the one to cluster-admin that must go.
 */
import type { V1ClusterRoleBinding, V1RoleBinding } from '@kubernetes/client-node';
import { type Access, criterion, defineCheck } from './lib/check.ts';
import { askMatrix, beyondTheTask, describeRights, EVERY_VERB, rights, WRITE_VERBS } from './lib/rbac-matrix.ts';

const OTHERS = ['kube-system', 'default'];
const MANAGE = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

export default defineCheck({
  lab: 'ci-deployer',
  steps: {
    async 'least-privilege'(ctx) {
      const namespace = ctx.ns();
      const sa = { serviceAccount: 'ci-deployer', namespace };
      const need = rights(MANAGE, 'deployments.apps', namespace);
      const refuse = [
        ...OTHERS.flatMap((ns) => [...rights(EVERY_VERB, 'deployments.apps', ns)]),
        ...rights(['list', 'create'], 'deployments.apps'),
        ...['pods', 'replicasets.apps', 'services', 'configmaps', 'daemonsets.apps'].flatMap((r) => rights(WRITE_VERBS, r, namespace)),
        ...beyondTheTask({ own: [namespace], others: OTHERS }, ['deployments.apps']),
      ];
      const [{ lacking, extra }, clusterBindings, bindings] = await Promise.all([
        askMatrix(ctx, sa, { need, refuse }),
        ctx.list<V1ClusterRoleBinding>('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'),
        ctx.list<V1RoleBinding>('rbac.authorization.k8s.io/v1', 'RoleBinding', namespace),
      ]);
      const isCiDeployer = (s: { kind: string; name: string; namespace?: string }) =>
        s.kind === 'ServiceAccount' && s.name === 'ci-deployer' && s.namespace === namespace;
      const toAdmin = [...clusterBindings, ...bindings]
        .filter((b) => b.roleRef.kind === 'ClusterRole' && b.roleRef.name === 'cluster-admin')
        .filter((b) => (b.subjects ?? []).some((s) => isCiDeployer({ ...s, namespace: s.namespace ?? b.metadata?.namespace ?? '' })))
        .map((b) => `${b.metadata?.namespace ? `RoleBinding ${b.metadata.namespace}/` : 'ClusterRoleBinding '}${b.metadata?.name}`);
      const kubeSystem = extra.filter((a) => a.namespace === 'kube-system');
      const outside = extra.filter((a) => a.namespace !== namespace && a.namespace !== 'kube-system');
      const isSecrets = (a: Access) => a.resource === 'secrets';
      const secrets = extra.filter((a) => a.namespace === namespace && isSecrets(a));
      const rest = extra.filter((a) => a.namespace === namespace && !isSecrets(a));
      const can = '`kubectl auth can-i --list --as system:serviceaccount:<namespace>:ci-deployer`, and with `-n kube-system`';
      const bound = '`kubectl get rolebindings,clusterrolebindings -A -o wide | grep ci-deployer`';
      return [
        criterion('no-kube-system', kubeSystem.length === 0, {
          pass: 'ci-deployer may do nothing in kube-system.',
          fail: `ci-deployer may ${describeRights(kubeSystem)}: whoever steals the pipeline’s token can run anything next to the cluster’s own components.`,
          hint: can,
          diff: [{ path: 'can-i … -n kube-system', expected: 'no', actual: describeRights(kubeSystem) }],
        }),
        criterion('deployments', lacking.length === 0, {
          pass: 'ci-deployer may get, list, watch, create, update, patch and delete Deployments in its namespace.',
          fail: `ci-deployer may not ${describeRights(lacking)}, and the pipeline needs to.`,
          hint: can,
        }),
        criterion('confined', outside.length === 0, {
          pass: 'ci-deployer has no rights outside its namespace.',
          fail: `ci-deployer may ${describeRights(outside)}, outside its namespace: a ClusterRoleBinding grants a role in every namespace.`,
          hint: bound,
        }),
        criterion('no-secrets', secrets.length === 0, {
          pass: 'ci-deployer may not read Secrets.',
          fail: `ci-deployer may read the Secrets of its namespace (${describeRights(secrets)}); deploying needs no Secrets.`,
          hint: can,
        }),
        criterion('nothing-else', rest.length === 0, {
          pass: 'ci-deployer may do nothing in its namespace beyond managing Deployments.',
          fail: `ci-deployer may also ${describeRights(rest)}: the pipeline manages Deployments, and the Deployment controller makes the rest.`,
          hint: can,
        }),
        criterion('no-cluster-admin', toAdmin.length === 0, {
          pass: 'Nothing binds ci-deployer to cluster-admin.',
          fail: `ci-deployer is still bound to cluster-admin by ${toAdmin.join(', ')}: a new narrow Role takes nothing away.`,
          hint: bound,
        }),
      ];
    },
  },
});
