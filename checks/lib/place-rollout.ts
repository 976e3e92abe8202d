/**
 * A rollout wait that does not wait for what is not there. `awaitRollout` in
 * workloads.ts polls until the Deployment exists and has rolled out, so a
 * check of a lab whose Deployment the learner has yet to create spends its
 * whole wait on nothing; this variant answers at once when the Deployment is
 * absent or already rolled out, and waits only for a rollout under way.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { rolledOut } from '../../cluster/src/kube.ts';
import type { CheckContext } from './check.ts';
import { awaitRollout, deployment, ROLLOUT_WAIT_MS } from './workloads.ts';

export async function awaitPresentRollout(
  ctx: CheckContext,
  name: string,
  namespace = ctx.ns(),
  timeoutMs = ROLLOUT_WAIT_MS,
): Promise<V1Deployment | undefined> {
  const now = await deployment(ctx, name, namespace);
  if (!now || rolledOut(now)) return now;
  return awaitRollout(ctx, name, namespace, timeoutMs);
}
