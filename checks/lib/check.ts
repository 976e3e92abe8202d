/**
 * The check library: what a lab's check does most, one line each. Read the
 * learner's objects, ask the API server who may do what, see whether
 * admission refuses an object, wait for a condition, and compare an object
 * with the shape it should have. A check returns criteria; each says pass or
 * fail, what is wrong (naming the object and field, never the answer) and a
 * hint on how to look. Every call a check makes goes through clients its
 * deadline's AbortSignal cancels, so a check that runs late stops at once.
 */
import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  type KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import { abortableClients, isStatus, PollTimeout, poll, statusMessage } from '../../cluster/src/kube.ts';
import type { CriterionResult, Difference } from '../../contract/check.ts';
import { realNamespace, type SandboxNamespaces } from '../../contract/sandbox.ts';
import { differences } from './compare.ts';
import { probe, type Reachability } from './reachability.ts';

export type Criterion = CriterionResult;

/** Who a SubjectAccessReview asks about. A ServiceAccount gets the groups Kubernetes gives it. */
export type Subject = { serviceAccount: string; namespace: string } | { user: string; groups?: string[] } | { group: string };

export interface Access {
  verb: string;
  resource: string;
  /** API group, '' (the default) for the core group. */
  group?: string;
  /** A real namespace; omit for a cluster-wide question. */
  namespace?: string;
  name?: string;
  subresource?: string;
}

export interface Admission {
  allowed: boolean;
  /** Why it was refused, as the API server said it. */
  reason: string;
  /** The object as admission left it (defaults filled in), when allowed. */
  object?: KubernetesObject;
  /** The HTTP status of a refusal: 422 invalid, 403 forbidden by policy, 404 no such resource. */
  code?: number;
}

/** A refusal the check reads as an answer (invalid, forbidden, no such kind); the server's own failures are thrown. */
function refusal(error: unknown): Admission | undefined {
  if (!(error instanceof ApiException) || error.code < 400 || error.code >= 500) return undefined;
  return { allowed: false, reason: statusMessage(error), code: error.code };
}

export class CheckContext {
  readonly namespaces: SandboxNamespaces;
  /** Aborted at the check's deadline. */
  readonly signal: AbortSignal;
  /** The API server's URL: what a cache kept beyond one check is keyed by. */
  readonly cluster: string;
  private readonly objects: KubernetesObjectApi;
  private readonly authz: AuthorizationV1Api;
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig, namespaces: SandboxNamespaces, signal: AbortSignal) {
    this.namespaces = namespaces;
    this.signal = signal;
    this.cluster = kc.getCurrentCluster()?.server ?? '';
    const clients = abortableClients(kc, signal);
    this.objects = clients.objects;
    this.authz = clients.api(AuthorizationV1Api);
    this.core = clients.api(CoreV1Api);
  }

  /**
   * Reachability measured with real packets, from a probe pod of the
   * check's own in `namespace` labelled `labels` (reachability.ts): which of
   * `urls` answered. Only on a cluster whose pods in that namespace run
   * containers (a lab marked needsContainers).
   */
  reach(namespace: string, labels: Record<string, string>, urls: readonly string[]): Promise<Reachability> {
    return probe(this.core, { namespace, labels }, urls, { signal: this.signal });
  }

  /**
   * The last lines a container wrote (`kubectl logs`), or of its previous
   * run (`--previous`); empty when there is none yet. At most 64 KiB.
   */
  async logs(
    pod: string,
    namespace: string,
    options: { container?: string; previous?: boolean; tailLines?: number } = {},
  ): Promise<string> {
    try {
      return await this.core.readNamespacedPodLog({ name: pod, namespace, ...options, limitBytes: 64 * 1024 });
    } catch (error) {
      // No such run (yet, or any more): the kubelet answers 400 ("previous terminated container … not found"), the API 404.
      if (isStatus(error, 400) || isStatus(error, 404)) return '';
      throw error;
    }
  }

  /** The learner's real namespace for the lab's name of it (default: the lab's first). */
  ns(logical?: string): string {
    const real = realNamespace(this.namespaces, logical);
    if (!real) throw new Error(`this lab has no namespace "${logical ?? '(default)'}"`);
    return real;
  }

  /** One object, or undefined when it does not exist. */
  async get<T extends KubernetesObject>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return (await this.objects.read({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } })) as T;
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /** Every object of a kind in a namespace (or the cluster), optionally by label. */
  async list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace?: string, labelSelector?: string): Promise<T[]> {
    const list = await this.objects.list<T>(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector);
    return list.items;
  }

  /** Asks the API server's authorizer whether `subject` may do `access`. */
  async can(subject: Subject, access: Access): Promise<boolean> {
    let user: string;
    let groups: string[];
    if ('serviceAccount' in subject) {
      user = `system:serviceaccount:${subject.namespace}:${subject.serviceAccount}`;
      groups = ['system:serviceaccounts', `system:serviceaccounts:${subject.namespace}`, 'system:authenticated'];
    } else if ('user' in subject) {
      user = subject.user;
      groups = [...(subject.groups ?? []), 'system:authenticated'];
    } else {
      user = `member-of-${subject.group}`;
      groups = [subject.group, 'system:authenticated'];
    }
    const review = await this.authz.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user,
          groups,
          resourceAttributes: {
            verb: access.verb,
            resource: access.resource,
            group: access.group ?? '',
            ...(access.namespace ? { namespace: access.namespace } : {}),
            ...(access.name ? { name: access.name } : {}),
            ...(access.subresource ? { subresource: access.subresource } : {}),
          },
        },
      },
    });
    return review.status?.allowed === true;
  }

  /** A server-side dry-run create: would admission (quota, limits, Pod Security, policies) accept it? */
  async admits(object: KubernetesObject): Promise<Admission> {
    try {
      const created = await this.objects.create(object, undefined, 'All');
      return { allowed: true, reason: '', object: created };
    } catch (error) {
      const refused = refusal(error);
      if (!refused) throw error;
      return refused;
    }
  }

  /** A server-side dry-run apply of an object that may exist already. */
  async admitsApply(object: KubernetesObject): Promise<Admission> {
    try {
      await this.objects.patch(object, undefined, 'All', 'check', true, PatchStrategy.ServerSideApply);
      return { allowed: true, reason: '' };
    } catch (error) {
      const refused = refusal(error);
      if (!refused) throw error;
      return { allowed: false, reason: refused.reason };
    }
  }

  /**
   * A server-side dry-run eviction of a pod: what a node drain would be told
   * now (refused with 429 while a PodDisruptionBudget allows no disruption),
   * evicting nothing.
   */
  async evicts(name: string, namespace: string): Promise<Admission> {
    try {
      await this.core.createNamespacedPodEviction({
        name,
        namespace,
        dryRun: 'All',
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } },
      });
      return { allowed: true, reason: '' };
    } catch (error) {
      // A pod under two budgets is answered with a 500, and that is an answer all the same.
      if (isStatus(error, 500) && /more than one PodDisruptionBudget/.test(statusMessage(error))) {
        return { allowed: false, reason: statusMessage(error), code: 500 };
      }
      const refused = refusal(error);
      if (!refused) throw error;
      return refused;
    }
  }

  /** Polls `probe` until it returns a value; undefined when `timeoutMs` passes first. The check's deadline ends it too. */
  async waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 200): Promise<T | undefined> {
    try {
      return await poll(probe, { what: 'a check condition', timeoutMs, intervalMs, signal: this.signal, retryErrors: false });
    } catch (error) {
      if (error instanceof PollTimeout) return undefined;
      throw error;
    }
  }
}

export interface Outcome {
  /** Shown when the criterion passes. */
  pass: string;
  /** Shown when it fails: what is wrong, naming the object and field. */
  fail: string;
  hint: string;
  diff?: Difference[];
}

/** A criterion from a condition. */
export function criterion(id: string, passed: boolean, outcome: Outcome): Criterion {
  if (passed) return { id, passed, message: outcome.pass };
  return { id, passed, message: outcome.fail, hint: outcome.hint, ...(outcome.diff?.length ? { diff: outcome.diff } : {}) };
}

/** A criterion that holds when `actual` has the shape of `expected`; the differing fields go in its diff. */
export function shaped(id: string, expected: unknown, actual: unknown, outcome: Omit<Outcome, 'diff'>, at = ''): Criterion {
  const diff = differences(expected, actual, at);
  return criterion(id, diff.length === 0, { ...outcome, diff });
}

export function passed(id: string, message: string): Criterion {
  return { id, passed: true, message };
}

export function failed(id: string, message: string, hint: string, diff?: Difference[]): Criterion {
  return { id, passed: false, message, hint, ...(diff?.length ? { diff } : {}) };
}

/** A criterion that fails because an object is missing. */
export function missing(id: string, what: string, hint: string): Criterion {
  return { id, passed: false, message: `${what} does not exist yet.`, hint };
}

export type StepCheck = (ctx: CheckContext) => Promise<Criterion[]>;

export interface LabCheck {
  lab: string;
  steps: Record<string, StepCheck>;
}

export function defineCheck(check: LabCheck): LabCheck {
  return check;
}
