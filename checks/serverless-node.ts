import { criterion, defineCheck, missing } from './lib/check.ts';
import { awaitRollout, livePods, nodesByName, plural } from './lib/workloads.ts';

const KEY = 'eks.amazonaws.com/compute-type';

export default defineCheck({
  lab: 'serverless-node',
  steps: {
    async 'run-on-virtual-node'(ctx) {
      const api = await awaitRollout(ctx, 'batch-api');
      if (!api) return [missing('toleration', 'The Deployment batch-api', 'Was it deleted? Reset the lab to get it back.')];
      const pod = api.spec?.template.spec;
      const tolerates = (pod?.tolerations ?? []).some(
        (t) =>
          (t.key === KEY && (t.operator === 'Exists' || t.value === 'fargate') && (!t.effect || t.effect === 'NoSchedule')) ||
          (t.operator === 'Exists' && !t.key),
      );
      const containers = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
      const unsized = containers.filter((c) => !c.resources?.requests?.cpu || !c.resources?.requests?.memory).map((c) => c.name);
      const privileged = containers
        .filter((c) => c.securityContext?.privileged || c.securityContext?.allowPrivilegeEscalation !== false)
        .map((c) => c.name);
      const [pods, nodes] = await Promise.all([livePods(ctx, api), nodesByName(ctx)]);
      const elsewhere = pods.filter((p) => nodes.get(p.spec?.nodeName ?? '')?.metadata?.labels?.[KEY] !== 'fargate');
      const want = api.spec?.replicas ?? 1;
      const available = api.status?.availableReplicas ?? 0;
      const look = '`kubectl get deployment batch-api -o yaml` and look under spec.template.spec.';
      return [
        criterion('toleration', tolerates, {
          pass: 'batch-api tolerates the virtual node’s taint.',
          fail: `batch-api does not tolerate the taint ${KEY}=fargate:NoSchedule, so no pod of it may run on the virtual node.`,
          hint: look,
          diff: [
            {
              path: 'spec.template.spec.tolerations',
              expected: [{ key: KEY, value: 'fargate', effect: 'NoSchedule' }],
              actual: pod?.tolerations,
            },
          ],
        }),
        criterion('requests', unsized.length === 0, {
          pass: 'Every container asks for CPU and memory.',
          fail: `The container${unsized.length === 1 ? '' : 's'} ${unsized.join(', ')} of batch-api ${unsized.length === 1 ? 'has' : 'have'} no CPU and memory requests in the Deployment: on Fargate, requests are what the pod is sized and billed by.`,
          hint: 'The sandbox’s LimitRange fills in defaults on the pods; the check reads the Deployment’s own template.',
        }),
        criterion('not-privileged', privileged.length === 0, {
          pass: 'No container is privileged or may escalate privileges.',
          fail: `The container${privileged.length === 1 ? '' : 's'} ${privileged.join(', ')} may run privileged or escalate privileges; Fargate refuses privileged pods. Set allowPrivilegeEscalation: false.`,
          hint: '`kubectl explain deployment.spec.template.spec.containers.securityContext`',
        }),
        criterion('on-virtual-node', elsewhere.length === 0 && pods.length > 0 && available === want, {
          pass: `All ${plural(available, 'replica')} run on the virtual node.`,
          fail:
            elsewhere.length > 0
              ? `${plural(elsewhere.length, 'pod')} of batch-api ${elsewhere.length === 1 ? 'is' : 'are'} not on the virtual node (${elsewhere.map((p) => p.spec?.nodeName ?? 'unscheduled').join(', ')}).`
              : `${plural(available, 'replica')} of ${want} ${available === 1 ? 'is' : 'are'} available.`,
          hint: '`kubectl get pods -l app=batch-api -o wide`; a toleration permits the node, a node selector or affinity chooses it.',
        }),
      ];
    },
  },
});
