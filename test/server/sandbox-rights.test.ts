/**
 * What a learner can and cannot do inside their own sandbox on a shared
 * cluster, proven as the learner: two attendees join a workshop server, start
 * a lab, and act with the kubeconfig the server gives them (their own
 * short-lived token). The quota stops floods of large objects at the count
 * quota.ts states; admission refuses Services with externalIPs, RoleBindings
 * that open the sandbox to everyone or to another namespace's
 * ServiceAccounts, and kinds the quota does not count, also when the learner
 * acts as a ServiceAccount of their own namespace; the bindings the RBAC labs
 * teach still go through. Outside their namespaces a learner reads the
 * cluster-scope kinds an EKS workshop attendee sees (nodes, storage, runtime
 * and priority classes, CRDs) and nothing else, and the binding that gives
 * them this goes when their session ends.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import {
  ApiException,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  RbacAuthorizationV1Api,
  type RbacV1Subject,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../cluster/src/exec.ts';
import { isStatus, kubeConfigFromString, statusMessage } from '../../cluster/src/kube.ts';
import { findKubectl } from '../../cluster/src/kubectl.ts';
import { CLUSTER_READ_ROLE, clusterReadBindingName } from '../../labs-server/src/sandbox/cluster-read.ts';
import { DEFAULT_LIMITS, SYSTEM_NAMESPACE, serviceAccountName } from '../../labs-server/src/sandbox/provision.ts';
import { COUNTED_KINDS, countName, etcdBytesPerNamespace, MAX_OBJECT_BYTES } from '../../labs-server/src/sandbox/quota.ts';
import { testKubeConfig } from '../support/kube.ts';
import { Client, startTestServer, type TestServer } from '../support/server.ts';

const admin = testKubeConfig();
const adminCore = admin.makeApiClient(CoreV1Api);
const ACCESS_CODE = 'RIGHTS-2026';
/** The attack as it was seen: sixty ConfigMaps of 930 KiB each. */
const FLOOD = { objects: 60, bytes: 930 * 1024 };

interface Learner {
  client: Client;
  session: string;
  namespace: string;
  kc: KubeConfig;
  /** The kubeconfig as the server hands it over, for kubectl. */
  kubeconfig: string;
}

let server: TestServer;
let ada: Learner;
let bob: Learner;

async function join(name: string): Promise<Learner> {
  const client = new Client(server.origin);
  const joined = await client.post('/api/session', { name, accessCode: ACCESS_CODE });
  expect(joined.status, JSON.stringify(joined.body)).toBe(201);
  const started = await client.post('/api/labs/palette/start');
  expect(started.status, JSON.stringify(started.body)).toBe(201);
  const kubeconfig = await client.get('/api/labs/palette/kubeconfig');
  expect(kubeconfig.status).toBe(200);
  return {
    client,
    session: joined.body.id,
    namespace: started.body.namespaces[0].namespace as string,
    kc: kubeConfigFromString(kubeconfig.body),
    kubeconfig: kubeconfig.body,
  };
}

beforeAll(async () => {
  server = await startTestServer({ CDL_MODE: 'workshop', CDL_ACCESS_CODE: ACCESS_CODE });
  [ada, bob] = await Promise.all([join('Ada'), join('Bob')]);
});

afterAll(async () => {
  const instructor = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
  await Promise.all([ada, bob].filter(Boolean).map((l) => instructor.delete(`/api/admin/sessions/${l.session}`)));
  await server?.close();
});

interface Outcome {
  status: number;
  message: string;
}

/** An API call's HTTP status and, when refused, the API server's message. */
async function outcome(call: Promise<unknown>): Promise<Outcome> {
  return call.then(
    () => ({ status: 201, message: '' }),
    (error: unknown) => ({ status: error instanceof ApiException ? error.code : 0, message: statusMessage(error) }),
  );
}

/** The same cluster and namespace as `kc`, as whoever holds `token`. */
function withToken(kc: KubeConfig, token: string): KubeConfig {
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: kc.getClusters(),
    users: kc.getUsers().map((user) => ({ ...user, token })),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
  });
  return copy;
}

function count(resource: string): number {
  const kind = COUNTED_KINDS.find((k) => k.group === '' && k.resource === resource);
  if (!kind) throw new Error(`quota.ts counts no ${resource}`);
  return kind.count;
}

/** How many objects of a core kind the namespace holds now, as its quota counts them. */
async function used(namespace: string, resource: string): Promise<number> {
  const quota = await adminCore.readNamespacedResourceQuota({ name: 'sandbox-objects', namespace });
  return Number(quota.status?.used?.[countName({ group: '', resource })] ?? Number.NaN);
}

describe('the quota', () => {
  it('is what quota.ts states, and the bound it gives is the one docs/terminal.md states', async () => {
    const quotas = await adminCore.listNamespacedResourceQuota({ namespace: ada.namespace });
    const hard = Object.assign({}, ...quotas.items.map((q) => q.spec?.hard ?? {}));
    for (const kind of COUNTED_KINDS) {
      const expected = kind.resource === 'pods' ? DEFAULT_LIMITS.pods : String(kind.count);
      expect(hard[countName(kind)], countName(kind)).toBe(expected);
    }
    expect(hard['services.loadbalancers']).toBe('0');
    expect(hard['services.nodeports']).toBe('0');
    const mib = etcdBytesPerNamespace(DEFAULT_LIMITS) / 2 ** 20;
    const docs = readFileSync(new URL('../../docs/terminal.md', import.meta.url), 'utf8');
    expect(docs).toContain(`${mib.toFixed(1)} MiB`);
  });

  it(`stops a flood of ${FLOOD.objects} ConfigMaps of 930 KiB at the stated count`, async () => {
    const core = ada.kc.makeApiClient(CoreV1Api);
    const before = await used(ada.namespace, 'configmaps');
    const blob = 'x'.repeat(FLOOD.bytes);
    const results: Outcome[] = [];
    for (let i = 0; i < FLOOD.objects; i++) {
      results.push(
        await outcome(
          core.createNamespacedConfigMap({ namespace: ada.namespace, body: { metadata: { name: `flood-${i}` }, data: { blob } } }),
        ),
      );
    }
    const accepted = results.filter((r) => r.status === 201).length;
    const refused = results.filter((r) => r.status !== 201);
    expect(accepted).toBe(count('configmaps') - before);
    expect(refused.length).toBe(FLOOD.objects - accepted);
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(r.message).toMatch(/exceeded quota: sandbox-objects.*count\/configmaps/);
    }
    // What got in: at most the stated count of objects, each no larger than etcd stores.
    expect(accepted * FLOOD.bytes).toBeLessThanOrEqual(count('configmaps') * MAX_OBJECT_BYTES);
    expect(await used(ada.namespace, 'configmaps')).toBe(count('configmaps'));
  });

  it(`stops a flood of ${FLOOD.objects} Secrets of 930 KiB at the stated count`, async () => {
    const core = ada.kc.makeApiClient(CoreV1Api);
    const before = await used(ada.namespace, 'secrets');
    const blob = 'x'.repeat(FLOOD.bytes);
    let accepted = 0;
    const messages: string[] = [];
    for (let i = 0; i < FLOOD.objects; i++) {
      const r = await outcome(
        core.createNamespacedSecret({ namespace: ada.namespace, body: { metadata: { name: `flood-${i}` }, stringData: { blob } } }),
      );
      if (r.status === 201) accepted++;
      else messages.push(`${r.status} ${r.message}`);
    }
    expect(accepted).toBe(count('secrets') - before);
    expect(messages.length).toBe(FLOOD.objects - accepted);
    for (const m of messages) expect(m).toMatch(/^403 .*exceeded quota: sandbox-objects.*count\/secrets/);
  });

  it('gives no NodePort and no LoadBalancer', async () => {
    const core = ada.kc.makeApiClient(CoreV1Api);
    for (const type of ['NodePort', 'LoadBalancer']) {
      const r = await outcome(
        core.createNamespacedService({
          namespace: ada.namespace,
          body: { metadata: { name: type.toLowerCase() }, spec: { type, ports: [{ port: 80 }], selector: { app: 'x' } } },
        }),
      );
      expect(r.status, type).toBe(403);
      expect(r.message).toMatch(/exceeded quota: sandbox-objects.*services\.(nodeports|loadbalancers)/);
    }
  });
});

describe('admission', () => {
  it('refuses a Service with externalIPs, on create and on update (CVE-2020-8554)', async () => {
    const core = ada.kc.makeApiClient(CoreV1Api);
    const service = (name: string, externalIPs?: string[]) => ({
      metadata: { name },
      spec: { ports: [{ port: 80 }], selector: { app: name }, ...(externalIPs ? { externalIPs } : {}) },
    });
    const create = await outcome(core.createNamespacedService({ namespace: ada.namespace, body: service('intercept', ['203.0.113.10']) }));
    expect(create.status).toBe(403);
    expect(create.message).toContain('cdl-sandbox-no-external-ips');
    expect(create.message).toContain('CVE-2020-8554');

    expect((await outcome(core.createNamespacedService({ namespace: ada.namespace, body: service('plain') }))).status).toBe(201);
    const current = await core.readNamespacedService({ name: 'plain', namespace: ada.namespace });
    const update = await outcome(
      core.replaceNamespacedService({
        name: 'plain',
        namespace: ada.namespace,
        body: { ...current, spec: { ...current.spec, externalIPs: ['203.0.113.10'] } },
      }),
    );
    expect(update.status).toBe(403);
    expect(update.message).toContain('CVE-2020-8554');
  });

  describe('of RoleBindings', () => {
    let rbac: RbacAuthorizationV1Api;
    let n = 0;
    const bind = (subject: RbacV1Subject, roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' }) =>
      outcome(
        rbac.createNamespacedRoleBinding({
          namespace: ada.namespace,
          body: { metadata: { name: `binding-${n++}` }, roleRef, subjects: [subject] },
        }),
      );

    beforeAll(async () => {
      rbac = ada.kc.makeApiClient(RbacAuthorizationV1Api);
      const core = ada.kc.makeApiClient(CoreV1Api);
      await core.createNamespacedServiceAccount({ namespace: ada.namespace, body: { metadata: { name: 'auditor' } } });
      await rbac.createNamespacedRole({
        namespace: ada.namespace,
        body: { metadata: { name: 'pod-reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] },
      });
    });

    const group = 'rbac.authorization.k8s.io';
    it.each([
      ['Group', 'system:unauthenticated'],
      ['Group', 'system:authenticated'],
      ['User', 'system:anonymous'],
      ['Group', 'system:serviceaccounts'],
      ['Group', 'system:masters'],
    ])('refuses a binding to the %s %s', async (kind, name) => {
      const r = await bind({ apiGroup: group, kind, name });
      expect(r.status).toBe(403);
      expect(r.message).toContain('cdl-sandbox-binding-subjects');
      expect(r.message).toContain(`${kind} ${name}`);
    });

    it("refuses a binding to another learner's identity, or to a ServiceAccount of another namespace", async () => {
      const bobIdentity = await bind({ kind: 'ServiceAccount', name: serviceAccountName(bob.session), namespace: SYSTEM_NAMESPACE });
      expect(bobIdentity.status).toBe(403);
      expect(bobIdentity.message).toContain(`not ${SYSTEM_NAMESPACE}/${serviceAccountName(bob.session)}`);
      const bobsNamespace = await bind({ kind: 'ServiceAccount', name: 'default', namespace: bob.namespace });
      expect(bobsNamespace.status).toBe(403);
      expect(bobsNamespace.message).toContain(`${bob.namespace}/default`);
      const asUser = await bind({ apiGroup: group, kind: 'User', name: `system:serviceaccount:${bob.namespace}:default` });
      expect(asUser.status).toBe(403);
      const platform = await bind({ kind: 'ServiceAccount', name: 'default', namespace: SYSTEM_NAMESPACE });
      expect(platform.status).toBe(403);
    });

    it('refuses adding a forbidden subject to an allowed binding', async () => {
      const created = await rbac.createNamespacedRoleBinding({
        namespace: ada.namespace,
        body: {
          metadata: { name: 'grows' },
          roleRef: { apiGroup: group, kind: 'Role', name: 'pod-reader' },
          subjects: [{ kind: 'ServiceAccount', name: 'auditor', namespace: ada.namespace }],
        },
      });
      const r = await outcome(
        rbac.replaceNamespacedRoleBinding({
          name: 'grows',
          namespace: ada.namespace,
          body: { ...created, subjects: [...(created.subjects ?? []), { apiGroup: group, kind: 'Group', name: 'system:authenticated' }] },
        }),
      );
      expect(r.status).toBe(403);
      expect(r.message).toContain('Group system:authenticated');
    });

    it('allows what the RBAC labs teach: ServiceAccounts of the namespace, plain users and groups', async () => {
      const r = await outcome(
        rbac.createNamespacedRoleBinding({
          namespace: ada.namespace,
          body: {
            metadata: { name: 'auditor-reads-pods' },
            roleRef: { apiGroup: group, kind: 'Role', name: 'pod-reader' },
            subjects: [
              { kind: 'ServiceAccount', name: 'auditor', namespace: ada.namespace },
              { kind: 'ServiceAccount', name: 'default' },
              { apiGroup: group, kind: 'User', name: 'jane' },
              { apiGroup: group, kind: 'Group', name: 'team-payments' },
            ],
          },
        }),
      );
      expect(r).toEqual({ status: 201, message: '' });
      // who-may-do-what's wrong attempt: too much, but the learner may make it and see the check refuse it.
      const tooMuch = await bind(
        { kind: 'ServiceAccount', name: 'auditor', namespace: ada.namespace },
        { apiGroup: group, kind: 'ClusterRole', name: 'admin' },
      );
      expect(tooMuch).toEqual({ status: 201, message: '' });
    });
  });

  it('holds when the learner acts as a ServiceAccount of their own namespace', async () => {
    const core = ada.kc.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace: ada.namespace, body: { metadata: { name: 'helper' } } });
    await ada.kc.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
      namespace: ada.namespace,
      body: {
        metadata: { name: 'helper-admin' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'helper', namespace: ada.namespace }],
      },
    });
    const token = await core.createNamespacedServiceAccountToken({
      name: 'helper',
      namespace: ada.namespace,
      body: { spec: { expirationSeconds: 600, audiences: [] } },
    });
    const asHelper = withToken(ada.kc, token.status?.token ?? '');
    const self = await asHelper.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(self.status?.userInfo?.username).toBe(`system:serviceaccount:${ada.namespace}:helper`);

    const open = await outcome(
      asHelper.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
        namespace: ada.namespace,
        body: {
          metadata: { name: 'open-door' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
        },
      }),
    );
    expect(open.status).toBe(403);
    expect(open.message).toContain('cdl-sandbox-binding-subjects');
    const intercept = await outcome(
      asHelper.makeApiClient(CoreV1Api).createNamespacedService({
        namespace: ada.namespace,
        body: { metadata: { name: 'via-helper' }, spec: { ports: [{ port: 80 }], externalIPs: ['203.0.113.11'] } },
      }),
    );
    expect(intercept.status).toBe(403);
    expect(intercept.message).toContain('CVE-2020-8554');
  });

  it.each([
    ['', 'events', 'events'],
    ['events.k8s.io', 'events', 'events.events.k8s.io'],
    ['coordination.k8s.io', 'leases', 'leases.coordination.k8s.io'],
  ])('refuses a kind the quota does not count, though admin allows it (%s %s)', async (group, resource, shown) => {
    const review = await ada.kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { verb: 'create', group, resource, namespace: ada.namespace } } },
    });
    // RBAC alone would let it through: the policy is what refuses it.
    expect(review.status?.allowed).toBe(true);
    const objects = KubernetesObjectApi.makeApiClient(ada.kc);
    const bodies: Record<string, KubernetesObject> = {
      events: {
        apiVersion: group ? `${group}/v1` : 'v1',
        kind: 'Event',
        metadata: { name: `flood-${group || 'core'}`, namespace: ada.namespace },
        ...(group
          ? {
              eventTime: new Date().toISOString().replace('Z', '000Z'),
              reportingController: 'ada/flood',
              reportingInstance: 'ada',
              action: 'Flood',
              reason: 'Flood',
              regarding: { kind: 'Namespace', name: ada.namespace, namespace: ada.namespace },
              type: 'Normal',
              note: 'x',
            }
          : {
              involvedObject: { kind: 'Namespace', name: ada.namespace, namespace: ada.namespace },
              reason: 'Flood',
              message: 'x'.repeat(900 * 1024),
              type: 'Normal',
            }),
      } as KubernetesObject,
      leases: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'uncounted', namespace: ada.namespace } },
    };
    const r = await outcome(objects.create(bodies[resource] as KubernetesObject));
    expect(r.status, r.message).toBe(403);
    expect(r.message).toContain('cdl-sandbox-kinds');
    expect(r.message, r.message).toContain(`${shown} is not one of them`);
  });

  it('does not stand in the way of the platform', async () => {
    // The server binds a learner's identity in a sandbox with its own credentials, as provisioning does.
    const r = await outcome(
      admin.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
        namespace: ada.namespace,
        body: {
          metadata: { name: 'platform-binding' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
          subjects: [{ kind: 'ServiceAccount', name: serviceAccountName('s-elsewhere'), namespace: SYSTEM_NAMESPACE }],
        },
      }),
    );
    expect(r).toEqual({ status: 201, message: '' });
  });
});

describe('reading the cluster', () => {
  const read = ['get', 'list', 'watch'];
  const write = ['create', 'update', 'patch', 'delete', 'deletecollection'];
  /** The cluster-scope kinds an EKS workshop attendee may read. */
  const readable = [
    { group: '', resource: 'nodes' },
    { group: 'node.k8s.io', resource: 'runtimeclasses' },
    { group: 'storage.k8s.io', resource: 'storageclasses' },
    { group: 'scheduling.k8s.io', resource: 'priorityclasses' },
    { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
  ];

  interface Question {
    verb: string;
    group?: string;
    resource: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  }

  const describeQuestion = (q: Question) =>
    `${q.verb} ${q.group ? `${q.resource}.${q.group}` : q.resource}${q.subresource ? `/${q.subresource}` : ''}${q.name ? ` ${q.name}` : ''}${q.namespace ? ` -n ${q.namespace}` : ''}`;

  /** Each question answered for the learner by a SelfSubjectAccessReview made with their own token. */
  async function answers(learner: Learner, questions: Question[]): Promise<Record<string, boolean>> {
    const api = learner.kc.makeApiClient(AuthorizationV1Api);
    const replies = await Promise.all(
      questions.map((q) => api.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: q } } })),
    );
    return Object.fromEntries(questions.map((q, i) => [describeQuestion(q), replies[i]?.status?.allowed ?? false]));
  }

  it('lets a learner get, list and watch nodes, RuntimeClasses, StorageClasses, PriorityClasses and CRDs', async () => {
    const questions = readable.flatMap((kind) => read.map((verb) => ({ verb, ...kind })));
    const got = await answers(ada, questions);
    expect(got).toEqual(Object.fromEntries(questions.map((q) => [describeQuestion(q), true])));
  });

  it('refuses everything else at cluster scope, and in other namespaces', async () => {
    const questions: Question[] = [
      ...readable.flatMap((kind) => write.map((verb) => ({ verb, ...kind }))),
      { verb: 'get', resource: 'nodes', subresource: 'proxy' },
      { verb: 'create', resource: 'nodes', subresource: 'proxy' },
      { verb: 'update', resource: 'nodes', subresource: 'status' },
      { verb: 'patch', resource: 'nodes', subresource: 'status' },
      { verb: 'list', resource: 'namespaces' },
      { verb: 'list', resource: 'secrets' },
      { verb: 'list', resource: 'pods' },
      { verb: 'list', resource: 'persistentvolumes' },
      { verb: 'list', resource: 'clusterroles', group: 'rbac.authorization.k8s.io' },
      ...[bob.namespace, 'kube-system'].flatMap((namespace) => [
        { verb: 'list', resource: 'secrets', namespace },
        { verb: 'get', resource: 'secrets', namespace, name: 'any' },
        { verb: 'list', resource: 'pods', namespace },
      ]),
      { verb: 'create', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io' },
      { verb: 'create', resource: 'clusterroles', group: 'rbac.authorization.k8s.io' },
      { verb: 'update', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', name: CLUSTER_READ_ROLE },
      { verb: 'escalate', resource: 'clusterroles', group: 'rbac.authorization.k8s.io' },
      { verb: 'bind', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', name: 'cluster-admin' },
      { verb: 'bind', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', name: CLUSTER_READ_ROLE },
      { verb: 'bind', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', name: 'cluster-admin', namespace: ada.namespace },
      { verb: 'escalate', resource: 'roles', group: 'rbac.authorization.k8s.io', namespace: ada.namespace },
    ];
    const got = await answers(ada, questions);
    expect(got).toEqual(Object.fromEntries(questions.map((q) => [describeQuestion(q), false])));
  });

  it("binds the learner's own identity only, not the ServiceAccounts of their namespace", async () => {
    const user = `system:serviceaccount:${ada.namespace}:default`;
    const review = await admin.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
      body: {
        spec: {
          user,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${ada.namespace}`, 'system:authenticated'],
          resourceAttributes: { verb: 'list', resource: 'nodes' },
        },
      },
    });
    expect(review.status?.allowed).toBe(false);
    // Nor can the learner hand the reads on: the role binds nothing inside a namespace.
    const rbac = ada.kc.makeApiClient(RbacAuthorizationV1Api);
    const r = await outcome(
      rbac.createClusterRoleBinding({
        body: {
          metadata: { name: `${ada.session}-reads` },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CLUSTER_READ_ROLE },
          subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: ada.namespace }],
        },
      }),
    );
    expect(r.status).toBe(403);
  });

  it('shows the nodes with their architectures and zones to kubectl, with the kubeconfig the server gives', async () => {
    const kubectl = findKubectl();
    if (!kubectl) throw new Error('There is no kubectl: the local cluster builds one, or put one on the PATH.');
    const home = mkdtempSync(joinPath(tmpdir(), 'cdl-rights-'));
    try {
      const kubeconfig = joinPath(home, 'config');
      writeFileSync(kubeconfig, ada.kubeconfig, { mode: 0o600 });
      const env = { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig };
      const kubectlRun = (...args: string[]) => run(kubectl, [...args, '--cache-dir', joinPath(home, 'cache')], { env, timeoutMs: 30_000 });

      const nodes = await kubectlRun('get', 'nodes', '-L', 'kubernetes.io/arch,topology.kubernetes.io/zone');
      expect(nodes.stderr).toBe('');
      expect(nodes.code).toBe(0);
      const [header = '', ...rows] = nodes.stdout.trim().split('\n');
      const columns = header.split(/\s+/);
      expect(columns).toEqual(expect.arrayContaining(['NAME', 'STATUS', 'ARCH', 'ZONE']));
      const cells = rows.map((row) => row.split(/\s+/));
      const arches = new Set(cells.map((c) => c[columns.indexOf('ARCH')]));
      const zones = new Set(cells.map((c) => c[columns.indexOf('ZONE')]));
      expect([...arches].sort()).toEqual(['amd64', 'arm64']);
      expect(zones.size).toBeGreaterThanOrEqual(3);

      // The taint on the Fargate-style node shows too, as lessons on scheduling need.
      const taints = await kubectlRun('get', 'nodes', '-o', 'jsonpath={.items[*].spec.taints[*].key}');
      expect(taints.code, taints.stderr).toBe(0);
      expect(taints.stdout).toContain('eks.amazonaws.com/compute-type');

      const namespaces = await kubectlRun('get', 'namespaces');
      expect(namespaces.code).not.toBe(0);
      expect(namespaces.stderr).toMatch(/Forbidden.*cannot list resource "namespaces"/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('is one platform ClusterRole, bound per learner, and the binding goes when the session ends', async () => {
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    const role = await rbac.readClusterRole({ name: CLUSTER_READ_ROLE });
    expect(role.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('container-day-labs');
    expect(role.aggregationRule).toBeUndefined();

    const cy = await join('Cy');
    const binding = await rbac.readClusterRoleBinding({ name: clusterReadBindingName(cy.session) });
    expect(binding.roleRef.name).toBe(CLUSTER_READ_ROLE);
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: serviceAccountName(cy.session), namespace: SYSTEM_NAMESPACE }]);
    expect(binding.metadata?.ownerReferences?.map((o) => o.name)).toEqual([cy.session]);
    const before = await cy.kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { verb: 'list', resource: 'nodes' } } },
    });
    expect(before.status?.allowed).toBe(true);

    const instructor = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
    expect((await instructor.delete(`/api/admin/sessions/${cy.session}`)).status).toBe(204);
    const gone = await rbac.readClusterRoleBinding({ name: clusterReadBindingName(cy.session) }).then(
      () => false,
      (error: unknown) => isStatus(error, 404),
    );
    expect(gone).toBe(true);
    const identityGone = await adminCore
      .readNamespacedServiceAccount({ name: serviceAccountName(cy.session), namespace: SYSTEM_NAMESPACE })
      .then(
        () => false,
        (error: unknown) => isStatus(error, 404),
      );
    expect(identityGone).toBe(true);
  });
});
