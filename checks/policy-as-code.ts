/**
 * policy-as-code: the learner's ValidatingAdmissionPolicy must refuse, in
 * env=prod namespaces, every pod with an image from outside
 * public.ecr.aws/container-day-labs/ or without a digest, in every list of
 * containers a pod has. The check asks admission itself with server-side
 * dry runs that vary one thing at a time (the list, the registry, a
 * lookalike registry, a tag that looks like a digest), so any correct CEL
 * passes and each loophole is named. Ephemeral containers cannot be sent in
 * a create (they arrive later, through the pods/ephemeralcontainers
 * subresource), so for them the check reads the policy: it must match that
 * subresource and look at spec.ephemeralContainers.
 */
import type {
  V1Container,
  V1Namespace,
  V1Pod,
  V1ValidatingAdmissionPolicy,
  V1ValidatingAdmissionPolicyBinding,
} from '@kubernetes/client-node';
import { LABELS, MANAGER } from '../contract/session.ts';
import { type CheckContext, criterion, defineCheck } from './lib/check.ts';
import { selects } from './lib/network.ts';

const REGISTRY = 'public.ecr.aws/container-day-labs/';
const APPROVED = `${REGISTRY}shop`;
const HEX = '4c3f6c3c3b3b8e1f0a9a3e7c5d2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b';
const DIGEST = `@sha256:${HEX}`;
const PINNED = `${APPROVED}${DIGEST}`;
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

interface Probe {
  /** What the probe varies, as the learner reads it. */
  what: string;
  containers: V1Container[];
  initContainers?: V1Container[];
}

const container = (name: string, image: string): V1Container => ({ name, image });

/** Pods admission must refuse in env=prod: each breaks the rule in one way. */
const MUST_REFUSE: Probe[] = [
  { what: `a tag, no digest (${APPROVED}:1.4)`, containers: [container('app', `${APPROVED}:1.4`)] },
  {
    what: `another registry, pinned (public.ecr.aws/nginx/nginx${DIGEST.slice(0, 15)}…)`,
    containers: [container('app', `public.ecr.aws/nginx/nginx${DIGEST}`)],
  },
  {
    what: 'a registry whose host merely starts like the approved one (public.ecr.aws.evil.example/container-day-labs/…)',
    containers: [container('app', `public.ecr.aws.evil.example/container-day-labs/shop${DIGEST}`)],
  },
  {
    what: 'a registry whose path merely contains the approved one (evil.example/public.ecr.aws/container-day-labs/…)',
    containers: [container('app', `evil.example/${APPROVED}${DIGEST}`)],
  },
  {
    what: 'a repository that merely starts like the approved one (public.ecr.aws/container-day-labs-mirror/…)',
    containers: [container('app', `public.ecr.aws/container-day-labs-mirror/shop${DIGEST}`)],
  },
  {
    what: `a tag that only looks like a digest (${APPROVED}:sha256-${HEX.slice(0, 8)}…)`,
    containers: [container('app', `${APPROVED}:sha256-${HEX}`)],
  },
  {
    what: 'a second container with a tag, after a pinned first one',
    containers: [container('app', PINNED), container('sidecar', `${APPROVED}:1.4`)],
  },
];

/** The same mistake hidden in the other list a create can carry. */
const INIT_PROBE: Probe = {
  what: 'an initContainer with a tag beside a pinned container',
  containers: [container('app', PINNED)],
  initContainers: [container('init', `${APPROVED}:1.4`)],
};

/** Pods admission must still accept in env=prod. */
const MUST_ACCEPT: Probe[] = [
  { what: `a pinned image from the approved registry (${APPROVED}@sha256:…)`, containers: [container('app', PINNED)] },
  {
    what: `another repository of the approved registry (${REGISTRY}cart@sha256:…)`,
    containers: [container('app', `${REGISTRY}cart${DIGEST}`)],
  },
  {
    what: 'a pinned initContainer beside a pinned container',
    containers: [container('app', PINNED)],
    initContainers: [container('init', `${REGISTRY}migrate${DIGEST}`)],
  },
];

function pod(namespace: string, probe: Probe): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'image-probe', namespace },
    spec: { containers: probe.containers, ...(probe.initContainers ? { initContainers: probe.initContainers } : {}) },
  };
}

/**
 * Admission's answer to a probe: admitted, refused by one of `own` (the
 * learner's policies and the platform's), or refused by some other policy:
 * one just deleted that admission has not unloaded yet. Admission names only
 * the first policy that refused, so a foreign refusal says nothing about the
 * learner's: the check asks again.
 */
type Answer = 'admitted' | 'refused' | 'foreign';

const REFUSED_BY = /ValidatingAdmissionPolicy '([^']+)'/;

async function answer(ctx: CheckContext, namespace: string, probe: Probe, own: Set<string>): Promise<Answer> {
  const admission = await ctx.admits(pod(namespace, probe));
  if (admission.allowed) return 'admitted';
  const policy = REFUSED_BY.exec(admission.reason)?.[1];
  return policy === undefined || own.has(policy) ? 'refused' : 'foreign';
}

/** Whether a rule's resources and operations take in an UPDATE of pods/ephemeralcontainers. */
function coversEphemeral(policy: V1ValidatingAdmissionPolicy): boolean {
  return (policy.spec?.matchConstraints?.resourceRules ?? []).some((rule) => {
    const groups = rule.apiGroups ?? [];
    const resources = rule.resources ?? [];
    const operations = rule.operations ?? [];
    return (
      (groups.includes('') || groups.includes('*')) &&
      resources.some((r) => ['pods/ephemeralcontainers', 'pods/*', '*/*', '*/ephemeralcontainers'].includes(r)) &&
      (operations.includes('UPDATE') || operations.includes('*'))
    );
  });
}

/** Whether the policy's CEL (validations, variables) reads the ephemeral containers at all. */
function readsEphemeral(policy: V1ValidatingAdmissionPolicy): boolean {
  const expressions = [
    ...(policy.spec?.validations ?? []).map((v) => v.expression),
    ...(policy.spec?.variables ?? []).map((v) => v.expression),
  ];
  return expressions.some((e) => e.includes('ephemeralContainers'));
}

interface Answers {
  admitted: Probe[];
  refusesInit: boolean;
  blocked: Probe[];
  refusesDev: boolean;
  /** Some answer came from a policy that is neither the learner's nor the platform's. */
  foreign: boolean;
}

/** When the latest of these objects was last written (their managedFields say), in ms; 0 if never. */
function lastChange(objects: { metadata?: { managedFields?: { time?: Date | string }[] } }[]): number {
  const times = objects.flatMap((o) => (o.metadata?.managedFields ?? []).map((f) => (f.time ? new Date(f.time).getTime() : 0)));
  return Math.max(0, ...times);
}

export default defineCheck({
  lab: 'policy-as-code',
  steps: {
    async guardrail(ctx) {
      const prod = ctx.ns('prod');
      const dev = ctx.ns('dev');
      const [namespace, allPolicies, bindings] = await Promise.all([
        ctx.get<V1Namespace>('v1', 'Namespace', prod),
        ctx.list<V1ValidatingAdmissionPolicy>(VAP, 'ValidatingAdmissionPolicy'),
        ctx.list<V1ValidatingAdmissionPolicyBinding>(VAP, 'ValidatingAdmissionPolicyBinding').then(learners),
      ]);
      const policies = learners(allPolicies);
      const own = new Set(allPolicies.map((p) => p.metadata?.name ?? ''));
      const labels = namespace?.metadata?.labels ?? {};
      const byName = new Map(policies.map((p) => [p.metadata?.name, p]));
      const covering = bindings.filter(
        (b) => byName.has(b.spec?.policyName) && selects(b.spec?.matchResources?.namespaceSelector ?? {}, labels),
      );
      const denying = covering.filter((b) => b.spec?.validationActions?.includes('Deny'));
      const actions = [...new Set(covering.flatMap((b) => b.spec?.validationActions ?? []))];
      // The task names a label, not a namespace: another namespace labelled env=prod must be covered too.
      const anotherProd = { env: 'prod', 'kubernetes.io/metadata.name': 'another-prod' };
      const byLabel = denying.filter(
        (b) =>
          selects(b.spec?.matchResources?.namespaceSelector ?? {}, anotherProd) &&
          selects(byName.get(b.spec?.policyName)?.spec?.matchConstraints?.namespaceSelector ?? {}, anotherProd),
      );
      const enforced = denying.map((b) => byName.get(b.spec?.policyName)).filter((p) => p !== undefined);

      // Admission's answers, all at once. A policy or binding changed in the
      // last moments may not have reached admission yet, nor one just
      // deleted: then the check asks again, within a bound, until the
      // answers are all good and all the learner's, or the time is up. A
      // refusal that stays foreign counts as the learner's policy letting
      // the pod through: it is not theirs.
      const ask = async (): Promise<Answers> => {
        const [refusals, init, acceptances, inDev] = await Promise.all([
          Promise.all(MUST_REFUSE.map((probe) => answer(ctx, prod, probe, own))),
          answer(ctx, prod, INIT_PROBE, own),
          Promise.all(MUST_ACCEPT.map((probe) => answer(ctx, prod, probe, own))),
          answer(ctx, dev, MUST_REFUSE[0] as Probe, own),
        ]);
        return {
          admitted: MUST_REFUSE.filter((_, i) => refusals[i] !== 'refused'),
          refusesInit: init === 'refused',
          blocked: MUST_ACCEPT.filter((_, i) => acceptances[i] === 'refused'),
          refusesDev: inDev === 'refused',
          foreign: [...refusals, init, ...acceptances, inDev].includes('foreign'),
        };
      };
      const good = (a: Answers) => !a.foreign && a.admitted.length === 0 && a.refusesInit && a.blocked.length === 0 && !a.refusesDev;
      let answers = await ask();
      // A refusal with no Deny binding of the learner's left, or by a policy
      // that is not theirs, is a deleted policy still in effect.
      const lingering = answers.foreign || (denying.length === 0 && (answers.blocked.length > 0 || answers.refusesDev));
      const settling = Math.max(lastChange([...policies, ...bindings]) + POLICY_LOAD_MS - Date.now(), lingering ? POLICY_LOAD_MS : 0);
      if (!good(answers) && settling > 0) {
        answers =
          (await ctx.waitFor(async () => {
            const now = await ask();
            return good(now) ? now : undefined;
          }, settling)) ?? (await ask());
      }
      const { admitted, refusesInit, blocked, refusesDev } = answers;
      const ephemeral = enforced.some((p) => coversEphemeral(p) && readsEphemeral(p));
      const lists = [
        refusesInit ? '' : `${INIT_PROBE.what} is admitted (initContainers)`,
        ephemeral
          ? ''
          : 'no enforced policy matches UPDATE of pods/ephemeralcontainers and reads spec.ephemeralContainers, so `kubectl debug` can add any image (ephemeralContainers)',
      ].filter(Boolean);

      const policyHint = '`kubectl get validatingadmissionpolicies,validatingadmissionpolicybindings -o yaml`';
      return [
        criterion('binding', denying.length > 0 && byLabel.length > 0, {
          pass: 'A binding with Deny applies the policy to every env=prod namespace.',
          fail:
            denying.length > 0
              ? `The binding applies the policy to ${prod} by something other than its label env=prod: another namespace labelled env=prod would not be guarded.`
              : covering.length > 0
                ? `The binding applies the policy with ${actions.join(', ')} only: nothing is refused, so an unpinned image still runs in production.`
                : policies.length > 0
                  ? 'A policy without a binding does nothing: no ValidatingAdmissionPolicyBinding applies it to your env=prod namespace.'
                  : 'There is no ValidatingAdmissionPolicy yet.',
          hint: policyHint,
        }),
        criterion('refuses', admitted.length === 0, {
          pass: 'In env=prod, tags, other registries, lookalike registries and digest-like tags are all refused, in every container.',
          fail: `In ${prod}, a pod is still admitted with ${admitted.map((p) => p.what).join('; ')}.`,
          hint: 'Compare the whole prefix, up to and including the slash after container-day-labs, and look for "@sha256:" itself. `kubectl run probe --image=<image> --dry-run=server -n <namespace>`',
        }),
        criterion('every-list', lists.length === 0, {
          pass: 'The rule holds for containers, initContainers and ephemeralContainers.',
          fail: `A pod has three lists of containers, and the guardrail misses some: ${lists.join('; ')}.`,
          hint: '`kubectl explain pod.spec` lists containers, initContainers and ephemeralContainers; a rule for pods does not match the pods/ephemeralcontainers subresource unless it names it.',
        }),
        criterion('accepts', blocked.length === 0 && !refusesDev, {
          pass: 'Pinned, approved images still run in production, and dev is untouched.',
          fail:
            blocked.length > 0
              ? `In ${prod}, a pod is refused with ${blocked.map((p) => p.what).join('; ')}: the guardrail refuses good pods too (a pod without initContainers has no such field: test with has()).`
              : `In ${dev} (env=dev), pods are refused as well: the binding should select env=prod namespaces only.`,
          hint: policyHint,
        }),
      ];
    },
  },
});
