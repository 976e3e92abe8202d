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
      const crd = await ctx.waitFor(async () => {
        const found = await ctx.get<V1CustomResourceDefinition>('apiextensions.k8s.io/v1', 'CustomResourceDefinition', CRD);
        return hasCondition(found, 'Established') && found;
      }, SERVE_WAIT_MS);
      if (!crd) return [missing('defined', `The CustomResourceDefinition ${CRD} (established)`, '`kubectl get crd`')];
      const version = crd.spec.versions.find((v) => v.name === 'v1' && v.served);
      const good = await tryWebApp(ctx, GOOD);
      const invalid: Array<[string, Record<string, unknown>]> = [
        ['replicas: 11', { ...GOOD, replicas: 11 }],
        ['replicas: 0', { ...GOOD, replicas: 0 }],
        ['size: XL', { ...GOOD, size: 'XL' }],
        ['image docker.io/library/nginx:1.27', { ...GOOD, image: 'docker.io/library/nginx:1.27' }],
        ['no size', { image: GOOD.image, replicas: 3 }],
      ];
      const answers = await Promise.all(invalid.map(([, spec]) => tryWebApp(ctx, spec)));
      const accepted = invalid.filter((_, i) => answers[i]?.allowed).map(([what]) => what);
      const extra = await tryWebApp(ctx, { ...GOOD, hostNetwork: true });
      const kept = extra.allowed && (extra.object as { spec?: Record<string, unknown> } | undefined)?.spec?.hostNetwork !== undefined;
      const explain = '`kubectl get crd webapps.platform.containerdaylabs.dev -o yaml`';
      return [
        criterion('defined', crd.spec.scope === 'Namespaced' && crd.spec.names.kind === 'WebApp' && version !== undefined, {
          pass: 'WebApp is served as a namespaced v1 resource.',
          fail: `The definition ${CRD} is not a namespaced kind WebApp served at v1.`,
          hint: explain,
        }),
        criterion('accepts-valid', good.allowed, {
          pass: 'A valid WebApp is accepted.',
          fail: `A valid WebApp (${JSON.stringify(GOOD)}) is refused: ${good.reason}`,
          hint: explain,
        }),
        criterion('refuses-invalid', accepted.length === 0, {
          pass: 'Out-of-range replicas, unknown sizes, other registries and missing fields are refused.',
          fail: `A WebApp with ${accepted.join(', with ')} is accepted: developers learn of the mistake in production instead of at kubectl apply.`,
          hint: 'Try each with `kubectl apply --dry-run=server`.',
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
