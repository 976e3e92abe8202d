/**
 * The chart's RBAC and fence, for real: a server whose only identity is the
 * chart's ServiceAccount (its ClusterRole, its Roles, its fencing admission
 * policy, applied to the test cluster as Helm would) starts, takes learners,
 * sets up every lab a shared cluster offers, checks it, solves it, and ends
 * the session, removing its sandboxes. The same identity, used directly, is
 * refused what the fence is for: writing outside the namespaces it manages,
 * deleting a namespace it did not make, binding anything but the learners'
 * read-only role cluster-wide. Shell pods run and go under it too.
 *
 * On a cluster of its own (with its real node, for the shell pods), not the
 * shared one: the fence is a cluster-wide policy, and the policy-as-code
 * lab's check, run beside it, would count it as one of the learner's.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { courseCatalog } from '../../checks/catalog.ts';
import { ExternalProvider } from '../../cluster/src/external/provider.ts';
import { applyObjects, ignoreStatus, kubeConfigFromString, loadKubeConfig, waitFor } from '../../cluster/src/kube.ts';
import { ensureHelm } from '../../cluster/src/local/binaries.ts';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import { ShellPods } from '../../labs-server/src/terminal/shell-pods.ts';
import { renderChart } from '../support/helm.ts';
import { Client, startTestServer, type TestServer } from '../support/server.ts';

const RELEASE_NAMESPACE = 'cdl-rbac';
const SERVICE_ACCOUNT = 'cdl-container-day-labs';
const CODE = 'RBAC-2026-ROOM';
/** What Helm would install that decides what the server may do (the rest is the workload). */
const IDENTITY_KINDS = new Set([
  'CustomResourceDefinition',
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);

const catalog = courseCatalog();
/** The labs a shared cluster offers that run without real containers: every one's setup, checks and solution run as the chart's identity. */
const LABS = catalog
  .list()
  .filter((lab) => lab.scope === 'namespace' && !lab.needsContainers && !lab.needsAuditLog && !lab.needsKarpenter)
  .map((lab) => lab.id);

const provider = new LocalProvider({ clusterName: 'rbac-chart', realNode: 'on' });
const log = (line: string) => process.stderr.write(`[chart rbac] ${line}\n`);

describe("the chart's identity for the server", () => {
  let admin: ReturnType<typeof loadKubeConfig>;
  let dir: string;
  let kubeconfig: string;
  let server: TestServer;

  beforeAll(async () => {
    const up = await provider.up(log);
    if (up.state !== 'running') throw new Error(`the cluster did not start: ${up.detail}`);
    await provider.importImages(['shell'], log);
    await ensureHelm({ log });
    admin = loadKubeConfig(provider.kubeconfig);
    const core = admin.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: RELEASE_NAMESPACE } } }).catch(ignoreStatus(409));
    const objects = (await renderChart({ publicOrigin: 'https://labs.example.org' }, RELEASE_NAMESPACE)).filter((o) =>
      IDENTITY_KINDS.has(o.kind ?? ''),
    );
    await applyObjects(admin, objects);
    const { status } = await core.createNamespacedServiceAccountToken({
      name: SERVICE_ACCOUNT,
      namespace: RELEASE_NAMESPACE,
      body: { spec: { expirationSeconds: 3600, audiences: [] } },
    });
    const cluster = admin.getCurrentCluster();
    const ca = cluster?.caData ?? (cluster?.caFile ? readFileSync(cluster.caFile).toString('base64') : '');
    dir = mkdtempSync(join(tmpdir(), 'cdl-rbac-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: cluster?.server, 'certificate-authority-data': ca } }],
        users: [{ name: 'server', user: { token: status?.token } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'server' } }],
        'current-context': 'c',
      }),
      { mode: 0o600 },
    );
    // The fence takes effect once the API server has loaded it: a write it refuses says so.
    const probe = kubeConfigFromString(readFileSync(kubeconfig, 'utf8')).makeApiClient(CoreV1Api);
    await waitFor(
      'the fence policy to be in force',
      () =>
        probe.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'fence-probe' } }, dryRun: 'All' }).then(
          () => false,
          (error: Error) => /writes only in its own/.test(error.message),
        ),
      30_000,
      500,
    );
    server = await startTestServer(
      { CDL_MODE: 'workshop', CDL_ACCESS_CODE: CODE, SHARED_ADDRESSES: '127.0.0.1,::1', MAX_SESSIONS: '1000' },
      catalog,
      undefined,
      { cluster: new ExternalProvider({ ...process.env, CDL_KUBECONFIG: kubeconfig }) },
    );
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await provider.down(log);
  }, 120_000);

  it('offers the labs of a shared cluster', () => {
    expect(LABS.length).toBeGreaterThanOrEqual(10);
  });

  it.concurrent.for(LABS)('sets up, checks, solves and removes %s as the chart lets it', { timeout: 180_000 }, async (lab, { expect }) => {
    const learner = new Client(server.origin);
    expect((await learner.post('/api/session', { name: `rbac ${lab}`, accessCode: CODE })).status).toBe(201);
    const id = (await learner.get('/api/session')).body.id as string;
    const started = await learner.post(`/api/labs/${lab}/start`, {});
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const steps = catalog.list().find((l) => l.id === lab)?.steps ?? [];
    const first = await learner.post(`/api/labs/${lab}/steps/${steps[0]?.id}/check`, {});
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.passed, 'the first step does not pass from the setup').toBe(false);
    const solved = await learner.post(`/api/labs/${lab}/solve`, {});
    expect(solved.status, JSON.stringify(solved.body)).toBe(200);
    for (const step of steps) {
      const result = await learner.post(`/api/labs/${lab}/steps/${step.id}/check`, {});
      expect(result.status, JSON.stringify(result.body)).toBe(200);
      expect(result.body.passed, `${step.id}: ${JSON.stringify(result.body.criteria)}`).toBe(true);
    }
    const ended = await new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` }).delete(
      `/api/admin/sessions/${id}`,
    );
    expect(ended.status).toBe(204);
    const core = admin.makeApiClient(CoreV1Api);
    await expect
      .poll(async () => (await core.listNamespace({ labelSelector: `containerdaylabs.dev/session=${id}` })).items.length, {
        timeout: 60_000,
      })
      .toBe(0);
  });

  it('is refused, as the fence says, what its role alone would let it do', async () => {
    const kc = kubeConfigFromString(readFileSync(kubeconfig, 'utf8'));
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => 'allowed',
        (error: Error) => error.message,
      );
    // Making itself admin of kube-system: RBAC allows the binding (bind on admin, create rolebindings), the fence does not.
    const toAdmin = {
      metadata: { name: 'cdl-escape' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
      subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: RELEASE_NAMESPACE }],
    };
    expect(await refusal(rbac.createNamespacedRoleBinding({ namespace: 'kube-system', body: toAdmin }))).toMatch(
      /writes only in its own and its sandboxes' namespaces, not in kube-system/,
    );
    // Removing a namespace it did not make.
    await admin
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: 'cdl-rbac-victim' } } })
      .catch(ignoreStatus(409));
    expect(await refusal(core.deleteNamespace({ name: 'cdl-rbac-victim' }))).toMatch(/makes and removes only its own namespaces/);
    // Binding anything but the learners' read-only role cluster-wide (here RBAC refuses first: it may bind only that role and admin).
    expect(await refusal(rbac.createClusterRoleBinding({ body: { ...toAdmin, metadata: { name: 'cdl-escape' } } }))).toMatch(
      /binds only the learners' read-only ClusterRole|forbidden/,
    );
    // And a namespace it makes must carry its label.
    expect(await refusal(core.createNamespace({ body: { metadata: { name: 'cdl-rbac-unlabelled' } } }))).toMatch(
      /makes and removes only its own namespaces/,
    );
    await admin
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name: 'cdl-rbac-victim' })
      .catch(() => undefined);
  });

  it('runs and removes shell pods under it', async () => {
    const kc = kubeConfigFromString(readFileSync(kubeconfig, 'utf8'));
    const pods = new ShellPods({
      kc,
      image: 'localhost/cdl/shell:1',
      poolSize: 0,
      memoryMiB: 256,
      cpus: 0.25,
      containerNodes: provider.containerNodes,
      maxPerSession: 2,
      logger: (await import('pino')).pino({ level: 'silent' }),
    });
    await pods.ensureNamespace();
    const session = 's-0000000000aa';
    const agent = await pods.locate(session, 'palette');
    expect((await fetch(`${agent.url}/healthz`)).status).toBe(200);
    const core = admin.makeApiClient(CoreV1Api);
    const labsOf = async () =>
      (await core.listNamespacedPod({ namespace: 'cdl-shells', labelSelector: `containerdaylabs.dev/session=${session}` })).items
        .filter((pod) => !pod.metadata?.deletionTimestamp)
        .map((pod) => pod.metadata?.labels?.['containerdaylabs.dev/lab'])
        .sort();
    // A session holds at most two pods here: a third lab's terminal ends the pod claimed longest ago.
    await pods.locate(session, 'first-deployment');
    await pods.locate(session, 'health-probes');
    expect(await labsOf()).toEqual(['first-deployment', 'health-probes']);
    await pods.release(session);
    await expect
      .poll(
        async () =>
          (await core.listNamespacedPod({ namespace: 'cdl-shells', labelSelector: `containerdaylabs.dev/session=${session}` })).items
            .length,
        {
          timeout: 30_000,
        },
      )
      .toBe(0);
  });
});
