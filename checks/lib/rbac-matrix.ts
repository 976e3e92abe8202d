/**
 * Least privilege asked as a matrix, not as one question. A task names the
 * rights an identity needs; the check asks about every verb on those
 * resources and about a sample of what the task does not name: Secrets,
 * pods/exec, tokens, bindings with bind and escalate, the namespace itself,
 * other namespaces and the cluster scope, and wildcards. Every way of
 * writing a grant counts the same (a Role or a ClusterRole bound in the
 * namespace, one rule or three, a group subject), and every way of
 * over-granting is caught, however written. The answer names each right
 * that is missing or extra, so the learner reads which rights, not only
 * that something is wrong.
 *
 * A matrix is a hundred questions, and a hundred SubjectAccessReviews cost
 * far more than a learner should wait for. So the matrix is answered from
 * the RBAC objects themselves, as the RBAC authorizer answers it: the
 * bindings that name the subject (directly, by one of its groups, or a
 * ServiceAccount by its user name), in the namespaces the matrix asks
 * about and cluster-wide, and the rules of the roles they bind, matched
 * verb, group, resource, subresource and name as the authorizer matches
 * them. Reading the objects also sees a binding the moment it is written,
 * so nothing waits for the authorizer's watch. Every right the answer
 * reports (missing or extra) is then asked of the authorizer itself with a
 * SubjectAccessReview, so what the learner reads is the API server's word.
 * (What the answer finds allowed beyond RBAC, such as the Node authorizer's
 * rights for kubelets, is out of its sight; no lab's subject is a node.)
 */
import type { RbacV1Subject, V1ClusterRole, V1ClusterRoleBinding, V1PolicyRule, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import type { Access, CheckContext, Subject } from './check.ts';

const RBAC = 'rbac.authorization.k8s.io/v1';

export const READ_VERBS = ['get', 'list', 'watch'] as const;
export const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'] as const;
export const EVERY_VERB = [...READ_VERBS, ...WRITE_VERBS] as const;

/** How long the authorizer may take to agree with the RBAC objects it watches. */
export const SETTLE_MS = 1_500;

/**
 * The rights `verbs` on a resource written as kubectl writes it
 * (`pods`, `pods/exec`, `deployments.apps`, `deployments.apps/scale`),
 * in a namespace, or cluster-wide when none is given.
 */
export function rights(verbs: readonly string[], resource: string, namespace?: string, name?: string): Access[] {
  const [main = resource, subresource] = resource.split('/');
  const dot = main.indexOf('.');
  const plural = dot < 0 ? main : main.slice(0, dot);
  const group = dot < 0 ? '' : main.slice(dot + 1);
  return verbs.map((verb) => ({
    verb,
    resource: plural,
    group,
    ...(subresource ? { subresource } : {}),
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
  }));
}

/** `pods/exec`, `deployments.apps`, `namespaces x`: the resource as kubectl names it. */
function resourceLabel(access: Access): string {
  const sub = access.subresource ? `/${access.subresource}` : '';
  const group = access.group ? `.${access.group}` : '';
  const resource = access.resource === '*' ? 'every resource (*)' : `${access.resource}${sub}${group}`;
  return access.name ? `${resource} ${access.name}` : resource;
}

function place(access: Access): string {
  return access.namespace ? `in ${access.namespace}` : 'cluster-wide';
}

/** Rights in words, grouped by resource and place: "get, list secrets in a; create pods in kube-system". */
export function describeRights(list: readonly Access[], most = 6): string {
  const groups = new Map<string, string[]>();
  for (const access of list) {
    const key = `${resourceLabel(access)} ${place(access)}`;
    groups.set(key, [...(groups.get(key) ?? []), access.verb === '*' ? 'every verb (*) on' : access.verb]);
  }
  const phrases = [...groups].map(([key, verbs]) => `${verbs.join(', ')} ${key}`);
  const shown = phrases.slice(0, most).join('; ');
  return phrases.length > most ? `${shown}; and ${phrases.length - most} more` : shown;
}

/** Whether a grant of `granted` already includes `probe` (a cluster-wide grant covers every namespace). */
function covers(granted: Access, probe: Access): boolean {
  return (
    granted.verb === probe.verb &&
    granted.resource === probe.resource &&
    (granted.group ?? '') === (probe.group ?? '') &&
    (granted.subresource ?? '') === (probe.subresource ?? '') &&
    (granted.namespace === undefined || granted.namespace === probe.namespace) &&
    (granted.name === undefined || granted.name === probe.name)
  );
}

export interface Places {
  /** The namespaces the task's grant is in. */
  own: readonly string[];
  /** Namespaces the grant must not reach (another sandbox's, default, kube-system). */
  others: readonly string[];
}

/**
 * What tasks rarely name and an over-broad grant gives: reading Secrets,
 * exec into pods, minting tokens, changing bindings or escalating roles,
 * deleting the namespace, the same in other namespaces, cluster-wide writes,
 * and wildcards (a SubjectAccessReview for verb or resource `*` is allowed
 * only by a rule that says `*`).
 */
export function beyondTheTask(places: Places, named: readonly string[]): Access[] {
  const inOwn = places.own.flatMap((ns) => [
    ...rights(['get', 'list', 'watch'], 'secrets', ns),
    ...rights(['create'], 'pods/exec', ns),
    ...rights(['get'], 'pods/log', ns),
    ...rights(['create'], 'serviceaccounts/token', ns),
    ...rights(['list'], 'configmaps', ns),
    ...rights(['create', 'update', 'delete'], 'rolebindings.rbac.authorization.k8s.io', ns),
    ...rights(['bind', 'escalate'], 'roles.rbac.authorization.k8s.io', ns),
    ...rights(['bind'], 'clusterroles.rbac.authorization.k8s.io', ns),
    ...rights(['impersonate'], 'serviceaccounts', ns),
    ...rights(['update', 'patch', 'delete'], 'namespaces', ns, ns),
    ...rights(['*'], '*', ns),
    ...named.flatMap((resource) => rights(['*'], resource, ns)),
  ]);
  const inOthers = places.others.flatMap((ns) => [
    ...rights(['create'], 'pods', ns),
    ...rights(['create'], 'deployments.apps', ns),
    ...rights(['get', 'list'], 'secrets', ns),
    ...rights(['create'], 'pods/exec', ns),
    ...rights(['create'], 'rolebindings.rbac.authorization.k8s.io', ns),
    ...named.flatMap((resource) => rights(['create', 'delete'], resource, ns)),
  ]);
  const clusterWide = [
    ...rights(['list'], 'secrets'),
    ...rights(['create'], 'pods'),
    ...rights(['create', 'delete'], 'namespaces'),
    ...rights(['create'], 'clusterrolebindings.rbac.authorization.k8s.io'),
    ...rights(['bind', 'escalate'], 'clusterroles.rbac.authorization.k8s.io'),
    ...rights(['impersonate'], 'users'),
    ...rights(['impersonate'], 'groups'),
    ...rights(['create'], 'customresourcedefinitions.apiextensions.k8s.io'),
    ...rights(['get'], 'nodes/proxy'),
    ...rights(['update', 'delete'], 'nodes'),
    ...rights(['*'], '*'),
    ...named.flatMap((resource) => rights(['*'], resource)),
  ];
  return [...inOwn, ...inOthers, ...clusterWide];
}

export interface Matrix {
  /** Rights the task asks for. */
  need: readonly Access[];
  /** Rights the subject must not have; any covered by `need` are left out. */
  refuse: readonly Access[];
}

export interface MatrixAnswer {
  lacking: Access[];
  extra: Access[];
}

/** The user name and groups the API server gives the subject. */
function identity(subject: Subject): { user: string; groups: string[] } {
  if ('serviceAccount' in subject) {
    return {
      user: `system:serviceaccount:${subject.namespace}:${subject.serviceAccount}`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${subject.namespace}`, 'system:authenticated'],
    };
  }
  if ('user' in subject) return { user: subject.user, groups: [...(subject.groups ?? []), 'system:authenticated'] };
  return { user: `member-of-${subject.group}`, groups: [subject.group, 'system:authenticated'] };
}

function names(who: { user: string; groups: string[] }, s: RbacV1Subject, bindingNamespace?: string): boolean {
  if (s.kind === 'User') return s.name === who.user;
  if (s.kind === 'Group') return who.groups.includes(s.name);
  if (s.kind === 'ServiceAccount') return who.user === `system:serviceaccount:${s.namespace ?? bindingNamespace}:${s.name}`;
  return false;
}

/** A rule and where it holds: in one namespace, or everywhere (undefined) for a ClusterRoleBinding. */
interface Grant {
  rule: V1PolicyRule;
  namespace?: string;
}

/** What a check run has read (binding lists, roles' rules), kept for the run's other matrices. */
const reads = new WeakMap<CheckContext, Map<string, Promise<unknown>>>();

function once<T>(ctx: CheckContext, key: string, read: () => Promise<T>): Promise<T> {
  let cache = reads.get(ctx);
  if (!cache) {
    cache = new Map();
    reads.set(ctx, cache);
  }
  let value = cache.get(key);
  if (!value) {
    value = read();
    cache.set(key, value);
  }
  return value as Promise<T>;
}

function listOnce<T extends V1ClusterRoleBinding | V1RoleBinding>(ctx: CheckContext, kind: string, namespace?: string): Promise<T[]> {
  return once(ctx, `list ${kind} ${namespace ?? ''}`, () => ctx.list<T>(RBAC, kind, namespace));
}

/**
 * The API server's own ClusterRoles (`system:…`: basic-user, discovery,
 * public-info-viewer, which every identity is bound to through
 * system:authenticated) change only with the server's version, and every
 * matrix reads them: their rules are kept for a minute, per cluster. The
 * authorizer still has the last word on any right found missing or extra.
 */
const SYSTEM_ROLE_MS = 60_000;
const systemRoles = new Map<string, { at: number; rules: Promise<V1PolicyRule[]> }>();

function rulesOnce(ctx: CheckContext, kind: string, name: string, namespace?: string): Promise<V1PolicyRule[]> {
  if (kind === 'ClusterRole' && name.startsWith('system:')) {
    const key = `${ctx.cluster} ${name}`;
    const kept = systemRoles.get(key);
    if (kept && Date.now() - kept.at < SYSTEM_ROLE_MS) return kept.rules;
    const rules = ctx.get<V1ClusterRole>(RBAC, 'ClusterRole', name).then((role) => role?.rules ?? []);
    systemRoles.set(key, { at: Date.now(), rules });
    // A read that failed (the check's deadline) is not kept.
    rules.catch(() => systemRoles.delete(key));
    return rules;
  }
  return once(ctx, `rules ${kind} ${namespace ?? ''} ${name}`, async () => {
    const role =
      kind === 'ClusterRole'
        ? await ctx.get<V1ClusterRole>(RBAC, 'ClusterRole', name)
        : await ctx.get<V1Role>(RBAC, 'Role', name, namespace);
    return role?.rules ?? [];
  });
}

/** Every rule bound to the subject, in `namespaces` and cluster-wide. */
async function grantsOf(ctx: CheckContext, subject: Subject, namespaces: readonly string[]): Promise<Grant[]> {
  const who = identity(subject);
  const [clusterBindings, ...bindings] = await Promise.all([
    listOnce<V1ClusterRoleBinding>(ctx, 'ClusterRoleBinding'),
    ...namespaces.map((ns) => listOnce<V1RoleBinding>(ctx, 'RoleBinding', ns)),
  ]);
  const refs = [
    ...clusterBindings.filter((b) => (b.subjects ?? []).some((s) => names(who, s))).map((b) => ({ ref: b.roleRef, namespace: undefined })),
    ...bindings
      .flat()
      .filter((b) => (b.subjects ?? []).some((s) => names(who, s, b.metadata?.namespace)))
      .map((b) => ({ ref: b.roleRef, namespace: b.metadata?.namespace })),
  ];
  const granted = await Promise.all(
    refs.map(async ({ ref, namespace }) =>
      (await rulesOnce(ctx, ref.kind, ref.name, namespace)).map((rule): Grant => ({ rule, ...(namespace ? { namespace } : {}) })),
    ),
  );
  return granted.flat();
}

/** Whether a rule allows the access, matched as the RBAC authorizer matches it. */
function ruleAllows(rule: V1PolicyRule, access: Access): boolean {
  const verbs = rule.verbs ?? [];
  if (!verbs.includes('*') && !verbs.includes(access.verb)) return false;
  const groups = rule.apiGroups ?? [];
  if (!groups.includes('*') && !groups.includes(access.group ?? '')) return false;
  const resource = access.subresource ? `${access.resource}/${access.subresource}` : access.resource;
  const resources = rule.resources ?? [];
  const resourceMatches = resources.some(
    (r) => r === '*' || r === resource || (access.subresource !== undefined && r === `*/${access.subresource}`),
  );
  if (!resourceMatches) return false;
  const only = rule.resourceNames ?? [];
  return only.length === 0 || (access.name !== undefined && only.includes(access.name));
}

function allows(grants: readonly Grant[], access: Access): boolean {
  return grants.some((g) => (g.namespace === undefined || g.namespace === access.namespace) && ruleAllows(g.rule, access));
}

/** Asks the authorizer about each access, all at once. */
async function review(ctx: CheckContext, subject: Subject, list: readonly Access[]): Promise<boolean[]> {
  return Promise.all(list.map((access) => ctx.can(subject, access)));
}

/**
 * Answers every right of the matrix from the RBAC objects; the rights found
 * missing or extra are then asked of the authorizer, which is given a
 * bounded moment to catch up with the objects, and whose answer is the one
 * reported.
 */
export async function askMatrix(ctx: CheckContext, subject: Subject, matrix: Matrix): Promise<MatrixAnswer> {
  const seen = new Set<string>();
  const refuse = matrix.refuse.filter((probe) => {
    const key = JSON.stringify([probe.verb, probe.resource, probe.group ?? '', probe.subresource, probe.namespace, probe.name]);
    if (seen.has(key)) return false;
    seen.add(key);
    return !matrix.need.some((granted) => covers(granted, probe));
  });
  const namespaces = [...new Set([...matrix.need, ...refuse].map((a) => a.namespace).filter((ns) => ns !== undefined))];
  const grants = await grantsOf(ctx, subject, namespaces);
  const lacking = matrix.need.filter((a) => !allows(grants, a));
  const extra = refuse.filter((a) => allows(grants, a));
  if (lacking.length === 0 && extra.length === 0) return { lacking, extra };
  // The authorizer learns of a binding from a watch, a moment after the objects show it: give it that moment.
  const disputed = [...lacking, ...extra];
  const expected = disputed.map((_, i) => i >= lacking.length);
  let answers = await review(ctx, subject, disputed);
  if (answers.some((a, i) => a !== expected[i])) {
    await ctx.waitFor(
      async () => {
        answers = await review(ctx, subject, disputed);
        return answers.every((a, i) => a === expected[i]);
      },
      SETTLE_MS,
      250,
    );
  }
  return {
    lacking: lacking.filter((_, i) => !answers[i]),
    extra: extra.filter((_, i) => answers[lacking.length + i]),
  };
}
