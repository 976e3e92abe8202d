/**
 * onboard-tenant: the namespace a tenant request names, labelled, with a
 * quota and default resources, and the team's group able to edit inside it
 * and nothing beyond. Quotas are compared as quantities (4 = 4000m, 8Gi =
 * 8192Mi) and `cpu` counts as `requests.cpu`; the defaults are proven by a
 * dry-run pod that sets none; the group's rights by a matrix of questions
 * to the authorizer, here, in other namespaces and cluster-wide.
 */
import type { V1ConfigMap, V1Namespace, V1Pod, V1ResourceQuota } from '@kubernetes/client-node';
import { type Access, criterion, defineCheck, missing } from './lib/check.ts';
import { quantity } from './lib/quantity.ts';
import { askMatrix, beyondTheTask, describeRights, rights } from './lib/rbac-matrix.ts';

/** The tightest hard limit the namespace's quotas set on a resource, under either of its names. */
function hardest(quotas: V1ResourceQuota[], names: string[]): number | undefined {
  const values = quotas
    .flatMap((q) => names.map((n) => q.spec?.hard?.[n]).filter((v) => v !== undefined))
    .map((v) => quantity(v) ?? Number.NaN);
  return values.length ? Math.min(...values) : undefined;
}

export default defineCheck({
  lab: 'onboard-tenant',
  steps: {
    async onboard(ctx) {
      const platform = ctx.ns();
      const request = await ctx.get<V1ConfigMap>('v1', 'ConfigMap', 'tenant-request', platform);
      const name = request?.data?.namespace;
      const group = request?.data?.group ?? 'team-payments';
      if (!name) return [missing('namespace', 'The ConfigMap tenant-request', 'Reset the lab to get the request back.')];
      const pod = (cpu?: string): V1Pod => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'quota-probe', namespace: name },
        spec: {
          initContainers: [{ name: 'init', image: 'public.ecr.aws/nginx/nginx:1.27' }],
          containers: [
            { name: 'c', image: 'public.ecr.aws/nginx/nginx:1.27', ...(cpu ? { resources: { requests: { cpu }, limits: { cpu } } } : {}) },
          ],
        },
      });
      const team = { group };
      const others = [platform, 'default', 'kube-system'];
      const need = [
        ...rights(['create', 'update', 'delete', 'list'], 'deployments.apps', name),
        ...rights(['create', 'delete', 'get', 'list'], 'pods', name),
        ...rights(['create', 'update', 'delete'], 'services', name),
        ...rights(['create', 'update', 'delete'], 'configmaps', name),
      ];
      const refuse: Access[] = [
        ...rights(['create', 'update', 'delete'], 'rolebindings.rbac.authorization.k8s.io', name),
        ...rights(['create', 'bind', 'escalate'], 'roles.rbac.authorization.k8s.io', name),
        ...rights(['bind'], 'clusterroles.rbac.authorization.k8s.io', name),
        ...rights(['create', 'update', 'patch', 'delete'], 'resourcequotas', name),
        ...rights(['create', 'update', 'patch', 'delete'], 'limitranges', name),
        ...rights(['update', 'patch', 'delete'], 'namespaces', name, name),
        ...rights(['*'], '*', name),
        ...others.flatMap((ns) => rights(['create', 'delete'], 'deployments.apps', ns)),
        ...beyondTheTask({ own: [], others }, ['pods']),
      ];
      // Everything at once: what exists, what admission does with a pod that
      // sets nothing and one over the quota, and what the team may do.
      const [namespace, quotas, plain, greedy, access] = await Promise.all([
        ctx.get<V1Namespace>('v1', 'Namespace', name),
        ctx.list<V1ResourceQuota>('v1', 'ResourceQuota', name),
        ctx.admits(pod()),
        ctx.admits(pod('64')),
        askMatrix(ctx, team, { need, refuse }),
      ]);
      if (!namespace) return [missing('namespace', `The namespace ${name}`, '`kubectl create namespace --help`')];
      const wantCpu = request?.data?.['requests.cpu'];
      const wantMemory = request?.data?.['requests.memory'];
      const cpu = hardest(quotas, ['requests.cpu', 'cpu']);
      const memory = hardest(quotas, ['requests.memory', 'memory']);
      const quotaRight = cpu === quantity(wantCpu) && memory === quantity(wantMemory);

      const probe = plain.object as V1Pod | undefined;
      const undefaulted = [...(probe?.spec?.initContainers ?? []), ...(probe?.spec?.containers ?? [])]
        .filter((c) => {
          const r = c.resources;
          return !(r?.requests?.cpu && r.requests.memory && r.limits?.cpu && r.limits.memory);
        })
        .map((c) => c.name);

      const inside = access.extra.filter((a) => a.namespace === name);
      const outside = access.extra.filter((a) => a.namespace !== name);
      const reach = `\`kubectl auth can-i --list -n <namespace> --as someone --as-group ${group}\``;
      return [
        criterion('namespace', namespace.metadata?.labels?.team === 'payments', {
          pass: `The namespace ${name} exists, labelled team=payments.`,
          fail: `The namespace ${name} is not labelled team=payments.`,
          hint: '`kubectl get namespace --show-labels`',
          diff: [{ path: 'metadata.labels.team', expected: 'payments', actual: namespace.metadata?.labels?.team }],
        }),
        criterion('quota', quotaRight && !greedy.allowed, {
          pass: `A ResourceQuota caps ${name} at the requested CPU and memory, and a pod over it is refused.`,
          fail: quotaRight
            ? `A pod asking for 64 CPUs is still accepted in ${name}.`
            : `The ResourceQuotas of ${name} cap requests.cpu at ${cpu ?? 'nothing'} and requests.memory at ${memory ?? 'nothing'} (as numbers); the request asks for ${wantCpu} CPU and ${wantMemory} of memory.`,
          hint: '`kubectl describe quota -n <namespace>`; 8G and 8Gi are not the same amount.',
          diff: [
            {
              path: 'ResourceQuota spec.hard',
              expected: { 'requests.cpu': wantCpu, 'requests.memory': wantMemory },
              actual: quotas.map((q) => q.spec?.hard),
            },
          ],
        }),
        criterion('defaults', plain.allowed && undefaulted.length === 0, {
          pass: 'A container that sets no resources gets default requests and limits.',
          fail: plain.allowed
            ? `In ${name}, the containers ${undefaulted.join(', ')} of a pod that sets no resources get no default CPU and memory requests and limits: no LimitRange gives them.`
            : `A pod that sets no resources is refused in ${name}: ${plain.reason}`,
          hint: '`kubectl explain limitrange.spec.limits`; try `kubectl run probe --image=public.ecr.aws/nginx/nginx:1.27 --dry-run=server -o yaml -n <namespace>`.',
        }),
        criterion('team-access', access.lacking.length === 0, {
          pass: `${group} may manage workloads in ${name}.`,
          fail: `The group ${group} may not yet ${describeRights(access.lacking)}.`,
          hint: reach,
        }),
        criterion('confined', access.extra.length === 0, {
          pass: `${group} has no rights outside its namespace and cannot change its RoleBindings, quota or limits.`,
          fail:
            outside.length > 0
              ? `The group ${group} may ${describeRights(outside)}, outside its namespace: the grant reaches beyond ${name}.`
              : `The group ${group} may ${describeRights(inside)}: with RoleBindings it can hand its rights to anyone, and with the quota it can lift its own limits.`,
          hint: reach,
        }),
      ];
    },
  },
});
