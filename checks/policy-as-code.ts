import type { V1Namespace, V1Pod, V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding } from '@kubernetes/client-node';
import { LABELS, MANAGER } from '../contract/session.ts';
import { type CheckContext, criterion, defineCheck } from './lib/check.ts';
import { selects } from './lib/network.ts';

const APPROVED = 'public.ecr.aws/container-day-labs/shop';
const DIGEST = '@sha256:4c3f6c3c3b3b8e1f0a9a3e7c5d2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b';
/** A new policy reaches the admission chain within a moment; a check waits that long for it. */
const POLICY_LOAD_MS = 6_000;

const VAP = 'admissionregistration.k8s.io/v1';

/**
 * The platform's own policies guard every sandbox namespace (prod included);
 * this lab is about the learner's.
 */
function learners<T extends { metadata?: { labels?: Record<string, string> } }>(items: T[]): T[] {
  return items.filter((item) => item.metadata?.labels?.[LABELS.managedBy] !== MANAGER);
}

function pod(namespace: string, image: string): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'image-probe', namespace }, spec: { containers: [{ name: 'c', image }] } };
}

async function refused(ctx: CheckContext, namespace: string, image: string): Promise<boolean> {
  return !(await ctx.admits(pod(namespace, image))).allowed;
}

export default defineCheck({
  lab: 'policy-as-code',
  steps: {
    async guardrail(ctx) {
      const prod = ctx.ns('prod');
      const dev = ctx.ns('dev');
      const [namespace, policies, bindings] = await Promise.all([
        ctx.get<V1Namespace>('v1', 'Namespace', prod),
        ctx.list<V1ValidatingAdmissionPolicy>(VAP, 'ValidatingAdmissionPolicy').then(learners),
        ctx.list<V1ValidatingAdmissionPolicyBinding>(VAP, 'ValidatingAdmissionPolicyBinding').then(learners),
      ]);
      const labels = namespace?.metadata?.labels ?? {};
      const names = new Set(policies.map((p) => p.metadata?.name));
      const covering = bindings.filter(
        (b) => names.has(b.spec?.policyName) && selects(b.spec?.matchResources?.namespaceSelector ?? {}, labels),
      );
      const denying = covering.filter((b) => b.spec?.validationActions?.includes('Deny'));
      const actions = [...new Set(covering.flatMap((b) => b.spec?.validationActions ?? []))];

      // Wait for a new policy to load, as long as nothing is refused yet.
      const unpinned = `${APPROVED}:1.4`;
      const elsewhere = `public.ecr.aws/nginx/nginx${DIGEST}`;
      const refusesTag =
        denying.length > 0
          ? ((await ctx.waitFor(() => refused(ctx, prod, unpinned), POLICY_LOAD_MS)) ?? false)
          : await refused(ctx, prod, unpinned);
      const [refusesRegistry, refusesGood, refusesDev] = await Promise.all([
        refused(ctx, prod, elsewhere),
        refused(ctx, prod, `${APPROVED}${DIGEST}`),
        refused(ctx, dev, unpinned),
      ]);
      const policyHint = '`kubectl get validatingadmissionpolicies,validatingadmissionpolicybindings`';
      return [
        criterion('binding', denying.length > 0, {
          pass: 'A binding with Deny applies the policy to env=prod namespaces.',
          fail:
            covering.length > 0
              ? `The binding applies the policy with ${actions.join(', ')} only: nothing is refused, so an unpinned image still runs in production.`
              : policies.length > 0
                ? 'A policy without a binding does nothing: no ValidatingAdmissionPolicyBinding applies it to your env=prod namespace.'
                : 'There is no ValidatingAdmissionPolicy yet.',
          hint: policyHint,
        }),
        criterion('refuses', refusesTag && refusesRegistry, {
          pass: 'In env=prod, an image by tag and an image from another registry are both refused.',
          fail: !refusesTag
            ? `In ${prod}, a pod with the image ${unpinned} (a tag, no digest) is still admitted.`
            : `In ${prod}, a pod with the image ${elsewhere} (another registry) is still admitted.`,
          hint: '`kubectl run probe --image=<image> --dry-run=server -n <namespace>`',
        }),
        criterion('accepts', !refusesGood && !refusesDev, {
          pass: 'Pinned, approved images still run in production, and dev is untouched.',
          fail: refusesGood
            ? `In ${prod}, even a pinned image from the approved registry is refused: the guardrail blocks everything.`
            : `In ${dev} (env=dev), pods are refused as well: the binding should select env=prod namespaces only.`,
          hint: policyHint,
        }),
      ];
    },
  },
});
