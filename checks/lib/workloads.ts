/**
 * Deployments and their pods: the state most labs end in. A check that needs
 * a rollout to finish waits for it briefly (the learner may check right
 * after applying), then reports what it saw.
 */
import type { CoreV1Event, V1Deployment, V1Node, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { rolledOut } from '../../cluster/src/kube.ts';
import type { CheckContext } from './check.ts';

/** How long a check waits for a rollout that is under way. */
export const ROLLOUT_WAIT_MS = 12_000;

export function deployment(ctx: CheckContext, name: string, namespace = ctx.ns()): Promise<V1Deployment | undefined> {
  return ctx.get<V1Deployment>('apps/v1', 'Deployment', name, namespace);
}

/**
 * Waits, bounded, for a rollout under way to finish; returns the
 * Deployment's last state, or undefined at once when there is none (nothing
 * waits for an object nobody created). It stops early when a pod's
 * container is stuck (whyNotRunning): waiting longer would not change it.
 */
export async function awaitRollout(
  ctx: CheckContext,
  name: string,
  namespace = ctx.ns(),
  timeoutMs = ROLLOUT_WAIT_MS,
): Promise<V1Deployment | undefined> {
  let last: V1Deployment | undefined;
  await ctx.waitFor(async () => {
    last = await deployment(ctx, name, namespace);
    return last === undefined || rolledOut(last) || (await whyNotRunning(ctx, last)) !== undefined;
  }, timeoutMs);
  return last;
}

/** Waiting reasons the kubelet does not get out of by waiting: a setting, the image or the program is wrong. */
const STUCK = new Set([
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
]);

/**
 * Why a Deployment's pods do not run, in the kubelet's words (a container
 * stuck waiting, with how it last ended), or undefined while none is stuck.
 * Only a real node says this: simulated ones never run a container.
 */
export async function whyNotRunning(ctx: CheckContext, d: V1Deployment): Promise<string | undefined> {
  for (const pod of await livePods(ctx, d)) {
    for (const status of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = status.state?.waiting;
      if (!waiting?.reason || !STUCK.has(waiting.reason)) continue;
      const ended = status.lastState?.terminated;
      const before = ended ? `; it last exited with code ${ended.exitCode}${ended.reason ? ` (${ended.reason})` : ''}` : '';
      return `${pod.metadata?.name}: the container ${status.name} is ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}${before}`;
    }
  }
  return undefined;
}

function selector(d: V1Deployment): string {
  return Object.entries(d.spec?.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The Deployment's pods that are not on their way out. */
export async function livePods(ctx: CheckContext, d: V1Deployment): Promise<V1Pod[]> {
  const pods = await ctx.list<V1Pod>('v1', 'Pod', d.metadata?.namespace, selector(d));
  return pods.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
}

const REVISION = 'deployment.kubernetes.io/revision';

/**
 * The live pods of the Deployment's current revision (a rollout leaves the
 * old ones for a while): those of the ReplicaSet it owns at its revision.
 * Empty until the Deployment controller has made that ReplicaSet.
 */
export async function currentPods(ctx: CheckContext, d: V1Deployment): Promise<V1Pod[]> {
  const revision = d.metadata?.annotations?.[REVISION];
  const sets = await ctx.list<V1ReplicaSet>('apps/v1', 'ReplicaSet', d.metadata?.namespace, selector(d));
  const current = sets.find(
    (rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === d.metadata?.uid) && rs.metadata?.annotations?.[REVISION] === revision,
  );
  const hash = current?.metadata?.labels?.['pod-template-hash'];
  if (!revision || !hash) return [];
  return (await livePods(ctx, d)).filter((p) => p.metadata?.labels?.['pod-template-hash'] === hash);
}

/** The kubelet's latest word on a probe of these pods (the events it records as Unhealthy), if any. */
export async function probeFailures(
  ctx: CheckContext,
  pods: readonly V1Pod[],
  kind: 'Readiness' | 'Liveness',
): Promise<string | undefined> {
  if (pods.length === 0) return undefined;
  const names = new Set(pods.map((p) => p.metadata?.name));
  const events = await ctx.list<CoreV1Event>('v1', 'Event', pods[0]?.metadata?.namespace);
  const ours = events
    .filter((e) => e.reason === 'Unhealthy' && names.has(e.involvedObject.name) && e.message?.startsWith(kind))
    .sort((a, b) => String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(String(b.lastTimestamp ?? b.eventTime ?? '')));
  return ours.at(-1)?.message;
}

/** Node name → node, for the nodes that pods run on. */
export async function nodesByName(ctx: CheckContext): Promise<Map<string, V1Node>> {
  const nodes = await ctx.list<V1Node>('v1', 'Node');
  return new Map(nodes.map((n) => [n.metadata?.name ?? '', n]));
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
