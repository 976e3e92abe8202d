/**
 * deploy-changes-safely: shop runs on the real node with a readiness probe.
 * The lab starts just after release 1.27 went out: its pods never turn
 * ready (the image requires a payments service nobody runs), and the
 * strategy it went out with let it take one of 1.26's pods down. The
 * learner makes rollouts keep every replica, then rolls back; the rollback
 * is judged by what the pods really do: every replica of 1.26 ready.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { rolledOut } from '../cluster/src/kube.ts';
import { IMAGE_REFS } from '../cluster/src/local/images.ts';
import { criterion, defineCheck, missing } from './lib/check.ts';
import { awaitRollout, deployment, livePods, plural, probeFailures, whyNotRunning } from './lib/workloads.ts';

const GOOD = IMAGE_REFS.shopGood;
const BAD = IMAGE_REFS.shopBad;
const GONE = 'Was it deleted? Reset the lab to get it back.';

/** 0, "0" and "0%" are all zero, at any number of replicas; unset is not. */
function isZero(value: number | string | undefined): boolean {
  return value !== undefined && Number.parseInt(String(value), 10) === 0;
}

/**
 * A percentage of maxUnavailable rounds down, so "25%" of 3 replicas is 0
 * pods, yet 1 of 4: it keeps every replica only until someone scales.
 */
function roundsToZero(value: number | string | undefined, replicas: number): boolean {
  return typeof value === 'string' && value.endsWith('%') && Math.floor((Number.parseInt(value, 10) * replicas) / 100) === 0;
}

export default defineCheck({
  lab: 'deploy-changes-safely',
  steps: {
    async 'safe-strategy'(ctx) {
      const shop = await deployment(ctx, 'shop');
      if (!shop) return [missing('zero-unavailable', 'The Deployment shop', GONE)];
      const strategy = shop.spec?.strategy;
      const rolling = strategy?.rollingUpdate;
      const zero = strategy?.type !== 'Recreate' && isZero(rolling?.maxUnavailable) && !isZero(rolling?.maxSurge);
      const history = shop.spec?.revisionHistoryLimit ?? 10;
      return [
        criterion('zero-unavailable', zero, {
          pass: 'Rollouts of shop keep every replica available.',
          fail:
            strategy?.type === 'Recreate'
              ? 'The Deployment shop uses the Recreate strategy: every rollout stops all replicas before the new ones start.'
              : roundsToZero(rolling?.maxUnavailable, shop.spec?.replicas ?? 1)
                ? `maxUnavailable ${rolling?.maxUnavailable} rounds down to 0 pods at ${shop.spec?.replicas ?? 1} replicas, but not once shop is scaled up: say 0 to keep every replica available at any scale.`
                : `Rollouts of shop may take ${rolling?.maxUnavailable ?? '25%'} of its replicas out of service at once (maxUnavailable), with maxSurge ${rolling?.maxSurge ?? '25%'}.`,
          hint: '`kubectl explain deployment.spec.strategy.rollingUpdate`; with nothing unavailable, a rollout needs room to surge.',
          diff: [
            { path: 'spec.strategy.type', expected: 'RollingUpdate', actual: strategy?.type },
            { path: 'spec.strategy.rollingUpdate.maxUnavailable', expected: 0, actual: rolling?.maxUnavailable },
          ],
        }),
        criterion('history', history >= 3, {
          pass: `shop keeps ${history} old revisions to roll back to.`,
          fail: `The Deployment shop keeps ${history} old revision${history === 1 ? '' : 's'} (revisionHistoryLimit); the task asks for at least 3.`,
          hint: '`kubectl rollout history deployment/shop`',
          diff: [{ path: 'spec.revisionHistoryLimit', expected: '≥ 3', actual: history }],
        }),
      ];
    },
    async 'roll-back'(ctx) {
      // 1.27 with its probe never finishes a rollout: nothing to wait for.
      const now = await deployment(ctx, 'shop');
      const stuckAtBad = now?.spec?.template.spec?.containers.some((c) => c.image === BAD && c.readinessProbe);
      const shop = stuckAtBad ? now : await awaitRollout(ctx, 'shop');
      if (!shop) return [missing('good-version', 'The Deployment shop', GONE)];
      const images = shop.spec?.template.spec?.containers.map((c) => c.image) ?? [];
      const pods = await livePods(ctx, shop);
      const runs = (pod: V1Pod, image: string) => pod.spec?.containers.some((c) => c.image === image) === true;
      const stale = pods.filter((p) => runs(p, BAD));
      const ready = pods.filter((p) => runs(p, GOOD) && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      const revision = Number(shop.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? '0');
      const replicas = shop.spec?.replicas ?? 1;
      let notYet: string;
      if (images[0] === BAD && !shop.spec?.template.spec?.containers[0]?.readinessProbe) {
        notYet = `shop still runs 1.27 (${BAD}), now without its readiness probe: its pods are counted ready and get traffic, yet 1.27 says it is not ready (it cannot reach the payments service it requires).`;
      } else if (images[0] === BAD) {
        const why = await probeFailures(ctx, stale, 'Readiness');
        notYet = `shop is still at 1.27 (${BAD}): ${plural(stale.length, 'pod')} of it never turned ready${why ? ` (the kubelet: ${why})` : ''}, and only ${plural(ready.length, 'pod')} of 1.26 serve${ready.length === 1 ? 's' : ''}.`;
      } else if (images[0] !== GOOD) {
        const stuck = await whyNotRunning(ctx, shop);
        notYet = `The Deployment shop runs ${images.join(', ')}, not the previous version ${GOOD}${stuck ? ` (${stuck})` : ''}.`;
      } else if (stale.length > 0) {
        notYet = `The rollback of shop has not finished: ${plural(stale.length, 'pod')} still run${stale.length === 1 ? 's' : ''} 1.27.`;
      } else {
        notYet = `The rollback of shop has not finished: ${ready.length} of its ${replicas} replicas of 1.26 are ready.`;
      }
      return [
        criterion(
          'good-version',
          images.length === 1 && images[0] === GOOD && rolledOut(shop) && stale.length === 0 && ready.length >= replicas,
          {
            pass: `shop runs 1.26 on every replica, all ${replicas} ready.`,
            fail: notYet,
            hint: '`kubectl rollout history deployment/shop` and `kubectl rollout status deployment/shop`.',
            diff: [{ path: 'spec.template.spec.containers[0].image', expected: GOOD, actual: images[0] }],
          },
        ),
        criterion('rolled-back', revision >= 3, {
          pass: 'shop was rolled back, and its history shows it.',
          fail:
            images[0] === GOOD
              ? `The Deployment shop is at revision ${revision}: it was recreated rather than rolled back, and its history is gone.`
              : `The Deployment shop is at revision ${revision}, and has not been rolled back.`,
          hint: 'Rolling back keeps the Deployment and moves it to a new revision; deleting it throws the history away.',
        }),
      ];
    },
  },
});
