/**
 * A learner's sandbox on a shared cluster: for each namespace a lab uses, a
 * namespace of the learner's own with a ResourceQuota, a LimitRange and Pod
 * Security labels, where the learner's ServiceAccount is bound to the
 * built-in `admin` ClusterRole through a RoleBinding, so it may do what the
 * labs need inside those namespaces and nothing outside them but read the
 * cluster-scope kinds an EKS workshop attendee sees (nodes, storage,
 * runtime and priority classes, CRDs), through a ClusterRoleBinding of its
 * own to the platform's read-only ClusterRole (cluster-read.ts). The
 * learner's kubeconfig carries a short-lived token from the TokenRequest
 * API, never the server's own credentials.
 *
 * `admin` is wider than a shared cluster can allow, and two things narrow
 * it: the quota counts every kind a learner can create (quota.ts, which
 * works out the bound on what a sandbox can put into etcd), and admission
 * policies applied with the system namespace (policies.ts, which says why
 * policies rather than a role of our own) refuse Services with externalIPs,
 * RoleBindings to `system:` groups or to other namespaces' ServiceAccounts,
 * and any kind the quota does not count. A namespace is handed over only
 * once the quota controller has counted its quotas, so they hold from the
 * learner's first request.
 *
 * Everything here, the ClusterRoleBinding included, carries an
 * ownerReference to the LabSession (cluster-scoped, so a cluster-scoped
 * object may name it) as a backstop, but ending a session or releasing its
 * sandboxes removes its objects explicitly (`removeSession`): the
 * garbage collector learns of a new CustomResourceDefinition only at its next
 * discovery pass, so on a freshly started cluster it may not act for a while.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  AuthenticationV1Api,
  CoreV1Api,
  type KubeConfig,
  RbacAuthorizationV1Api,
  type V1Namespace,
  type V1OwnerReference,
  type V1ResourceQuota,
} from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { applyObjects, ignoreStatus, waitFor } from '../../../cluster/src/kube.ts';
import type { ContainerNodes } from '../../../cluster/src/provider.ts';
import type { LogicalNamespace } from '../../../contract/content.ts';
import { realNamespaces, type SandboxNamespaces } from '../../../contract/sandbox.ts';
import { API_VERSION, KIND, LABELS, type LabSession, MANAGER } from '../../../contract/session.ts';
import { CLUSTER_READ_ROLE, clusterReadBindingName, ensureClusterReadRole } from './cluster-read.ts';
import { CONTAINERS_LABEL, ensureSandboxPolicies } from './policies.ts';
import { type ComputeLimits, sandboxQuotas } from './quota.ts';

export const SYSTEM_NAMESPACE = 'cdl-system';
/** Marks objects the platform owns inside a sandbox. */
export const PLATFORM_LABEL = 'containerdaylabs.dev/platform';

export type SandboxLimits = ComputeLimits;

export const DEFAULT_LIMITS: SandboxLimits = { pods: '30', cpu: '8', memory: '16Gi' };

function owner(session: LabSession): V1OwnerReference {
  return { apiVersion: API_VERSION, kind: KIND, name: session.metadata.name, uid: session.metadata.uid, blockOwnerDeletion: false };
}

/** A short, stable code for a lab id, so namespace names stay under 63 characters. */
export function labCode(labId: string): string {
  return createHash('sha256').update(labId).digest('hex').slice(0, 5);
}

/** The learner's real namespaces for a lab's, in the lab's order. */
export function sandboxNamespaces(session: LabSession, labId: string, namespaces: readonly LogicalNamespace[]): SandboxNamespaces {
  return namespaces.map((ns) => ({ name: ns.name, namespace: `${session.metadata.name}-${labCode(labId)}-${ns.name}` }));
}

export function serviceAccountName(session: LabSession | string): string {
  return `learner-${typeof session === 'string' ? session : session.metadata.name}`;
}

/** The username Kubernetes sees for a learner. */
export function learnerUser(session: LabSession): string {
  return `system:serviceaccount:${SYSTEM_NAMESPACE}:${serviceAccountName(session)}`;
}

export class Sandboxes {
  private readonly core: CoreV1Api;
  private readonly rbac: RbacAuthorizationV1Api;
  private readonly authn: AuthenticationV1Api;
  private readonly kc: KubeConfig;
  private readonly limits: SandboxLimits;
  /** Where only some nodes run containers: where the namespaces of a lab that needs them are bound. */
  private readonly containerNodes: ContainerNodes | undefined;

  constructor(kc: KubeConfig, limits: SandboxLimits = DEFAULT_LIMITS, containerNodes?: ContainerNodes) {
    this.kc = kc;
    this.limits = limits;
    this.containerNodes = containerNodes;
    this.core = kc.makeApiClient(CoreV1Api);
    this.rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    this.authn = kc.makeApiClient(AuthenticationV1Api);
  }

  /**
   * The platform's own namespace, where learners' ServiceAccounts live, the
   * admission policies that guard every sandbox and the ClusterRole of what
   * learners may read cluster-wide (applied again at each start, so a newer
   * server brings its newer policies and rules).
   */
  async ensureSystemNamespace(): Promise<void> {
    await this.core
      .createNamespace({ body: { metadata: { name: SYSTEM_NAMESPACE, labels: { [LABELS.managedBy]: MANAGER } } } })
      .catch(ignoreStatus(409));
    await Promise.all([ensureSandboxPolicies(this.kc, SYSTEM_NAMESPACE, this.containerNodes), ensureClusterReadRole(this.kc)]);
  }

  /**
   * The learner's identity: a ServiceAccount whose only right of its own is
   * to read the cluster-scope kinds of cluster-read.ts; its sandboxes'
   * RoleBindings give it the rest.
   */
  async ensureIdentity(session: LabSession): Promise<void> {
    const labels = { [LABELS.managedBy]: MANAGER, [LABELS.session]: session.metadata.name };
    await Promise.all([
      this.core
        .createNamespacedServiceAccount({
          namespace: SYSTEM_NAMESPACE,
          body: {
            metadata: { name: serviceAccountName(session), labels, ownerReferences: [owner(session)] },
            automountServiceAccountToken: false,
          },
        })
        .catch(ignoreStatus(409)),
      this.rbac
        .createClusterRoleBinding({
          body: {
            metadata: { name: clusterReadBindingName(session.metadata.name), labels, ownerReferences: [owner(session)] },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CLUSTER_READ_ROLE },
            subjects: [{ kind: 'ServiceAccount', name: serviceAccountName(session), namespace: SYSTEM_NAMESPACE }],
          },
        })
        .catch(ignoreStatus(409)),
    ]);
  }

  /**
   * Creates the lab's namespaces for this learner, ready to use; returns
   * their names. A lab that runs containers (`containers`) has them bound to
   * the nodes that do, where only some nodes do (containerNodes).
   */
  async provision(
    session: LabSession,
    labId: string,
    namespaces: readonly LogicalNamespace[],
    options: { containers?: boolean } = {},
  ): Promise<SandboxNamespaces> {
    const sandbox = sandboxNamespaces(session, labId, namespaces);
    const bind = options.containers ? this.containerNodes : undefined;
    await Promise.all([
      this.ensureIdentity(session),
      ...namespaces.map((ns, i) => this.provisionNamespace(session, labId, ns, sandbox[i]?.namespace ?? '', bind)),
    ]);
    return sandbox;
  }

  private async provisionNamespace(
    session: LabSession,
    labId: string,
    logical: LogicalNamespace,
    name: string,
    nodes?: ContainerNodes,
  ): Promise<void> {
    const body: V1Namespace = {
      metadata: {
        name,
        // Bound to the nodes that run containers: every pod gets their selector and tolerates their
        // taint (PodNodeSelector, PodTolerationRestriction); a learner, whose role cannot change the
        // namespace, cannot undo it. The label is what the platform's policy reads (policies.ts).
        ...(nodes
          ? {
              annotations: {
                'scheduler.alpha.kubernetes.io/node-selector': `${nodes.label.key}=${nodes.label.value}`,
                'scheduler.alpha.kubernetes.io/defaultTolerations': JSON.stringify([
                  { key: nodes.taint.key, operator: 'Equal', value: nodes.taint.value, effect: nodes.taint.effect },
                ]),
              },
            }
          : {}),
        labels: {
          ...(nodes ? { [CONTAINERS_LABEL]: 'true' } : {}),
          'pod-security.kubernetes.io/enforce': 'baseline',
          'pod-security.kubernetes.io/warn': 'restricted',
          ...logical.labels,
          [LABELS.managedBy]: MANAGER,
          [LABELS.session]: session.metadata.name,
          [LABELS.lab]: labId,
          [LABELS.logical]: logical.name,
        },
        ownerReferences: [owner(session)],
      },
    };
    await this.core.createNamespace({ body }).catch(ignoreStatus(409));
    const platform = { [LABELS.managedBy]: MANAGER, [PLATFORM_LABEL]: 'true' };
    const quotas: V1ResourceQuota[] = Object.entries(sandboxQuotas(this.limits)).map(([quota, hard]) => ({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: quota, namespace: name, labels: platform },
      spec: { hard },
    }));
    await Promise.all([
      // Applied rather than created, so a sandbox made by an older server gets today's quotas.
      ...quotas.map((quota) => applyObjects(this.kc, [quota]).then(() => this.quotaCounted(quota))),
      this.core
        .createNamespacedLimitRange({
          namespace: name,
          body: {
            metadata: { name: 'sandbox', labels: platform },
            spec: {
              limits: [
                {
                  type: 'Container',
                  _default: { cpu: '500m', memory: '512Mi' },
                  defaultRequest: { cpu: '100m', memory: '128Mi' },
                  max: { cpu: '2', memory: '4Gi' },
                },
              ],
            },
          },
        })
        .catch(ignoreStatus(409)),
      this.rbac
        .createNamespacedRoleBinding({
          namespace: name,
          body: {
            metadata: { name: 'learner', labels: platform },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
            subjects: [{ kind: 'ServiceAccount', name: serviceAccountName(session), namespace: SYSTEM_NAMESPACE }],
          },
        })
        .catch(ignoreStatus(409)),
    ]);
  }

  /**
   * Until the quota controller has counted a new quota, admission lets
   * everything through it; the namespace is not ready before that.
   */
  private async quotaCounted(quota: V1ResourceQuota): Promise<void> {
    const name = quota.metadata?.name ?? '';
    const namespace = quota.metadata?.namespace ?? '';
    const resources = Object.keys(quota.spec?.hard ?? {});
    await waitFor(
      `the quota ${name} of ${namespace} to be counted`,
      async () => {
        const { status } = await this.core.readNamespacedResourceQuota({ name, namespace });
        return resources.every((resource) => resource in (status?.hard ?? {}) && resource in (status?.used ?? {}));
      },
      30_000,
      50,
    );
  }

  /** Deletes the namespaces and waits until they are gone (so they can be made again). */
  async remove(namespaces: SandboxNamespaces, waitMs = 60_000): Promise<void> {
    const names = realNamespaces(namespaces);
    await Promise.all(names.map((name) => this.core.deleteNamespace({ name }).catch(ignoreStatus(404, 409))));
    if (waitMs > 0) {
      await waitFor(
        `namespaces ${names.join(', ')} to be deleted`,
        async () => {
          const left = await Promise.all(
            names.map((name) =>
              this.core.readNamespace({ name }).then(
                () => true,
                () => false,
              ),
            ),
          );
          return left.every((l) => !l);
        },
        waitMs,
        200,
      );
    }
  }

  /** Deletes every namespace of a session, its identity and the identity's cluster-wide binding, without waiting. */
  async removeSession(sessionName: string): Promise<string[]> {
    const list = await this.core.listNamespace({ labelSelector: `${LABELS.session}=${sessionName}` });
    const names = list.items.map((ns) => ns.metadata?.name ?? '').filter(Boolean);
    await Promise.all([
      ...names.map((name) => this.core.deleteNamespace({ name }).catch(ignoreStatus(404, 409))),
      this.core
        .deleteNamespacedServiceAccount({ name: serviceAccountName(sessionName), namespace: SYSTEM_NAMESPACE })
        .catch(ignoreStatus(404)),
      this.rbac.deleteClusterRoleBinding({ name: clusterReadBindingName(sessionName) }).catch(ignoreStatus(404)),
    ]);
    return names;
  }

  /** A short-lived token for the learner's ServiceAccount (TokenRequest API). */
  async issueToken(session: LabSession, seconds: number): Promise<{ token: string; expiresAt: string }> {
    const result = await this.core.createNamespacedServiceAccountToken({
      name: serviceAccountName(session),
      namespace: SYSTEM_NAMESPACE,
      body: { spec: { expirationSeconds: seconds, audiences: [] } },
    });
    return { token: result.status?.token ?? '', expiresAt: result.status?.expirationTimestamp?.toISOString() ?? '' };
  }

  /** A kubeconfig that reaches the cluster as the learner, defaulting to `namespace`, at `server` (default: where this server reaches it). */
  learnerKubeconfig(token: string, namespace: string, server?: string): string {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('the server kubeconfig has no current cluster');
    // The CA goes in by value: a sandboxed shell cannot see the server's files.
    const caData = cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString('base64') : '');
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'workshop', cluster: { server: server ?? cluster.server, ...(caData ? { 'certificate-authority-data': caData } : {}) } },
      ],
      users: [{ name: 'learner', user: { token } }],
      contexts: [{ name: 'workshop', context: { cluster: 'workshop', user: 'learner', namespace } }],
      'current-context': 'workshop',
    });
  }

  /** Asks Kubernetes whether a token is accepted, and as whom. */
  async whoIs(token: string): Promise<string | undefined> {
    const review = await this.authn.createTokenReview({ body: { spec: { token } } });
    return review.status?.authenticated ? review.status.user?.username : undefined;
  }
}
