/**
 * runtime-security: the app namespace must enforce the restricted Pod
 * Security Standard at a pinned version, and web must run under it with
 * requests and limits. Whether the namespace enforces it is asked of
 * admission (dry runs of pods that break restricted in different ways, and
 * of web's own pod template), not read off the labels alone; the labels
 * name the mistake. Pod Security admission reads namespaces from a cache,
 * so a check right after labelling waits for it, briefly.
 */
import type { V1Container, V1Namespace, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { rolledOut } from '../cluster/src/kube.ts';
import { type CheckContext, criterion, defineCheck, missing } from './lib/check.ts';
import { awaitRollout, whyNotRunning } from './lib/workloads.ts';

const PSA = 'pod-security.kubernetes.io';
const IMAGE = 'localhost/cdl/demo-app-root:1';
/** How long Pod Security admission may take to see a namespace's new labels. */
const LABELS_SEEN_MS = 3_000;

/** Pods that baseline or privileged admit and restricted refuses, one broken rule each. */
const BREAK_RESTRICTED: { what: string; spec: V1PodSpec }[] = [
  { what: 'a privileged pod', spec: { containers: [{ name: 'c', image: IMAGE, securityContext: { privileged: true } }] } },
  { what: 'a pod with no securityContext at all (root, all defaults)', spec: { containers: [{ name: 'c', image: IMAGE }] } },
];

function probePod(namespace: string, name: string, spec: V1PodSpec): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec };
}

/** Breaks of restricted a container shows, with the pod's own securityContext as its default. */
function restrictedProblems(pod: V1PodSpec | undefined, c: V1Container): string[] {
  const sc = c.securityContext;
  const podSc = pod?.securityContext;
  return [
    (sc?.runAsNonRoot ?? podSc?.runAsNonRoot) === true ? '' : `${c.name}: runAsNonRoot is not true`,
    (sc?.runAsUser ?? podSc?.runAsUser) === 0 ? `${c.name}: runAsUser is 0 (root)` : '',
    sc?.allowPrivilegeEscalation === false ? '' : `${c.name}: allowPrivilegeEscalation is not false`,
    sc?.capabilities?.drop?.includes('ALL') ? '' : `${c.name}: capabilities are not all dropped`,
    // restricted would let NET_BIND_SERVICE back in; web listens on 8080 and the task asks for none.
    (sc?.capabilities?.add ?? []).length > 0 ? `${c.name}: capabilities ${sc?.capabilities?.add?.join(', ')} are added back` : '',
    ['RuntimeDefault', 'Localhost'].includes(sc?.seccompProfile?.type ?? podSc?.seccompProfile?.type ?? '')
      ? ''
      : `${c.name}: no RuntimeDefault seccomp profile`,
  ].filter(Boolean);
}

function resourceProblems(c: V1Container): string[] {
  const { requests, limits } = c.resources ?? {};
  const absent = [
    requests?.cpu ? '' : 'requests.cpu',
    requests?.memory ? '' : 'requests.memory',
    limits?.cpu ? '' : 'limits.cpu',
    limits?.memory ? '' : 'limits.memory',
  ].filter(Boolean);
  return absent.length > 0 ? [`${c.name}: no ${absent.join(', ')} (CPU and memory requests and limits)`] : [];
}

async function refusedAll(ctx: CheckContext, namespace: string): Promise<string[]> {
  const results = await Promise.all(
    BREAK_RESTRICTED.map((probe, i) => ctx.admits(probePod(namespace, `restricted-probe-${i}`, probe.spec))),
  );
  return BREAK_RESTRICTED.filter((_, i) => results[i]?.allowed).map((probe) => probe.what);
}

export default defineCheck({
  lab: 'runtime-security',
  steps: {
    async restricted(ctx) {
      const name = ctx.ns();
      const [namespace, web] = await Promise.all([ctx.get<V1Namespace>('v1', 'Namespace', name), awaitRollout(ctx, 'web')]);
      if (!web) return [missing('workload', 'The Deployment web', 'Was it deleted? Reset the lab to get it back.')];
      const labels = namespace?.metadata?.labels ?? {};
      const enforce = labels[`${PSA}/enforce`];
      const version = labels[`${PSA}/enforce-version`];
      const pinned = version !== undefined && version !== 'latest';

      // Admission's answer: what it still lets in, waiting briefly for new labels to reach it.
      let admitted = await refusedAll(ctx, name);
      if (enforce === 'restricted' && admitted.length > 0) {
        admitted =
          (await ctx.waitFor(async () => {
            const now = await refusedAll(ctx, name);
            return now.length === 0 ? now : undefined;
          }, LABELS_SEEN_MS)) ?? admitted;
      }
      const enforced = enforce === 'restricted' && pinned && admitted.length === 0;

      const pod = web.spec?.template.spec;
      const containers = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
      const problems = containers.flatMap((c) => [...restrictedProblems(pod, c), ...resourceProblems(c)]);
      // web's own pod template, as the namespace's admission sees it now.
      const template = pod ? await ctx.admits(probePod(name, 'web-template-probe', pod)) : undefined;
      const templateRefused = template !== undefined && !template.allowed && template.reason.includes('PodSecurity');

      const look = '`kubectl get namespace <namespace> --show-labels`';
      // Admitted is not running: the kubelet has the last word (runAsNonRoot against an image whose user is root).
      const stuck = rolledOut(web) ? undefined : await whyNotRunning(ctx, web);
      return [
        criterion('enforced', enforced, {
          pass: `${name} enforces restricted, pinned to ${version}.`,
          fail:
            enforce !== 'restricted' && labels[`${PSA}/warn`] === 'restricted'
              ? `The namespace only warns about restricted (it enforces ${enforce ?? 'nothing'}): every violating pod is still admitted.`
              : enforce !== 'restricted'
                ? `The namespace enforces ${enforce ?? 'no level'}, not restricted: ${admitted.join(' and ') || 'pods that break restricted'} ${admitted.length === 1 ? 'is' : 'are'} admitted.`
                : !pinned
                  ? `The namespace enforces restricted at version ${version ?? 'latest (unpinned)'}: pin it to a version, so an upgrade does not change the rules under you.`
                  : `The namespace is labelled to enforce restricted, yet ${admitted.join(' and ')} ${admitted.length === 1 ? 'is' : 'are'} still admitted.`,
          hint: look,
          diff: [
            { path: `metadata.labels.${PSA}/enforce`, expected: 'restricted', actual: enforce },
            { path: `metadata.labels.${PSA}/enforce-version`, expected: 'a version such as v1.36', actual: version },
          ],
        }),
        criterion('workload', problems.length === 0 && !templateRefused, {
          pass: 'The pods of web meet restricted, with CPU and memory requests and limits.',
          fail:
            problems.length > 0
              ? `The Deployment web: ${problems.join('; ')}.`
              : `Admission refuses the pod template of web: ${template?.reason}`,
          hint: '`kubectl explain deployment.spec.template.spec.containers.securityContext`',
        }),
        criterion('available', rolledOut(web), {
          pass: 'web is rolled out and available.',
          fail: stuck
            ? `The Deployment web is not available: admission let its pods in, and the kubelet does not start them (${stuck}).`
            : 'The Deployment web is not fully rolled out: under restricted, its new pods may be refused.',
          hint: stuck
            ? '`kubectl describe pod -l app=web`: the image runs as root unless the pod says which user to run as.'
            : '`kubectl describe replicaset -l app=web` shows the refusals.',
        }),
      ];
    },
  },
});
