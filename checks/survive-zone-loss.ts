import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { criterion, defineCheck, missing } from './lib/check.ts';
import { selects } from './lib/network.ts';
import { awaitRollout, livePods, nodesByName, plural } from './lib/workloads.ts';

const ZONE = 'topology.kubernetes.io/zone';
const PDB_WAIT_MS = 5_000;

export default defineCheck({
  lab: 'survive-zone-loss',
  steps: {
    async spread(ctx) {
      const checkout = await awaitRollout(ctx, 'checkout');
      if (!checkout) return [missing('zone-spread', 'The Deployment checkout', 'Was it deleted? Reset the lab to get it back.')];
      const replicas = checkout.spec?.replicas ?? 1;
      const podLabels = checkout.spec?.template.metadata?.labels ?? {};
      const constraint = checkout.spec?.template.spec?.topologySpreadConstraints?.find((c) => c.topologyKey === ZONE);
      const enforced =
        constraint !== undefined &&
        constraint.maxSkew <= 1 &&
        constraint.whenUnsatisfiable === 'DoNotSchedule' &&
        constraint.labelSelector !== undefined &&
        selects(constraint.labelSelector, podLabels);

      const [pods, nodes] = await Promise.all([livePods(ctx, checkout), nodesByName(ctx)]);
      const perZone = new Map<string, number>();
      for (const pod of pods) {
        const zone = nodes.get(pod.spec?.nodeName ?? '')?.metadata?.labels?.[ZONE] ?? 'unscheduled';
        perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
      }
      const worstLoss = Math.max(0, ...perZone.values());
      const survivors = pods.length - worstLoss;

      // The disruption controller fills in a new budget's status within a moment.
      const budget = await ctx.waitFor(async () => {
        const budgets = await ctx.list<V1PodDisruptionBudget>('policy/v1', 'PodDisruptionBudget', ctx.ns());
        const mine = budgets.find((b) => b.spec?.selector && selects(b.spec.selector, podLabels));
        if (!mine) return undefined;
        return (mine.status?.observedGeneration ?? 0) >= (mine.metadata?.generation ?? 1) ? mine : undefined;
      }, PDB_WAIT_MS);
      const allowed = budget?.status?.disruptionsAllowed ?? 0;
      const spreadFail = !constraint
        ? `The Deployment checkout has no topology spread constraint on ${ZONE}.`
        : constraint.whenUnsatisfiable !== 'DoNotSchedule'
          ? `checkout's spread over zones is whenUnsatisfiable: ${constraint.whenUnsatisfiable}, a preference: when a zone is short of room the scheduler piles pods into the others.`
          : constraint.maxSkew > 1
            ? `checkout's spread allows a skew of ${constraint.maxSkew} between zones; the task asks for 1.`
            : "checkout's spread constraint does not select checkout's own pods (labelSelector).";
      return [
        criterion('replicas', replicas >= 3, {
          pass: `checkout runs ${replicas} replicas.`,
          fail: `The Deployment checkout runs ${plural(replicas, 'replica')}: with fewer than 3, one per zone is not possible.`,
          hint: '`kubectl scale --help`',
          diff: [{ path: 'spec.replicas', expected: '≥ 3', actual: replicas }],
        }),
        criterion('zone-spread', enforced, {
          pass: 'checkout is spread evenly over the zones, enforced.',
          fail: spreadFail,
          hint: '`kubectl explain deployment.spec.template.spec.topologySpreadConstraints`',
          diff: [
            {
              path: 'spec.template.spec.topologySpreadConstraints[]',
              expected: { topologyKey: ZONE, maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: podLabels } },
              actual: constraint,
            },
          ],
        }),
        criterion('survives-zone-loss', perZone.size >= 3 && survivors >= Math.ceil((2 * pods.length) / 3), {
          pass: `Losing any one zone leaves ${survivors} of ${pods.length} pods running.`,
          fail: `checkout's pods are in ${plural(perZone.size, 'zone')} (${[...perZone.entries()].map(([z, n]) => `${z}: ${n}`).join(', ')}): losing the busiest leaves ${survivors} of ${pods.length}.`,
          hint: '`kubectl get pods -l app=checkout -o wide` and `kubectl get nodes -L topology.kubernetes.io/zone`.',
        }),
        criterion('drainable', budget !== undefined && allowed >= 1, {
          pass: `The PodDisruptionBudget ${budget?.metadata?.name} protects checkout and allows ${allowed} disruption${allowed === 1 ? '' : 's'}.`,
          fail: budget
            ? `The PodDisruptionBudget ${budget.metadata?.name} allows no disruption (disruptionsAllowed is ${allowed}): every node drain and cluster upgrade would block on checkout.`
            : 'No PodDisruptionBudget selects the pods of checkout.',
          hint: '`kubectl get pdb` and `kubectl describe pdb`.',
          diff: budget ? [{ path: 'status.disruptionsAllowed', expected: '≥ 1', actual: allowed }] : [],
        }),
      ];
    },
  },
});
