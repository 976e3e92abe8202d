/**
 * Survive a zone loss: checkout spread evenly over the zones by a rule (a
 * DoNotSchedule topology spread constraint, or a required pod anti-affinity
 * on the zone key), its pods in fact spread so, and one PodDisruptionBudget
 * that both protects it (keeps at least one pod) and lets a drain evict one.
 * The budget is judged by what it does for checkout's replicas, scaled the
 * way the disruption controller scales it, so every form (minAvailable or
 * maxUnavailable, a number or a percentage) counts by its meaning, and a
 * rollout's surge pods do not make a budget look roomier than it is.
 */
import type { V1Deployment, V1LabelSelector, V1PodDisruptionBudget, V1PodSpec } from '@kubernetes/client-node';
import { rolledOut } from '../cluster/src/kube.ts';
import { type CheckContext, type Criterion, criterion, defineCheck, failed, missing, passed } from './lib/check.ts';
import { budgetsFor, keeps, rule } from './lib/disruption.ts';
import { selects } from './lib/network.ts';
import { eligibleNodes } from './lib/place-scheduling.ts';
import { awaitRollout, livePods, nodesByName, plural } from './lib/workloads.ts';

const ZONE = 'topology.kubernetes.io/zone';
/** A rollout over three zones can take a while on a busy cluster. */
const BUSY_ROLLOUT_WAIT_MS = 12_000;
const SPREAD_HINT = '`kubectl explain deployment.spec.template.spec.topologySpreadConstraints`';

/** A selector of a policy/v1 budget or a constraint: a missing one selects no pod. */
function selectsPods(selector: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  return selector !== undefined && selects(selector, labels);
}

/** Whether the template enforces an even spread over zones, and if not, why not. */
function zoneSpread(spec: V1PodSpec | undefined, podLabels: Record<string, string>): Criterion {
  const constraints = (spec?.topologySpreadConstraints ?? []).filter((c) => c.topologyKey === ZONE);
  const enforced = constraints.find(
    (c) => c.maxSkew <= 1 && c.whenUnsatisfiable === 'DoNotSchedule' && selectsPods(c.labelSelector, podLabels),
  );
  if (enforced) return passed('zone-spread', 'checkout is spread evenly over the zones by a DoNotSchedule constraint.');
  const antiRequired = (spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).find(
    (t) => t.topologyKey === ZONE && selectsPods(t.labelSelector, podLabels),
  );
  if (antiRequired) return passed('zone-spread', 'checkout requires its pods to be in different zones (required pod anti-affinity).');

  const antiPreferred = (spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).some(
    (t) => t.podAffinityTerm.topologyKey === ZONE,
  );
  const otherKeys = [
    ...(spec?.topologySpreadConstraints ?? []).map((c) => c.topologyKey),
    ...(spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => t.topologyKey),
  ].filter((k) => k !== ZONE);
  const first = constraints[0];
  let fail: string;
  if (first?.whenUnsatisfiable && first.whenUnsatisfiable !== 'DoNotSchedule') {
    fail = `checkout's spread over zones is whenUnsatisfiable: ${first.whenUnsatisfiable}, a preference: when a zone is short of room the scheduler piles pods into the others.`;
  } else if (first && first.maxSkew > 1) {
    fail = `checkout's spread allows a skew of ${first.maxSkew} between zones; the task asks for at most 1.`;
  } else if (first) {
    fail = "checkout's spread constraint on zones does not select checkout's own pods (labelSelector), so it counts nothing.";
  } else if (antiPreferred) {
    fail =
      "checkout's pod anti-affinity on zones is preferred, not required: when a zone is short of room the scheduler piles pods into the others.";
  } else if (otherKeys.length > 0) {
    fail = `checkout spreads over ${[...new Set(otherKeys)].join(', ')}, not over ${ZONE}: several nodes share a zone, so the pods can still end up in one.`;
  } else {
    fail = `The Deployment checkout has no topology spread constraint or required pod anti-affinity on ${ZONE}.`;
  }
  return failed('zone-spread', fail, SPREAD_HINT, [
    {
      path: 'spec.template.spec.topologySpreadConstraints[]',
      expected: { topologyKey: ZONE, maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule', labelSelector: '(selects the pods of checkout)' },
      actual: first,
    },
  ]);
}

/** Where the pods landed: every zone the pods may use within one pod of the others, and none left unscheduled. */
async function landed(ctx: CheckContext, checkout: V1Deployment): Promise<{ criterion: Criterion; pods: number }> {
  const [pods, nodes] = await Promise.all([livePods(ctx, checkout), nodesByName(ctx)]);
  const zones = new Set(
    eligibleNodes(checkout.spec?.template.spec, nodes.values())
      .map((n) => n.metadata?.labels?.[ZONE])
      .filter((z): z is string => z !== undefined),
  );
  const perZone = new Map<string, number>([...zones].map((z) => [z, 0]));
  let unscheduled = 0;
  for (const pod of pods) {
    const zone = nodes.get(pod.spec?.nodeName ?? '')?.metadata?.labels?.[ZONE];
    if (zone === undefined) unscheduled++;
    else perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
  }
  const counts = [...perZone.values()];
  const skew = counts.length > 0 ? Math.max(...counts) - Math.min(...counts) : 0;
  const used = counts.filter((n) => n > 0).length;
  const survivors = pods.length - unscheduled - Math.max(0, ...counts);
  const layout = [...perZone.entries()].map(([z, n]) => `${z}: ${n}`).join(', ');
  const settled = rolledOut(checkout);
  const ok = settled && unscheduled === 0 && used >= 3 && skew <= 1;
  const fail =
    unscheduled > 0
      ? `${plural(unscheduled, 'pod')} of checkout ${unscheduled === 1 ? 'is' : 'are'} not scheduled (${layout}): \`kubectl describe pod\` shows why no node meets ${unscheduled === 1 ? 'its' : 'their'} constraints.`
      : !settled
        ? `checkout's rollout is still under way (${layout}): check again once \`kubectl rollout status deployment/checkout\` says it is done.`
        : used < 3
          ? `checkout's pods are in ${plural(used, 'zone')} (${layout}): losing the busiest leaves ${survivors} of ${pods.length}.`
          : `checkout's pods are spread unevenly (${layout}): a skew of ${skew}.`;
  return {
    pods: pods.length,
    criterion: criterion('survives-zone-loss', ok, {
      pass: `checkout's pods are spread ${layout}: losing any one zone leaves ${survivors} of ${pods.length} running.`,
      fail,
      hint: '`kubectl get pods -l app=checkout -o wide` and `kubectl get nodes -L topology.kubernetes.io/zone`.',
    }),
  };
}

/** The one budget over checkout's pods, or a criterion saying why there is none. */
async function budgetFor(ctx: CheckContext, podLabels: Record<string, string>): Promise<V1PodDisruptionBudget | Criterion> {
  const hint = '`kubectl get pdb` and `kubectl describe pdb`.';
  const budgets = await ctx.list<V1PodDisruptionBudget>('policy/v1', 'PodDisruptionBudget', ctx.ns());
  const mine = budgetsFor(budgets, podLabels);
  if (mine.length === 0) return failed('drainable', 'No PodDisruptionBudget selects the pods of checkout.', hint);
  if (mine.length > 1) {
    const names = mine.map((b) => b.metadata?.name).join(', ');
    return failed(
      'drainable',
      `${mine.length} PodDisruptionBudgets (${names}) select the pods of checkout: the eviction API refuses to evict a pod that more than one budget covers, so every drain blocks.`,
      hint,
    );
  }
  return mine[0] as V1PodDisruptionBudget;
}

export default defineCheck({
  lab: 'survive-zone-loss',
  steps: {
    async spread(ctx) {
      const checkout = await awaitRollout(ctx, 'checkout', ctx.ns(), BUSY_ROLLOUT_WAIT_MS);
      if (!checkout) return [missing('zone-spread', 'The Deployment checkout', 'Was it deleted? Reset the lab to get it back.')];
      const replicas = checkout.spec?.replicas ?? 1;
      const podLabels = checkout.spec?.template.metadata?.labels ?? {};
      const where = await landed(ctx, checkout);
      const budget = await budgetFor(ctx, podLabels);
      let drainable: Criterion;
      if ('id' in budget) drainable = budget;
      else {
        const name = budget.metadata?.name;
        // The budget's meaning for checkout's replicas: mid-rollout, its status counts surge pods as healthy.
        const expected = replicas;
        const kept = keeps(budget, expected);
        const allowed = Math.max(0, expected - kept);
        const written = rule(budget);
        drainable = criterion('drainable', allowed >= 1 && kept >= 1, {
          pass: `The PodDisruptionBudget ${name} keeps ${kept} pod${kept === 1 ? '' : 's'} of checkout and allows ${allowed} disruption${allowed === 1 ? '' : 's'}.`,
          fail:
            allowed < 1
              ? `The PodDisruptionBudget ${name} (${written}) allows no disruption (it keeps ${kept} of ${expected} pods): every node drain and cluster upgrade would block on checkout.`
              : `The PodDisruptionBudget ${name} (${written}) protects nothing: it keeps ${kept} pods, so a drain may evict every pod of checkout at once.`,
          hint: '`kubectl get pdb` shows ALLOWED DISRUPTIONS; `kubectl describe pdb` shows how many pods it keeps.',
          diff: [
            { path: `pods it lets a drain evict (of ${expected})`, expected: '≥ 1', actual: allowed },
            { path: `pods it keeps (of ${expected})`, expected: '≥ 1', actual: kept },
          ],
        });
      }
      return [
        criterion('replicas', replicas >= 3, {
          pass: `checkout runs ${replicas} replicas.`,
          fail: `The Deployment checkout runs ${plural(replicas, 'replica')}: with fewer than 3, one per zone is not possible.`,
          hint: '`kubectl scale --help`',
          diff: [{ path: 'spec.replicas', expected: '≥ 3', actual: replicas }],
        }),
        zoneSpread(checkout.spec?.template.spec, podLabels),
        where.criterion,
        drainable,
      ];
    },
  },
});
