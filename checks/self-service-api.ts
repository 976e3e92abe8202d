import type { KubernetesObject, V1CustomResourceDefinition } from '@kubernetes/client-node';
import { hasCondition } from '../cluster/src/kube.ts';
import { type Admission, type CheckContext, criterion, defineCheck, missing } from './lib/check.ts';

const CRD = 'webapps.platform.containerdaylabs.dev';
const API = 'platform.containerdaylabs.dev/v1';
const GOOD = { image: 'public.ecr.aws/container-day-labs/shop:1.4', size: 'M', replicas: 3 };
/** A new definition is served within a moment of being established. */
const SERVE_WAIT_MS = 8_000;

/** A dry-run create of a WebApp, retried while the API server does not serve the new type yet. */
async function tryWebApp(ctx: CheckContext, spec: Record<string, unknown>): Promise<Admission> {
  const object = { apiVersion: API, kind: 'WebApp', metadata: { name: 'probe', namespace: ctx.ns() }, spec } as KubernetesObject;
  let answer: Admission = { allowed: false, reason: 'the WebApp type is not served yet', code: 404 };
  const served = await ctx.waitFor(
    async () => {
      answer = await ctx.admits(object);
      return answer.code !== 404 && answer;
    },
    SERVE_WAIT_MS,
    250,
  );
  // Still not served when the wait ran out: the last refusal says so.
  return served ?? answer;
}

export default defineCheck({
  lab: 'self-service-api',
  steps: {
    async publish(ctx) {
      const read = () => ctx.get<V1CustomResourceDefinition>('apiextensions.k8s.io/v1', 'CustomResourceDefinition', CRD);
      // Wait only for a definition that exists and is being established, not for one nobody made.
      const first = await read();
      if (!first) return [missing('defined', `The CustomResourceDefinition ${CRD}`, '`kubectl get crd`')];
      const crd = hasCondition(first, 'Established')
        ? first
        : await ctx.waitFor(async () => {
            const found = await read();
            return hasCondition(found, 'Established') && found;
          }, SERVE_WAIT_MS);
      if (!crd) return [missing('defined', `The CustomResourceDefinition ${CRD} (established)`, '`kubectl get crd`')];
      const version = crd.spec.versions.find((v) => v.name === 'v1' && v.served);
      const explain = '`kubectl get crd webapps.platform.containerdaylabs.dev -o yaml`';
      const defined = criterion('defined', crd.spec.scope === 'Namespaced' && crd.spec.names.kind === 'WebApp' && version !== undefined, {
        pass: 'WebApp is served as a namespaced v1 resource.',
        fail: `The definition ${CRD} is not a namespaced kind WebApp served at v1 (it has scope ${crd.spec.scope}, kind ${crd.spec.names.kind}, versions ${crd.spec.versions.map((v) => `${v.name}${v.served ? '' : ' (not served)'}`).join(', ')}).`,
        hint: explain,
      });
      // Probing a WebApp in a namespace makes sense only once the kind is what the task asks for.
      if (!defined.passed) return [defined];
      const valid: Array<[string, Record<string, unknown>]> = [
        ['size S, replicas 1', { ...GOOD, size: 'S', replicas: 1 }],
        ['size L, replicas 10', { ...GOOD, size: 'L', replicas: 10 }],
        ['an image pinned by digest', { ...GOOD, image: `public.ecr.aws/container-day-labs/shop@sha256:${'a'.repeat(64)}` }],
      ];
      const invalid: Array<[string, Record<string, unknown>]> = [
        ['replicas: 11', { ...GOOD, replicas: 11 }],
        ['replicas: 0', { ...GOOD, replicas: 0 }],
        ['replicas: "3" (a string)', { ...GOOD, replicas: '3' }],
        ['replicas: 2.5', { ...GOOD, replicas: 2.5 }],
        ['size: XL', { ...GOOD, size: 'XL' }],
        ['size: m', { ...GOOD, size: 'm' }],
        ['image docker.io/library/nginx:1.27', { ...GOOD, image: 'docker.io/library/nginx:1.27' }],
        ['image public.ecr.aws/container-day-labs-evil/shop:1.4', { ...GOOD, image: 'public.ecr.aws/container-day-labs-evil/shop:1.4' }],
        [
          'image evil.example.com/public.ecr.aws/container-day-labs/shop:1.4',
          { ...GOOD, image: 'evil.example.com/public.ecr.aws/container-day-labs/shop:1.4' },
        ],
        ['no image', { size: GOOD.size, replicas: GOOD.replicas }],
        ['no size', { image: GOOD.image, replicas: GOOD.replicas }],
        ['no replicas', { image: GOOD.image, size: GOOD.size }],
      ];
      const [good, extra, validAnswers, invalidAnswers] = await Promise.all([
        tryWebApp(ctx, GOOD),
        tryWebApp(ctx, { ...GOOD, hostNetwork: true }),
        Promise.all(valid.map(([, spec]) => tryWebApp(ctx, spec))),
        Promise.all(invalid.map(([, spec]) => tryWebApp(ctx, spec))),
      ]);
      const accepted = invalid.filter((_, i) => invalidAnswers[i]?.allowed).map(([what]) => what);
      const refusedValid = valid
        .map(([what], i) => (validAnswers[i]?.allowed ? '' : `${what} (${validAnswers[i]?.reason})`))
        .filter(Boolean);
      const kept = extra.allowed && (extra.object as { spec?: Record<string, unknown> } | undefined)?.spec?.hostNetwork !== undefined;
      return [
        defined,
        criterion('accepts-valid', good.allowed && refusedValid.length === 0, {
          pass: 'Valid WebApps are accepted: every size, 1 to 10 replicas, a tag or a digest.',
          fail: good.allowed
            ? `A valid WebApp is refused: ${refusedValid.join('; ')}.`
            : `A valid WebApp (${JSON.stringify(GOOD)}) is refused: ${good.reason}`,
          hint: explain,
        }),
        criterion('refuses-invalid', accepted.length === 0, {
          pass: 'Out-of-range or mistyped replicas, unknown sizes, other registries (even ones whose names contain the approved one) and missing fields are refused.',
          fail: `A WebApp with ${accepted.join(', with ')} is accepted: developers learn of the mistake in production instead of at kubectl apply.`,
          hint: 'Try each with `kubectl apply --dry-run=server`. A prefix check needs the whole prefix, up to and including its last slash.',
        }),
        criterion('no-extra-fields', !kept, {
          pass: 'Fields outside image, size and replicas are not kept.',
          fail: 'A WebApp keeps fields its schema does not define (hostNetwork: true was stored): the API is no longer the small one you designed.',
          hint: 'x-kubernetes-preserve-unknown-fields turns off pruning.',
        }),
      ];
    },
  },
});
