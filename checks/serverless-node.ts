/**
 * Serverless-style node: batch-api goes to the cluster's one tainted virtual
 * node and nowhere else, sized and shaped for a Fargate-like data plane. The
 * placement is read the way the scheduler reads it (every form of toleration,
 * nodeSelector and required node affinity counts; a preference does not),
 * then checked against where the pods landed. A container is sized when
 * Kubernetes gives it CPU and memory requests: its own, or its limits, which
 * requests default to. Refused is what Fargate refuses: privileged
 * containers, host networking and host ports, in any container list.
 */
import type { V1Container, V1Node, V1Taint } from '@kubernetes/client-node';
import { rolledOut } from '../cluster/src/kube.ts';
import { criterion, defineCheck, missing } from './lib/check.ts';
import { eligibleNodes, prefersLabel, toleratesTaint } from './lib/place-scheduling.ts';
import { awaitRollout, livePods, nodesByName, plural } from './lib/workloads.ts';

const KEY = 'eks.amazonaws.com/compute-type';
/** Rolling to one node with room for every learner's pods can take a while on a busy cluster. */
const BUSY_ROLLOUT_WAIT_MS = 12_000;
const TAINT: V1Taint = { key: KEY, value: 'fargate', effect: 'NoSchedule' };

function isVirtual(node: V1Node | undefined): boolean {
  return node?.metadata?.labels?.[KEY] === 'fargate';
}

/** What the container lacks of a CPU and a memory request, once limits have defaulted them. */
function unsized(c: V1Container): string[] {
  const lacks: string[] = [];
  for (const resource of ['cpu', 'memory']) {
    if (!c.resources?.requests?.[resource] && !c.resources?.limits?.[resource]) lacks.push(resource);
  }
  return lacks;
}

export default defineCheck({
  lab: 'serverless-node',
  steps: {
    async 'run-on-virtual-node'(ctx) {
      const api = await awaitRollout(ctx, 'batch-api', ctx.ns(), BUSY_ROLLOUT_WAIT_MS);
      if (!api) return [missing('toleration', 'The Deployment batch-api', 'Was it deleted? Reset the lab to get it back.')];
      const pod = api.spec?.template.spec;
      const tolerates = (pod?.tolerations ?? []).some((t) => toleratesTaint(t, TAINT));
      const containers = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
      const lacking = containers.map((c) => ({ name: c.name, lacks: unsized(c) })).filter((c) => c.lacks.length > 0);

      const refused: string[] = [];
      for (const c of containers) {
        if (c.securityContext?.privileged) refused.push(`${c.name} is privileged`);
        const hostPorts = (c.ports ?? []).filter((p) => p.hostPort).map((p) => p.hostPort);
        if (hostPorts.length > 0) refused.push(`${c.name} asks for host port ${hostPorts.join(', ')}`);
      }
      if (pod?.hostNetwork) refused.push('the pod uses the host network');

      const [pods, nodes] = await Promise.all([livePods(ctx, api), nodesByName(ctx)]);
      const eligible = eligibleNodes(pod, nodes.values());
      const onlyVirtual = eligible.length > 0 && eligible.every(isVirtual);
      const others = eligible.filter((n) => !isVirtual(n)).map((n) => n.metadata?.name);
      const elsewhere = pods.filter((p) => !isVirtual(nodes.get(p.spec?.nodeName ?? '')));
      const want = api.spec?.replicas ?? 1;
      const available = api.status?.availableReplicas ?? 0;
      const look = '`kubectl get deployment batch-api -o yaml` and look under spec.template.spec.';
      let selectFail = `batch-api's pods may not go to any node: its node selector or required affinity admits none it tolerates.`;
      if (others.length > 0)
        selectFail = prefersLabel(pod, KEY, ['fargate'])
          ? `batch-api only prefers the virtual node (preferredDuringSchedulingIgnoredDuringExecution): its pods may still go to ${plural(others.length, 'other node')}.`
          : `batch-api does not select the virtual node: its pods may also go to ${plural(others.length, 'other node')} (${others.slice(0, 2).join(', ')}…). A toleration permits a node; a selector chooses it.`;
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
        criterion('selects-node', onlyVirtual, {
          pass: 'batch-api may be placed only on the virtual node.',
          fail: selectFail,
          hint: `${look} \`kubectl get node -l ${KEY}=fargate --show-labels\` shows what to select on.`,
          diff: [{ path: 'spec.template.spec.nodeSelector', expected: { [KEY]: 'fargate' }, actual: pod?.nodeSelector }],
        }),
        criterion('requests', lacking.length === 0, {
          pass: 'Every container asks for CPU and memory.',
          fail: `${lacking.map((c) => `The container ${c.name} has no ${c.lacks.join(' or ')} request`).join('; ')} in the Deployment (nor a limit, which the request would default to): no CPU and memory requests means nothing to size the pod by, and Fargate sizes and bills each pod by them.`,
          hint: 'The sandbox’s LimitRange fills in defaults on the pods; the check reads the Deployment’s own template. `kubectl explain deployment.spec.template.spec.containers.resources`',
        }),
        criterion('not-privileged', refused.length === 0, {
          pass: 'Nothing in batch-api is of the kind Fargate refuses (privileged containers, host network, host ports).',
          fail: `In batch-api, ${refused.join('; ')}: Fargate refuses pods like that.`,
          hint: '`kubectl explain deployment.spec.template.spec.containers.securityContext`, and look at hostNetwork and ports[].hostPort.',
        }),
        criterion('on-virtual-node', elsewhere.length === 0 && pods.length > 0 && rolledOut(api), {
          pass: `All ${plural(available, 'replica')} run on the virtual node.`,
          fail:
            elsewhere.length > 0
              ? `${plural(elsewhere.length, 'pod')} of batch-api ${elsewhere.length === 1 ? 'is' : 'are'} not on the virtual node (${elsewhere.map((p) => p.spec?.nodeName || 'not scheduled').join(', ')}).`
              : rolledOut(api)
                ? `${plural(available, 'replica')} of ${want} ${available === 1 ? 'is' : 'are'} available.`
                : `batch-api's rollout is still under way (${plural(available, 'replica')} of ${want} available): check again in a moment.`,
          hint: '`kubectl get pods -l app=batch-api -o wide`, and `kubectl describe pod` for a pod that is not running.',
        }),
      ];
    },
  },
});
