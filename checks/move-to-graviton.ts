import type { V1NodeSelectorRequirement } from '@kubernetes/client-node';
import { criterion, defineCheck, failed, missing, passed } from './lib/check.ts';
import { awaitRollout, livePods, nodesByName, plural } from './lib/workloads.ts';

const ARCH = 'kubernetes.io/arch';

/** A term that admits arm64 and nothing else. */
function arm64Only(expressions: V1NodeSelectorRequirement[] | undefined): boolean {
  return (expressions ?? []).some(
    (e) =>
      e.key === ARCH &&
      ((e.operator === 'In' && e.values?.length === 1 && e.values[0] === 'arm64') ||
        (e.operator === 'NotIn' && e.values?.includes('amd64'))),
  );
}

export default defineCheck({
  lab: 'move-to-graviton',
  steps: {
    async 'arm64-only'(ctx) {
      const catalog = await awaitRollout(ctx, 'catalog');
      if (!catalog) return [missing('required-affinity', 'The Deployment catalog', 'Was it deleted? Reset the lab to get it back.')];
      const pod = catalog.spec?.template.spec;
      const terms = pod?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
      const required = terms.length > 0 && terms.every((t) => arm64Only(t.matchExpressions));
      const preferred = (pod?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).some((p) =>
        arm64Only(p.preference.matchExpressions),
      );
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
        affinity = failed(
          'required-affinity',
          preferred
            ? 'catalog only prefers arm64 (preferredDuringSchedulingIgnoredDuringExecution): when arm64 nodes are busy the scheduler still uses amd64.'
            : 'catalog has no required node affinity on kubernetes.io/arch=arm64.',
          hint,
          [
            {
              path: 'spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution',
              expected: { nodeSelectorTerms: [{ matchExpressions: [{ key: ARCH, operator: 'In', values: ['arm64'] }] }] },
              actual: pod?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
            },
          ],
        );
      }
      const [pods, nodes] = await Promise.all([livePods(ctx, catalog), nodesByName(ctx)]);
      const elsewhere = pods.filter((p) => nodes.get(p.spec?.nodeName ?? '')?.metadata?.labels?.[ARCH] !== 'arm64');
      const available = catalog.status?.availableReplicas ?? 0;
      const want = catalog.spec?.replicas ?? 1;
      return [
        affinity,
        criterion('on-arm64', elsewhere.length === 0 && available >= 3 && want >= 3, {
          pass: `All ${plural(available, 'replica')} run on arm64 nodes.`,
          fail:
            elsewhere.length > 0
              ? `${plural(elsewhere.length, 'pod')} of catalog ${elsewhere.length === 1 ? 'runs' : 'run'} on a node that is not arm64 (${elsewhere.map((p) => p.spec?.nodeName ?? 'not scheduled').join(', ')}).`
              : `${plural(available, 'replica')} of catalog ${available === 1 ? 'is' : 'are'} available; it needs 3.`,
          hint: '`kubectl get pods -l app=catalog -o wide` shows where each pod runs.',
        }),
      ];
    },
  },
});
