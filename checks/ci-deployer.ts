import type { V1ClusterRoleBinding, V1RoleBinding } from '@kubernetes/client-node';
import { criterion, defineCheck } from './lib/check.ts';

export default defineCheck({
  lab: 'ci-deployer',
  steps: {
    async 'least-privilege'(ctx) {
      const namespace = ctx.ns();
      const sa = { serviceAccount: 'ci-deployer', namespace };
      const [kubeSystem, create, update, del, secrets, clusterBindings, bindings] = await Promise.all([
        ctx.can(sa, { verb: 'create', resource: 'pods', namespace: 'kube-system' }),
        ctx.can(sa, { verb: 'create', resource: 'deployments', group: 'apps', namespace }),
        ctx.can(sa, { verb: 'update', resource: 'deployments', group: 'apps', namespace }),
        ctx.can(sa, { verb: 'delete', resource: 'deployments', group: 'apps', namespace }),
        ctx.can(sa, { verb: 'get', resource: 'secrets', namespace }),
        ctx.list<V1ClusterRoleBinding>('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'),
        ctx.list<V1RoleBinding>('rbac.authorization.k8s.io/v1', 'RoleBinding', namespace),
      ]);
      const isCiDeployer = (s: { kind: string; name: string; namespace?: string }) =>
        s.kind === 'ServiceAccount' && s.name === 'ci-deployer' && s.namespace === namespace;
      const toAdmin = [...clusterBindings, ...bindings]
        .filter((b) => b.roleRef.kind === 'ClusterRole' && b.roleRef.name === 'cluster-admin')
        .filter((b) => (b.subjects ?? []).some((s) => isCiDeployer({ ...s, namespace: s.namespace ?? b.metadata?.namespace ?? '' })))
        .map((b) => `${b.kind ?? (b.metadata?.namespace ? 'RoleBinding' : 'ClusterRoleBinding')} ${b.metadata?.name}`);
      const can = '`kubectl auth can-i --list --as system:serviceaccount:<namespace>:ci-deployer`';
      return [
        criterion('no-kube-system', !kubeSystem, {
          pass: 'ci-deployer may not create pods in kube-system.',
          fail: 'ci-deployer may create pods in kube-system: whoever steals the pipeline’s token can run anything next to the cluster’s own components.',
          hint: can,
          diff: [{ path: 'can-i create pods -n kube-system', expected: 'no', actual: 'yes' }],
        }),
        criterion('deployments', create && update && del, {
          pass: 'ci-deployer may create, update and delete Deployments in its namespace.',
          fail: 'ci-deployer may no longer manage Deployments in its own namespace, and the pipeline needs to.',
          hint: can,
        }),
        criterion('no-secrets', !secrets, {
          pass: 'ci-deployer may not read Secrets.',
          fail: 'ci-deployer may read the Secrets of its namespace; deploying needs no Secrets.',
          hint: can,
        }),
        criterion('no-cluster-admin', toAdmin.length === 0, {
          pass: 'Nothing binds ci-deployer to cluster-admin.',
          fail: `ci-deployer is still bound to cluster-admin by ${toAdmin.join(', ')}: a new narrow Role takes nothing away.`,
          hint: '`kubectl get clusterrolebindings -o wide`',
        }),
      ];
    },
  },
});
