/**
 * Where a pod may go, read the way the scheduler reads it, so a placement
 * check accepts every form a learner may write (nodeSelector or required
 * node affinity, In or NotIn, one term or several) and refuses the forms
 * that only look alike (a preference, an ORed term that admits any node, a
 * toleration without a selector). Pure functions over the objects; the
 * checks then also look at where the pods landed.
 */
import type { V1Node, V1NodeSelectorRequirement, V1NodeSelectorTerm, V1PodSpec, V1Taint, V1Toleration } from '@kubernetes/client-node';

type Labels = Record<string, string>;

/** Whether one node selector requirement holds for these labels (the scheduler's semantics). */
export function requirementHolds(req: V1NodeSelectorRequirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, req.key);
  const value = labels[req.key] ?? '';
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return has && values.includes(value);
    case 'NotIn':
      return !has || !values.includes(value);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      const bound = Number(values[0]);
      const actual = Number(value);
      if (!has || !Number.isInteger(bound) || !Number.isInteger(actual)) return false;
      return req.operator === 'Gt' ? actual > bound : actual < bound;
    }
    default:
      return false;
  }
}

/** Whether a node selector term holds for a node: every expression on its labels, every field on its name. */
export function termHolds(term: V1NodeSelectorTerm, labels: Labels, nodeName: string): boolean {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  // A term with neither matches no node.
  if (expressions.length === 0 && fields.length === 0) return false;
  return (
    expressions.every((e) => requirementHolds(e, labels)) &&
    fields.every((f) => f.key === 'metadata.name' && requirementHolds({ ...f, key: 'name' }, { name: nodeName }))
  );
}

/** The pod's required node constraints: its nodeSelector AND any one of its required affinity terms. */
export function requiredAdmits(spec: V1PodSpec | undefined, labels: Labels, nodeName = ''): boolean {
  for (const [key, value] of Object.entries(spec?.nodeSelector ?? {})) {
    if (labels[key] !== value) return false;
  }
  const terms = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms === undefined) return true;
  return terms.some((t) => termHolds(t, labels, nodeName));
}

/**
 * Whether the pod's required constraints admit a node only when its label
 * `key` has one of `values`, whatever its other labels. Decided per form,
 * not against the nodes that happen to exist: the nodeSelector names the
 * key with an allowed value, or every required term has a requirement on
 * the key that admits nothing else (In a subset of the values, or NotIn every
 * value of `others`, the rest of the key's known values).
 */
export function requiresLabel(spec: V1PodSpec | undefined, key: string, values: readonly string[], others: readonly string[]): boolean {
  const selected = spec?.nodeSelector?.[key];
  if (selected !== undefined && values.includes(selected)) return true;
  const terms = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms || terms.length === 0) return false;
  return terms.every((t) =>
    (t.matchExpressions ?? []).some(
      (e) =>
        e.key === key &&
        ((e.operator === 'In' && (e.values?.length ?? 0) > 0 && (e.values ?? []).every((v) => values.includes(v))) ||
          (e.operator === 'NotIn' && others.length > 0 && others.every((o) => e.values?.includes(o)))),
    ),
  );
}

/** Whether the pod's preferred node affinity leans towards nodes with `key` in `values`. */
export function prefersLabel(spec: V1PodSpec | undefined, key: string, values: readonly string[]): boolean {
  return (spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).some((p) =>
    (p.preference.matchExpressions ?? []).some(
      (e) => e.key === key && e.operator === 'In' && (e.values ?? []).some((v) => values.includes(v)),
    ),
  );
}

/** Whether one toleration tolerates one taint (the scheduler's semantics: an empty effect matches every effect). */
export function toleratesTaint(t: V1Toleration, taint: V1Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (!t.key) return t.operator === 'Exists';
  if (t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

/** The node's scheduling taints (NoSchedule, NoExecute) that none of the tolerations tolerates. */
export function untoleratedTaints(tolerations: V1Toleration[] | undefined, node: V1Node): V1Taint[] {
  return (node.spec?.taints ?? []).filter(
    (taint) => taint.effect !== 'PreferNoSchedule' && !(tolerations ?? []).some((t) => toleratesTaint(t, taint)),
  );
}

/** The nodes the pod may be scheduled on by its required constraints and its tolerations (not counting room). */
export function eligibleNodes(spec: V1PodSpec | undefined, nodes: Iterable<V1Node>): V1Node[] {
  return [...nodes].filter(
    (n) => requiredAdmits(spec, n.metadata?.labels ?? {}, n.metadata?.name ?? '') && untoleratedTaints(spec?.tolerations, n).length === 0,
  );
}
