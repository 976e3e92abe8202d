/**
 * Move to Graviton: catalog's pods may be placed only on arm64 nodes, by a
 * rule the scheduler enforces (a nodeSelector or a required node affinity on
 * kubernetes.io/arch, in any of their forms), and its three replicas run
 * there. A preference, a pin to one node by name, and terms that an ORed
 * sibling widens to any architecture are refused with what is wrong.
 */
import { rolledOut } from '../cluster/src/kube.ts';
import { criterion, defineCheck, failed, missing, passed } from './lib/check.ts';
import { prefersLabel, requiresLabel } from './lib/place-scheduling.ts';
import { awaitRollout, livePods, nodesByName, plural } from './lib/workloads.ts';

const ARCH = 'kubernetes.io/arch';
/** The architectures of EKS nodes other than arm64: NotIn these admits only arm64. */
const OTHER_ARCHES = ['amd64'];
/** Moving three pods to other nodes can take a while on a busy cluster. */
const BUSY_ROLLOUT_WAIT_MS = 12_000;

export default defineCheck({
  lab: 'move-to-graviton',
  steps: {
    async 'arm64-only'(ctx) {
      const catalog = await awaitRollout(ctx, 'catalog', ctx.ns(), BUSY_ROLLOUT_WAIT_MS);
      if (!catalog) return [missing('required-affinity', 'The Deployment catalog', 'Was it deleted? Reset the lab to get it back.')];
      const pod = catalog.spec?.template.spec;
      const terms = pod?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
      const required = requiresLabel(pod, ARCH, ['arm64'], OTHER_ARCHES);
      const archTerms = terms.filter((t) => (t.matchExpressions ?? []).some((e) => e.key === ARCH));
      const hint = '`kubectl get deployment catalog -o yaml` and look under spec.template.spec.';
      let affinity = passed('required-affinity', 'catalog requires arm64 nodes.');
      if (pod?.nodeName) {
        affinity = failed(
          'required-affinity',
          `catalog pins every pod to the node ${pod.nodeName} with nodeName: that skips the scheduler, and the pods go down with that one node.`,
          hint,
          [{ path: 'spec.template.spec.nodeName', expected: undefined, actual: pod.nodeName }],
        );
      } else if (!required) {
        let why = `catalog has no nodeSelector or required node affinity on ${ARCH}=arm64.`;
        if (pod?.nodeSelector?.[ARCH] !== undefined) why = `catalog's nodeSelector asks for ${ARCH}=${pod.nodeSelector[ARCH]}, not arm64.`;
        else if (archTerms.length > 0 && archTerms.length < terms.length)
          why = `One of catalog's ${terms.length} nodeSelectorTerms says nothing about ${ARCH}: terms are ORed, so that one admits amd64 nodes too.`;
        else if (archTerms.length > 0)
          why = `catalog's required node affinity on ${ARCH} admits amd64 too: it must admit arm64 and nothing else.`;
        else if (prefersLabel(pod, ARCH, ['arm64']))
          why =
            'catalog only prefers arm64 (preferredDuringSchedulingIgnoredDuringExecution): when arm64 nodes are busy the scheduler still uses amd64.';
        affinity = failed('required-affinity', why, hint, [
          {
            path: 'spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution',
            expected: { nodeSelectorTerms: [{ matchExpressions: [{ key: ARCH, operator: 'In', values: ['arm64'] }] }] },
            actual: pod?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
          },
          { path: 'spec.template.spec.nodeSelector', expected: `{ ${ARCH}: arm64 } (or the affinity above)`, actual: pod?.nodeSelector },
        ]);
      }
      const [pods, nodes] = await Promise.all([livePods(ctx, catalog), nodesByName(ctx)]);
      const unscheduled = pods.filter((p) => !p.spec?.nodeName);
      const elsewhere = pods.filter((p) => nodes.get(p.spec?.nodeName ?? '')?.metadata?.labels?.[ARCH] !== 'arm64');
      const available = catalog.status?.availableReplicas ?? 0;
      const want = catalog.spec?.replicas ?? 1;
      return [
        affinity,
        criterion('on-arm64', elsewhere.length === 0 && available >= 3 && want >= 3 && rolledOut(catalog), {
          pass: `All ${plural(available, 'replica')} run on arm64 nodes.`,
          fail:
            unscheduled.length > 0
              ? `${plural(unscheduled.length, 'pod')} of catalog cannot be scheduled: no node meets ${unscheduled.length === 1 ? 'its' : 'their'} constraints (\`kubectl describe pod ${unscheduled[0]?.metadata?.name}\` shows why).`
              : !rolledOut(catalog) && want >= 3
                ? `catalog's rollout is still under way (${plural(available, 'replica')} available): check again once \`kubectl rollout status deployment/catalog\` says it is done.`
                : elsewhere.length > 0
                  ? `${plural(elsewhere.length, 'pod')} of catalog ${elsewhere.length === 1 ? 'runs' : 'run'} on a node that is not arm64 (${elsewhere.map((p) => p.spec?.nodeName ?? 'not scheduled').join(', ')}).`
                  : `${plural(available, 'replica')} of catalog ${available === 1 ? 'is' : 'are'} available; it needs 3.`,
          hint: '`kubectl get pods -l app=catalog -o wide` shows where each pod runs.',
        }),
      ];
    },
  },
});
