/**
 * What the labs rely on Kubernetes to do, checked on the real local cluster:
 * simulated EKS-like nodes, scheduling, Jobs, authorization and Pod Security.
 */
import {
  ApiException,
  AppsV1Api,
  AuthorizationV1Api,
  BatchV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCondition, nodeReady, waitFor } from '../../cluster/src/kube.ts';
import { createTestNamespace, deleteNamespace, testKubeConfig } from '../support/kube.ts';

const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
let namespace = '';

beforeAll(async () => {
  namespace = await createTestNamespace(kc, 'k8s');
});
afterAll(async () => {
  await deleteNamespace(kc, namespace);
});

const pause = { name: 'app', image: 'registry.k8s.io/pause:3.10' };

describe('the simulated nodes', () => {
  it('are Ready, in three zones, with both amd64 and arm64, and one Fargate-style tainted node', async () => {
    const all = (await core.listNode()).items;
    expect(all.filter((n) => !nodeReady(n)).map((n) => n.metadata?.name)).toEqual([]);
    // kwok's, by its annotation (the real node beside them has none: mixed-cluster.test.ts).
    const nodes = all.filter((n) => n.metadata?.annotations?.['kwok.x-k8s.io/node'] === 'fake');
    expect(nodes.length).toBeGreaterThanOrEqual(7);
    const label = (key: string) => new Set(nodes.map((n) => n.metadata?.labels?.[key]));
    expect([...label('topology.kubernetes.io/zone')].sort()).toEqual(['us-west-2a', 'us-west-2b', 'us-west-2c']);
    expect([...label('kubernetes.io/arch')].sort()).toEqual(['amd64', 'arm64']);
    const tainted = nodes.filter((n) =>
      n.spec?.taints?.some((t) => t.key === 'eks.amazonaws.com/compute-type' && t.effect === 'NoSchedule'),
    );
    expect(tainted).toHaveLength(1);
  });
});

describe('workloads', () => {
  it('runs a Deployment of 3 replicas as 3 Running pods', async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    const labels = { app: 'web' };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: { replicas: 3, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [pause] } } },
      },
    });
    let pods: V1Pod[] = [];
    await waitFor(
      '3 Running pods',
      async () => {
        pods = (await core.listNamespacedPod({ namespace, labelSelector: 'app=web' })).items;
        return pods.filter((p) => p.status?.phase === 'Running').length === 3;
      },
      30_000,
    );
    expect(pods.map((p) => p.status?.phase)).toEqual(['Running', 'Running', 'Running']);
    expect(pods.every((p) => p.spec?.nodeName)).toBe(true);
    const deployment = await apps.readNamespacedDeployment({ name: 'web', namespace });
    await waitFor(
      'the Deployment to report 3 available',
      async () => {
        const d = await apps.readNamespacedDeployment({ name: 'web', namespace });
        return d.status?.availableReplicas === 3;
      },
      30_000,
    );
    expect(deployment.spec?.replicas).toBe(3);
  });

  it('completes a Job', async () => {
    const batch = kc.makeApiClient(BatchV1Api);
    await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name: 'once' },
        spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [pause] } } },
      },
    });
    await waitFor(
      'the Job to complete',
      async () => hasCondition(await batch.readNamespacedJob({ name: 'once', namespace }), 'Complete'),
      45_000,
    );
    const job = await batch.readNamespacedJob({ name: 'once', namespace });
    expect(job.status?.succeeded).toBe(1);
  });
});

describe('authorization', () => {
  it('answers SubjectAccessReviews, and a RoleBinding changes the answer', async () => {
    const authz = kc.makeApiClient(AuthorizationV1Api);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'reader' } } });
    const user = `system:serviceaccount:${namespace}:reader`;
    const groups = ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'];
    const canListPods = async (ns: string) =>
      (
        await authz.createSubjectAccessReview({
          body: { spec: { user, groups, resourceAttributes: { namespace: ns, verb: 'list', resource: 'pods' } } },
        })
      ).status?.allowed ?? false;

    expect(await canListPods(namespace)).toBe(false);
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'reader-view' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    await waitFor('the RoleBinding to take effect', () => canListPods(namespace), 10_000, 100);
    expect(await canListPods(namespace)).toBe(true);
    expect(await canListPods('kube-system')).toBe(false);
  });
});

describe('Pod Security admission', () => {
  it('refuses a privileged pod in a namespace that enforces restricted', async () => {
    const restricted = await createTestNamespace(kc, 'psa', { 'pod-security.kubernetes.io/enforce': 'restricted' });
    try {
      const error = await core
        .createNamespacedPod({
          namespace: restricted,
          body: { metadata: { name: 'root' }, spec: { containers: [{ ...pause, securityContext: { privileged: true } }] } },
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(ApiException);
      const apiError = error as ApiException<unknown>;
      expect(apiError.code).toBe(403);
      const status = JSON.parse(String(apiError.body)) as { reason: string; message: string };
      expect(status.reason).toBe('Forbidden');
      expect(status.message).toMatch(
        /violates PodSecurity "restricted:latest": privileged \(container "app" must not set securityContext\.privileged=true\)/,
      );
    } finally {
      await deleteNamespace(kc, restricted);
    }
  });
});
