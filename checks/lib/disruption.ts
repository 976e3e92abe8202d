/**
 * PodDisruptionBudgets as Kubernetes applies them, so a check judges a
 * budget by what it does rather than by the field it sets. The disruption
 * controller scales `minAvailable` or `maxUnavailable` (a number, or a
 * percentage rounded up) against the pods it expects, and writes
 * `disruptionsAllowed`; the eviction API, which every node drain and managed
 * node group update goes through, refuses a pod that more than one budget
 * covers, waits while a budget's status trails its spec, and refuses when
 * the budget allows no disruption. The same rules here let a check say
 * which eviction a drain would be refused and why, and how many pods a
 * budget keeps whatever form it is written in.
 */
import type { IntOrString, V1LabelSelector, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { selects } from './network.ts';

/**
 * Whether a policy/v1 budget's selector picks pods with these labels: an
 * empty selector picks every pod of the namespace, a missing one none.
 */
export function budgetSelects(selector: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  return selector !== undefined && selects(selector, labels);
}

/** The budgets that cover pods with these labels. */
export function budgetsFor(budgets: readonly V1PodDisruptionBudget[], labels: Record<string, string>): V1PodDisruptionBudget[] {
  return budgets.filter((b) => budgetSelects(b.spec?.selector, labels));
}

/** A number, or a percentage of `total` rounded up, as the disruption controller scales both fields. */
export function scaled(value: IntOrString, total: number): number {
  if (typeof value === 'number') return value;
  const percent = Number.parseInt(value.replace(/%$/, ''), 10);
  return Number.isNaN(percent) ? 0 : Math.ceil((percent * total) / 100);
}

/** How many of `expected` healthy pods the budget insists on keeping. */
export function keeps(budget: V1PodDisruptionBudget, expected: number): number {
  const spec = budget.spec;
  if (spec?.minAvailable !== undefined) return Math.min(expected, scaled(spec.minAvailable, expected));
  if (spec?.maxUnavailable !== undefined) return Math.max(0, expected - scaled(spec.maxUnavailable, expected));
  // Neither field (policy/v1 has no default): the controller wants no pod kept.
  return 0;
}

/** The budget's rule as written: "minAvailable: 50%". */
export function rule(budget: V1PodDisruptionBudget): string {
  const spec = budget.spec;
  if (spec?.minAvailable !== undefined) return `minAvailable: ${spec.minAvailable}`;
  if (spec?.maxUnavailable !== undefined) return `maxUnavailable: ${spec.maxUnavailable}`;
  return 'no minAvailable or maxUnavailable';
}

/** Whether the controller has caught up with the budget's spec and with the pods it covers. */
export function budgetSettled(budget: V1PodDisruptionBudget, pods: readonly V1Pod[]): boolean {
  const status = budget.status;
  if (!status || (status.observedGeneration ?? 0) < (budget.metadata?.generation ?? 1)) return false;
  const covered = pods.filter((p) => !p.metadata?.deletionTimestamp && budgetSelects(budget.spec?.selector, p.metadata?.labels ?? {}));
  const ready = covered.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  return status.expectedPods === covered.length && status.currentHealthy === ready;
}

export type EvictionVerdict =
  | { allowed: true; budget?: V1PodDisruptionBudget }
  | { allowed: false; why: 'several-budgets' | 'processing' | 'no-disruption'; budgets: V1PodDisruptionBudget[] };

/**
 * What the eviction API answers for a healthy pod with these labels now:
 * allowed with no budget, refused under more than one, refused while the
 * budget's status trails its spec, refused when it allows no disruption.
 */
export function evictionVerdict(budgets: readonly V1PodDisruptionBudget[], labels: Record<string, string>): EvictionVerdict {
  const covering = budgetsFor(budgets, labels);
  const [budget] = covering;
  if (!budget) return { allowed: true };
  if (covering.length > 1) return { allowed: false, why: 'several-budgets', budgets: covering };
  if ((budget.status?.observedGeneration ?? 0) < (budget.metadata?.generation ?? 1)) {
    return { allowed: false, why: 'processing', budgets: covering };
  }
  if ((budget.status?.disruptionsAllowed ?? 0) < 1) return { allowed: false, why: 'no-disruption', budgets: covering };
  return { allowed: true, budget };
}
