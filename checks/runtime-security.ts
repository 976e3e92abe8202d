import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { rolledOut } from '../cluster/src/kube.ts';
import { criterion, defineCheck, missing } from './lib/check.ts';
import { awaitRollout } from './lib/workloads.ts';

const PSA = 'pod-security.kubernetes.io';

export default defineCheck({
  lab: 'runtime-security',
  steps: {
    async restricted(ctx) {
      const name = ctx.ns();
      const [namespace, web] = await Promise.all([ctx.get<V1Namespace>('v1', 'Namespace', name), awaitRollout(ctx, 'web')]);
      if (!web) return [missing('workload', 'The Deployment web', 'Was it deleted? Reset the lab to get it back.')];
      const labels = namespace?.metadata?.labels ?? {};
      const enforce = labels[`${PSA}/enforce`];
      const version = labels[`${PSA}/enforce-version`];
      const enforced = enforce === 'restricted' && version !== undefined && version !== 'latest';

      const pod = web.spec?.template.spec;
      const containers = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
      const problems = containers.flatMap((c) => {
        const sc = c.securityContext;
        return [
          (sc?.runAsNonRoot ?? pod?.securityContext?.runAsNonRoot) === true ? '' : `${c.name}: runAsNonRoot is not true`,
          sc?.allowPrivilegeEscalation === false ? '' : `${c.name}: allowPrivilegeEscalation is not false`,
          sc?.capabilities?.drop?.includes('ALL') ? '' : `${c.name}: capabilities are not all dropped`,
          ['RuntimeDefault', 'Localhost'].includes(sc?.seccompProfile?.type ?? pod?.securityContext?.seccompProfile?.type ?? '')
            ? ''
            : `${c.name}: no RuntimeDefault seccomp profile`,
          c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.cpu && c.resources.limits.memory
            ? ''
            : `${c.name}: CPU and memory requests and limits are not all set`,
        ].filter(Boolean);
      });

      const privileged: V1Pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'privileged-probe', namespace: name },
        spec: { containers: [{ name: 'c', image: 'public.ecr.aws/nginx/nginx:1.27', securityContext: { privileged: true } }] },
      };
      const refusal = await ctx.admits(privileged);
      const look = '`kubectl get namespace <namespace> --show-labels`';
      return [
        criterion('enforced', enforced, {
          pass: `${name} enforces restricted, pinned to ${version}.`,
          fail:
            enforce !== 'restricted' && labels[`${PSA}/warn`] === 'restricted'
              ? `The namespace only warns about restricted (it enforces ${enforce ?? 'nothing'}): every violating pod is still admitted.`
              : enforce !== 'restricted'
                ? `The namespace enforces ${enforce ?? 'no level'}, not restricted: pods running as root or with all capabilities are admitted.`
                : `The namespace enforces restricted at version ${version ?? 'latest (unpinned)'}: pin it to a version, so an upgrade does not change the rules under you.`,
          hint: look,
          diff: [
            { path: `metadata.labels.${PSA}/enforce`, expected: 'restricted', actual: enforce },
            { path: `metadata.labels.${PSA}/enforce-version`, expected: 'a version such as v1.36', actual: version },
          ],
        }),
        criterion('workload', problems.length === 0, {
          pass: 'The pods of web meet restricted.',
          fail: `The Deployment web: ${problems.join('; ')}.`,
          hint: '`kubectl explain deployment.spec.template.spec.containers.securityContext`',
        }),
        criterion('available', rolledOut(web), {
          pass: 'web is rolled out and available.',
          fail: 'The Deployment web is not fully rolled out: under restricted, its new pods may be refused.',
          hint: '`kubectl describe replicaset -l app=web` shows the refusals.',
        }),
        criterion('privileged-refused', !refusal.allowed, {
          pass: 'A privileged pod is refused in the namespace.',
          fail: 'A privileged pod is still admitted in the namespace.',
          hint: look,
        }),
      ];
    },
  },
});
