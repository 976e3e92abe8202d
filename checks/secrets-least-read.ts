/**
 * secrets-least-read: a Secret reaches the one workload that uses it as a
 * file, and only the identities the task names may read Secrets through the
 * API. The kubelet fetches a pod's Secrets itself (the Node authorizer lets
 * it read those its pods name), so billing's ServiceAccount needs no RBAC to
 * mount api-key; key-rotator, which rewrites the key, needs get and update on
 * that one Secret. Any ServiceAccount of the namespace is asked too, so a
 * grant to the wrong one is found however it was written.
 */
import type { V1Container, V1PodSpec, V1ServiceAccount } from '@kubernetes/client-node';
import { criterion, defineCheck, missing } from './lib/check.ts';
import { askMatrix, beyondTheTask, describeRights, rights } from './lib/rbac-matrix.ts';
import { awaitRollout } from './lib/workloads.ts';

const SECRET = 'api-key';
const ROTATOR = 'key-rotator';
const OTHERS = ['default', 'kube-system'];

/** Every container of a pod spec, by its list: containers, initContainers, ephemeralContainers. */
function allContainers(pod: V1PodSpec | undefined): Array<{ list: string; container: V1Container }> {
  return [
    ...(pod?.initContainers ?? []).map((container) => ({ list: 'initContainers', container })),
    ...(pod?.containers ?? []).map((container) => ({ list: 'containers', container })),
    ...(pod?.ephemeralContainers ?? []).map((container) => ({ list: 'ephemeralContainers', container: container as V1Container })),
  ];
}

/** The names of the pod's volumes that carry the Secret: a secret volume, or a projected one with it as a source. */
function secretVolumes(pod: V1PodSpec | undefined, secret: string): Set<string> {
  return new Set(
    (pod?.volumes ?? [])
      .filter((v) => v.secret?.secretName === secret || (v.projected?.sources ?? []).some((s) => s.secret?.name === secret))
      .map((v) => v.name),
  );
}

export default defineCheck({
  lab: 'secrets-least-read',
  steps: {
    async 'least-read'(ctx) {
      const namespace = ctx.ns();
      const secrets = (verbs: string[], name?: string) => rights(verbs, 'secrets', namespace, name);
      const [deployment, accounts, billing, rotator] = await Promise.all([
        awaitRollout(ctx, 'billing'),
        ctx.list<V1ServiceAccount>('v1', 'ServiceAccount', namespace),
        askMatrix(
          ctx,
          { serviceAccount: 'billing', namespace },
          {
            need: [],
            refuse: [
              ...secrets(['get', 'update'], SECRET),
              ...secrets(['get'], 'db-password'),
              ...beyondTheTask({ own: [namespace], others: OTHERS }, []),
            ],
          },
        ),
        askMatrix(
          ctx,
          { serviceAccount: ROTATOR, namespace },
          {
            need: secrets(['get', 'update'], SECRET),
            refuse: [
              ...secrets(['get', 'update', 'patch', 'delete'], 'db-password'),
              ...secrets(['delete'], SECRET),
              ...secrets(['create', 'list', 'watch', 'update', 'deletecollection']),
              ...beyondTheTask({ own: [namespace], others: OTHERS }, []),
            ],
          },
        ),
      ]);
      // Every other ServiceAccount of the namespace: none may read a Secret through the API.
      const others = accounts.map((a) => a.metadata?.name ?? '').filter((name) => name && name !== ROTATOR && name !== 'billing');
      const readers = await Promise.all(
        others.map(async (name) => {
          const { extra } = await askMatrix(
            ctx,
            { serviceAccount: name, namespace },
            { need: [], refuse: [...secrets(['get'], SECRET), ...secrets(['get'], 'db-password'), ...secrets(['list', 'watch'])] },
          );
          return extra.length > 0 ? `${name} (${describeRights(extra)})` : '';
        }),
      );
      const otherReaders = readers.filter(Boolean);

      if (!deployment) return [missing('as-file', 'The Deployment billing', 'Was it deleted? Reset the lab to get it back.')];
      const pod = deployment.spec?.template.spec;
      const containers = allContainers(pod);
      const envRefs = containers.flatMap(({ list, container: c }) => [
        ...(c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => `${list} ${c.name}: env ${e.name}`),
        ...(c.envFrom ?? []).filter((e) => e.secretRef).map((e) => `${list} ${c.name}: envFrom ${e.secretRef?.name}`),
      ]);
      const volumes = secretVolumes(pod, SECRET);
      const billingContainer = (pod?.containers ?? []).find((c) => c.name === 'billing') ?? pod?.containers?.[0];
      const mounted = (billingContainer?.volumeMounts ?? []).some((m) => volumes.has(m.name));
      const ready = (deployment.status?.availableReplicas ?? 0) >= 1;
      const can = (sa: string) => `\`kubectl auth can-i --list --as system:serviceaccount:<namespace>:${sa}\``;
      return [
        criterion('as-file', envRefs.length === 0 && mounted, {
          pass: 'billing reads api-key from a file.',
          fail:
            envRefs.length > 0
              ? `The Deployment billing still takes a Secret through an environment variable (${envRefs.join(', ')}).`
              : `The container billing does not mount the Secret ${SECRET} from a volume (a secret volume, or a projected one with it as a source).`,
          hint: '`kubectl explain deployment.spec.template.spec.volumes.secret` and `kubectl explain deployment.spec.template.spec.containers.volumeMounts`',
        }),
        criterion('running', ready, {
          pass: 'billing is running.',
          fail: 'The Deployment billing has no available replica.',
          hint: '`kubectl rollout status deployment billing` and `kubectl get events`.',
        }),
        criterion('billing-no-read', billing.extra.length === 0, {
          pass: 'The ServiceAccount billing may not read Secrets through the API, and needs not: the kubelet mounts the file.',
          fail: `The ServiceAccount billing may ${describeRights(billing.extra)}. The kubelet fetches a pod's Secrets itself; the app's identity needs no RBAC to use a mounted Secret, and whoever steals its token could read them.`,
          hint: `What still grants it? \`kubectl get rolebindings -o wide\` and ${can('billing')}`,
        }),
        criterion('rotator-can', rotator.lacking.length === 0, {
          pass: `${ROTATOR} may get and update the Secret ${SECRET}.`,
          fail: `The ServiceAccount ${ROTATOR} may not yet ${describeRights(rotator.lacking)}, and rotating the key needs both.`,
          hint: 'A Role rule can name objects with resourceNames; `kubectl create role --help` (`--resource-name`).',
        }),
        criterion('rotator-only', rotator.extra.length === 0, {
          pass: `${ROTATOR} may touch no Secret but ${SECRET}, and list none.`,
          fail: `The ServiceAccount ${ROTATOR} may also ${describeRights(rotator.extra)}.`,
          hint: `A rule without resourceNames covers every Secret of the namespace; list and watch return them all. ${can(ROTATOR)}`,
        }),
        criterion('no-other-readers', otherReaders.length === 0, {
          pass: 'No other ServiceAccount of the namespace may read Secrets.',
          fail: `Other ServiceAccounts may read Secrets: ${otherReaders.join('; ')}. The task names ${ROTATOR} alone.`,
          hint: '`kubectl get rolebindings -o wide` shows who each binding names.',
        }),
      ];
    },
  },
});
