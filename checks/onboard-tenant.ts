import type { V1ConfigMap, V1LimitRange, V1Namespace, V1Pod, V1ResourceQuota } from '@kubernetes/client-node';
import { criterion, defineCheck, missing } from './lib/check.ts';

/** Quantities as the API returns them may be written differently ("8Gi", "8192Mi"); compare their value. */
function quantity(value: string | undefined): number {
  if (value === undefined) return Number.NaN;
  const match = /^([0-9.]+)([a-zA-Z]*)$/.exec(value);
  if (!match) return Number.NaN;
  const units: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return Number(match[1]) * (units[match[2] ?? ''] ?? Number.NaN);
}

export default defineCheck({
  lab: 'onboard-tenant',
  steps: {
    async onboard(ctx) {
      const request = await ctx.get<V1ConfigMap>('v1', 'ConfigMap', 'tenant-request', ctx.ns());
      const name = request?.data?.namespace;
      const group = request?.data?.group ?? 'team-payments';
      if (!name) return [missing('namespace', 'The ConfigMap tenant-request', 'Reset the lab to get the request back.')];
      const pod = (cpu?: string): V1Pod => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'quota-probe', namespace: name },
        spec: {
          containers: [
            { name: 'c', image: 'public.ecr.aws/nginx/nginx:1.27', ...(cpu ? { resources: { requests: { cpu }, limits: { cpu } } } : {}) },
          ],
        },
      });
      const team = { group };
      // Everything at once: what exists, what admission does with a pod that
      // sets nothing and one over the quota, and what the team may do.
      const [namespace, quotas, limitRanges, plain, greedy, edits, elsewhere, rbac] = await Promise.all([
        ctx.get<V1Namespace>('v1', 'Namespace', name),
        ctx.list<V1ResourceQuota>('v1', 'ResourceQuota', name),
        ctx.list<V1LimitRange>('v1', 'LimitRange', name),
        ctx.admits(pod()),
        ctx.admits(pod('64')),
        ctx.can(team, { verb: 'create', resource: 'deployments', group: 'apps', namespace: name }),
        ctx.can(team, { verb: 'create', resource: 'deployments', group: 'apps', namespace: ctx.ns() }),
        ctx.can(team, { verb: 'create', resource: 'rolebindings', group: 'rbac.authorization.k8s.io', namespace: name }),
      ]);
      if (!namespace) return [missing('namespace', `The namespace ${name}`, '`kubectl create namespace --help`')];
      const wantCpu = request?.data?.['requests.cpu'];
      const wantMemory = request?.data?.['requests.memory'];
      const quota = quotas.find(
        (q) =>
          quantity(q.spec?.hard?.['requests.cpu']) === quantity(wantCpu) &&
          quantity(q.spec?.hard?.['requests.memory']) === quantity(wantMemory),
      );
      const defaults = limitRanges.some((r) =>
        (r.spec?.limits ?? []).some((l) => l.type === 'Container' && l.defaultRequest && l._default),
      );

      const defaulted = (plain.object as V1Pod | undefined)?.spec?.containers[0]?.resources?.requests;

      const reach = `\`kubectl auth can-i create deployments -n <namespace> --as someone --as-group ${group}\``;
      return [
        criterion('namespace', namespace.metadata?.labels?.team === 'payments', {
          pass: `The namespace ${name} exists, labelled team=payments.`,
          fail: `The namespace ${name} is not labelled team=payments.`,
          hint: '`kubectl get namespace --show-labels`',
          diff: [{ path: 'metadata.labels.team', expected: 'payments', actual: namespace.metadata?.labels?.team }],
        }),
        criterion('quota', quota !== undefined && !greedy.allowed, {
          pass: `A ResourceQuota caps ${name} at the requested CPU and memory, and a pod over it is refused.`,
          fail: quota
            ? `A pod asking for 64 CPUs is still accepted in ${name}.`
            : `No ResourceQuota in ${name} sets requests.cpu ${wantCpu} and requests.memory ${wantMemory}.`,
          hint: '`kubectl describe quota -n <namespace>`',
          diff: [
            {
              path: 'ResourceQuota spec.hard',
              expected: { 'requests.cpu': wantCpu, 'requests.memory': wantMemory },
              actual: quotas.map((q) => q.spec?.hard),
            },
          ],
        }),
        criterion('defaults', defaults && plain.allowed && Boolean(defaulted?.cpu && defaulted.memory), {
          pass: 'A container that sets no resources gets default requests and limits.',
          fail: plain.allowed
            ? `A container that sets no resources gets no default requests in ${name}: no LimitRange gives them.`
            : `A plain pod is refused in ${name}: ${plain.reason}`,
          hint: '`kubectl explain limitrange.spec.limits`',
        }),
        criterion('team-access', edits, {
          pass: `${group} may create Deployments in ${name}.`,
          fail: `The group ${group} may not create Deployments in ${name}.`,
          hint: reach,
        }),
        criterion('confined', !elsewhere && !rbac, {
          pass: `${group} has no rights outside its namespace and cannot change RoleBindings.`,
          fail: elsewhere
            ? `The group ${group} may create Deployments outside its namespace too: the grant is cluster-wide.`
            : `The group ${group} may create RoleBindings in ${name}, and so hand its rights to anyone.`,
          hint: reach,
        }),
      ];
    },
  },
});
