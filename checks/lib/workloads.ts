/**
 * Deployments and their pods: the state most labs end in. A check that needs
 * a rollout to finish waits for it briefly (the learner may check right
 * after applying), then reports what it saw.
 */
import type { V1Deployment, V1Node, V1Pod } from '@kubernetes/client-node';
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
 * waits for an object nobody created).
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
    return last === undefined || rolledOut(last);
  }, timeoutMs);
  return last;
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

/** Node name → node, for the nodes that pods run on. */
export async function nodesByName(ctx: CheckContext): Promise<Map<string, V1Node>> {
  const nodes = await ctx.list<V1Node>('v1', 'Node');
  return new Map(nodes.map((n) => [n.metadata?.name ?? '', n]));
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
