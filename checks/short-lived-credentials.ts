import type { V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { criterion, defineCheck, missing } from './lib/check.ts';
import { awaitRollout, livePods } from './lib/workloads.ts';

const AUDIENCE = 'reports.example.com';

export default defineCheck({
  lab: 'short-lived-credentials',
  steps: {
    async 'projected-token'(ctx) {
      const ns = ctx.ns();
      const [reporter, secrets, account] = await Promise.all([
        awaitRollout(ctx, 'reporter'),
        ctx.list<V1Secret>('v1', 'Secret', ns),
        ctx.get<V1ServiceAccount>('v1', 'ServiceAccount', 'reporter', ns),
      ]);
      if (!reporter) return [missing('projected-token', 'The Deployment reporter', 'Was it deleted? Reset the lab to get it back.')];
      const longLived = secrets.filter(
        (s) =>
          s.type === 'kubernetes.io/service-account-token' &&
          s.metadata?.annotations?.['kubernetes.io/service-account.name'] === 'reporter',
      );
      const pod = reporter.spec?.template.spec;
      const containers = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
      const mounted = new Set(containers.flatMap((c) => c.volumeMounts ?? []).map((m) => m.name));
      // Every projected ServiceAccount token a container mounts: each must be the one asked for.
      const tokens = (pod?.volumes ?? [])
        .filter((v) => mounted.has(v.name))
        .flatMap((v) => v.projected?.sources ?? [])
        .map((s) => s.serviceAccountToken)
        .filter((t) => t !== undefined);
      const token = tokens.find((t) => t.audience !== AUDIENCE || (t.expirationSeconds ?? 3600) > 3600) ?? tokens[0];
      const expiry = token?.expirationSeconds ?? 3600;
      // The old token by name too: once its Secret is deleted, a volume that still names it is no longer found by type.
      const oldNames = new Set(['reporter-token', ...longLived.map((s) => s.metadata?.name ?? '')]);
      const secretVolumes = (pod?.volumes ?? [])
        .filter(
          (v) => oldNames.has(v.secret?.secretName ?? '') || (v.projected?.sources ?? []).some((s) => oldNames.has(s.secret?.name ?? '')),
        )
        .map((v) => v.name);
      const podAutomount = pod?.automountServiceAccountToken;
      const pods = await livePods(ctx, reporter);
      const apiTokenPods = pods
        .filter((p) => (p.spec?.volumes ?? []).some((v) => v.name.startsWith('kube-api-access-')))
        .map((p) => p.metadata?.name);
      let tokenProblem = '';
      if (!token) tokenProblem = 'The Deployment reporter mounts no projected ServiceAccount token into a container.';
      else if (!token.audience)
        tokenProblem =
          'The projected token of reporter has no audience: it is then good for the API server itself, and for anything that accepts Kubernetes tokens.';
      else if (token.audience !== AUDIENCE)
        tokenProblem = `The projected token of reporter is for the audience ${token.audience}, not ${AUDIENCE}.`;
      else if (expiry > 3600) tokenProblem = `The projected token of reporter lives ${expiry} s; the task asks for an hour at most.`;
      const look = '`kubectl get deployment reporter -o yaml` and look at spec.template.spec.volumes.';
      return [
        criterion('no-long-lived-secret', longLived.length === 0, {
          pass: 'No long-lived token of reporter is left.',
          fail: `The Secret ${longLived.map((s) => s.metadata?.name).join(', ')} still exists: whoever can read it holds a token of reporter that never expires, mounted or not.`,
          hint: '`kubectl get secrets --field-selector type=kubernetes.io/service-account-token`',
        }),
        criterion('no-automount', account?.automountServiceAccountToken === false && podAutomount !== true && apiTokenPods.length === 0, {
          pass: 'Neither the ServiceAccount reporter nor its pods mount an API token by themselves.',
          fail:
            account?.automountServiceAccountToken !== false
              ? 'The ServiceAccount reporter still mounts an API token into every pod that uses it (automountServiceAccountToken is not false).'
              : podAutomount === true
                ? 'The pod template of reporter sets automountServiceAccountToken: true, which overrides the ServiceAccount: its pods still get an API token.'
                : `The pods ${apiTokenPods.join(', ')} still carry an API token volume (kube-api-access-…): they were made before the change.`,
          hint: '`kubectl explain serviceaccount.automountServiceAccountToken` and `kubectl explain pod.spec.automountServiceAccountToken`',
          diff: [
            {
              path: 'ServiceAccount reporter: automountServiceAccountToken',
              expected: false,
              actual: account?.automountServiceAccountToken,
            },
            ...(podAutomount === true
              ? [{ path: 'spec.template.spec.automountServiceAccountToken', expected: 'false or unset', actual: true }]
              : []),
          ],
        }),
        criterion('projected-token', tokenProblem === '', {
          pass: `reporter mounts a token for ${AUDIENCE} that expires within ${expiry} s.`,
          fail: tokenProblem,
          hint: look,
          diff: [
            {
              path: 'spec.template.spec.volumes[].projected.sources[].serviceAccountToken',
              expected: { audience: AUDIENCE, expirationSeconds: '≤ 3600' },
              actual: token,
            },
          ],
        }),
        criterion('no-secret-volume', secretVolumes.length === 0, {
          pass: 'reporter no longer mounts the long-lived Secret.',
          fail: `The Deployment reporter still mounts the long-lived token Secret in the volume ${secretVolumes.join(', ')}; on a real node a deleted Secret keeps the pod from starting.`,
          hint: look,
        }),
        criterion('available', (reporter.status?.availableReplicas ?? 0) >= 1, {
          pass: 'reporter is running.',
          fail: 'The Deployment reporter has no available replica.',
          hint: '`kubectl describe deployment reporter` and `kubectl get events`.',
        }),
      ];
    },
  },
});
