import { criterion, defineCheck, missing } from './lib/check.ts';
import { awaitRollout } from './lib/workloads.ts';

export default defineCheck({
  lab: 'secrets-least-read',
  steps: {
    async 'least-read'(ctx) {
      const namespace = ctx.ns();
      const billing = { serviceAccount: 'billing', namespace };
      const [deployment, getKey, listSecrets, getOther, defaultGets] = await Promise.all([
        awaitRollout(ctx, 'billing'),
        ctx.can(billing, { verb: 'get', resource: 'secrets', namespace, name: 'api-key' }),
        ctx.can(billing, { verb: 'list', resource: 'secrets', namespace }),
        ctx.can(billing, { verb: 'get', resource: 'secrets', namespace, name: 'db-password' }),
        ctx.can({ serviceAccount: 'default', namespace }, { verb: 'get', resource: 'secrets', namespace, name: 'api-key' }),
      ]);
      if (!deployment) return [missing('as-file', 'The Deployment billing', 'Was it deleted? Reset the lab to get it back.')];
      const pod = deployment.spec?.template.spec;
      const containers = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
      const envRefs = containers.flatMap((c) => [
        ...(c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => `${c.name}: ${e.name}`),
        ...(c.envFrom ?? []).filter((e) => e.secretRef).map((e) => `${c.name}: envFrom ${e.secretRef?.name}`),
      ]);
      const volumes = new Set((pod?.volumes ?? []).filter((v) => v.secret?.secretName === 'api-key').map((v) => v.name));
      const mounted = containers.some((c) => (c.volumeMounts ?? []).some((m) => volumes.has(m.name)));
      const rbacHint = '`kubectl auth can-i --list --as system:serviceaccount:<namespace>:billing`';
      return [
        criterion('as-file', envRefs.length === 0 && mounted, {
          pass: 'billing reads api-key from a file.',
          fail:
            envRefs.length > 0
              ? `The Deployment billing still takes a Secret through an environment variable (${envRefs.join(', ')}).`
              : 'The Deployment billing does not mount the Secret api-key as a volume.',
          hint: '`kubectl explain deployment.spec.template.spec.volumes.secret`',
        }),
        criterion('get-allowed', getKey, {
          pass: 'billing may get the Secret api-key.',
          fail: 'The ServiceAccount billing may not get the Secret api-key.',
          hint: rbacHint,
        }),
        criterion('no-list', !listSecrets, {
          pass: 'billing may not list Secrets.',
          fail: 'The ServiceAccount billing may list Secrets, and a list returns every Secret with its data.',
          hint: `To get one object by name, no list is needed. ${rbacHint}`,
          diff: [{ path: 'can-i list secrets', expected: 'no', actual: 'yes' }],
        }),
        criterion('no-other-secret', !getOther, {
          pass: 'billing may not read db-password.',
          fail: 'The ServiceAccount billing may read the Secret db-password as well.',
          hint: 'A rule without resourceNames covers every Secret in the namespace.',
          diff: [{ path: 'can-i get secret/db-password', expected: 'no', actual: 'yes' }],
        }),
        criterion('only-billing', !defaultGets, {
          pass: 'No other ServiceAccount was given api-key.',
          fail: 'The ServiceAccount default may read api-key too: the grant should name billing alone.',
          hint: '`kubectl get rolebindings -o wide`',
        }),
      ];
    },
  },
});
