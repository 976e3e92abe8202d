import type { V1ClusterRole, V1ClusterRoleBinding, V1PolicyRule, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import { type CheckContext, criterion, defineCheck } from './lib/check.ts';

/** The rules of every role bound to the ServiceAccount, named by where they come from. */
async function boundRules(ctx: CheckContext, name: string, namespace: string): Promise<Array<{ role: string; rule: V1PolicyRule }>> {
  const [clusterBindings, bindings] = await Promise.all([
    ctx.list<V1ClusterRoleBinding>('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'),
    ctx.list<V1RoleBinding>('rbac.authorization.k8s.io/v1', 'RoleBinding', namespace),
  ]);
  const bindsIt = (b: V1ClusterRoleBinding | V1RoleBinding) =>
    (b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === name && (s.namespace ?? b.metadata?.namespace) === namespace);
  const refs = [...clusterBindings, ...bindings].filter(bindsIt).map((b) => ({ ...b.roleRef, namespace: b.metadata?.namespace }));
  const roles = await Promise.all(
    refs.map(async (ref) => {
      const role =
        ref.kind === 'ClusterRole'
          ? await ctx.get<V1ClusterRole>('rbac.authorization.k8s.io/v1', 'ClusterRole', ref.name)
          : await ctx.get<V1Role>('rbac.authorization.k8s.io/v1', 'Role', ref.name, ref.namespace);
      return (role?.rules ?? []).map((rule) => ({ role: `${ref.kind} ${ref.name}`, rule }));
    }),
  );
  return roles.flat();
}

export default defineCheck({
  lab: 'batch-engine-permissions',
  steps: {
    async 'scheduler-rbac'(ctx) {
      const namespace = ctx.ns();
      const sa = { serviceAccount: 'batch-scheduler', namespace };
      const verbs = ['create', 'get', 'list', 'watch', 'delete'];
      const [here, kubeSystem, defaultNs, nodes, secrets, rules] = await Promise.all([
        Promise.all(verbs.map((verb) => ctx.can(sa, { verb, resource: 'pods', namespace }))),
        ctx.can(sa, { verb: 'create', resource: 'pods', namespace: 'kube-system' }),
        ctx.can(sa, { verb: 'create', resource: 'pods', namespace: 'default' }),
        Promise.all(['get', 'list', 'watch'].map((verb) => ctx.can(sa, { verb, resource: 'nodes' }))),
        ctx.can(sa, { verb: 'get', resource: 'secrets', namespace }),
        boundRules(ctx, 'batch-scheduler', namespace),
      ]);
      const lacking = verbs.filter((_, i) => !here[i]);
      const wildcards = [
        ...new Set(
          rules
            .filter(({ rule }) => [...rule.verbs, ...(rule.resources ?? []), ...(rule.apiGroups ?? [])].includes('*'))
            .map(({ role }) => role),
        ),
      ];
      const can = '`kubectl auth can-i --list --as system:serviceaccount:<namespace>:batch-scheduler`';
      return [
        criterion('pods-here', lacking.length === 0, {
          pass: 'batch-scheduler may run and remove pods in its namespace.',
          fail: `batch-scheduler may not yet ${lacking.join(', ')} pods in ${namespace}.`,
          hint: can,
        }),
        criterion('confined', !kubeSystem && !defaultNs, {
          pass: 'batch-scheduler may not create pods in other namespaces.',
          fail: `batch-scheduler may create pods in ${kubeSystem ? 'kube-system' : 'default'}: pods in kube-system run beside the cluster's own components.`,
          hint: can,
        }),
        criterion('nodes', nodes.every(Boolean), {
          pass: 'batch-scheduler may see the nodes.',
          fail: 'batch-scheduler may not get, list and watch nodes, so it cannot see where work can go.',
          hint: 'Nodes are cluster-wide: a Role cannot grant them.',
        }),
        criterion('no-secrets', !secrets, {
          pass: 'batch-scheduler may not read Secrets.',
          fail: `batch-scheduler may read the Secrets of ${namespace}.`,
          hint: can,
        }),
        criterion('no-wildcards', wildcards.length === 0, {
          pass: 'No role of batch-scheduler uses a wildcard.',
          fail: `${wildcards.join(', ')} grant${wildcards.length === 1 ? 's' : ''} batch-scheduler a wildcard (*): it covers verbs and resources that do not exist yet.`,
          hint: '`kubectl get rolebindings,clusterrolebindings -A -o wide | grep batch-scheduler`',
        }),
      ];
    },
  },
});
