/**
 * The Helm chart (deploy/helm/container-day-labs): it lints, renders what a
 * big event needs (replicas, a disruption budget, readiness on /healthz, an
 * Ingress or an HTTPRoute with hour-long WebSockets, the CRD, the shells'
 * namespace with its quota and policy), grants the server no wildcard and no
 * cluster-admin, says what is missing in one line, and every object it
 * renders is accepted by the real API server in a server-side dry run (the
 * fence policy's CEL compiled by the API server itself).
 */
import { CoreV1Api, type KubernetesObject, KubernetesObjectApi, PatchStrategy, type V1ClusterRole } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyObjects, ignoreStatus } from '../../cluster/src/kube.ts';
import { labSessionCrd } from '../../labs-server/src/sessions/crd.ts';
import { CHART, gatewayApiHttpRouteCrd, helm, renderChart, TEMPLATE_API_SERVER } from '../support/helm.ts';
import { testKubeConfig } from '../support/kube.ts';

const ORIGIN = 'https://labs.example.org';
const NAMESPACE = 'cdl-chart-test';

type Rendered = KubernetesObject & Record<string, unknown>;
const ofKind = (objects: KubernetesObject[], kind: string) => objects.filter((o) => o.kind === kind) as Rendered[];
/** The spec of the first object of a kind; the test fails if there is none. */
function specOf<T>(objects: KubernetesObject[], kind: string): T {
  const found = ofKind(objects, kind)[0];
  if (!found) throw new Error(`the chart rendered no ${kind}`);
  return found.spec as T;
}

describe('the Helm chart', () => {
  let rendered: KubernetesObject[];

  beforeAll(async () => {
    rendered = await renderChart({ publicOrigin: ORIGIN }, NAMESPACE);
  });

  it('lints, and says in one line what is missing or wrong', async () => {
    const lint = await helm(['lint', '--strict', CHART, '--set', `publicOrigin=${ORIGIN}`]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    const missing = await helm(['template', 'cdl', CHART]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/publicOrigin is required/);
    const badRoute = await helm([
      'template',
      'cdl',
      CHART,
      '--set',
      `publicOrigin=${ORIGIN}`,
      '--set',
      'networkPolicy.enabled=false',
      '--set',
      'route.kind=loadbalancer',
    ]);
    expect(badRoute.code).not.toBe(0);
    expect(badRoute.stderr).toMatch(/route.kind must be ingress, httproute or none/);
    // Without a cluster to read the API server's address from, the replicas' NetworkPolicy needs it said.
    const noApi = await helm(['template', 'cdl', CHART, '--set', `publicOrigin=${ORIGIN}`]);
    expect(noApi.code).not.toBe(0);
    expect(noApi.stderr).toMatch(/set networkPolicy.apiServer/);
    const off = await helm(['template', 'cdl', CHART, '--set', `publicOrigin=${ORIGIN}`, '--set', 'networkPolicy.enabled=false']);
    expect(off.code, off.stderr).toBe(0);
  });

  it("limits the replicas' traffic to the API server, the shell pods' agents and the cluster DNS", () => {
    const policy = ofKind(rendered, 'NetworkPolicy').find((p) => p.metadata?.namespace === NAMESPACE);
    const spec = policy?.spec as {
      policyTypes: string[];
      egress: Array<{ to?: Array<Record<string, unknown>>; ports?: Array<{ port: number; protocol: string }> }>;
    };
    expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
    // Every way out names where it goes: none is open to everything.
    for (const rule of spec.egress) expect(rule.to?.length, JSON.stringify(rule)).toBeGreaterThan(0);
    expect(spec.egress[0]).toEqual({ to: [{ ipBlock: { cidr: TEMPLATE_API_SERVER[0]?.cidr } }], ports: [{ protocol: 'TCP', port: 443 }] });
    const ports = spec.egress.flatMap((rule) => (rule.ports ?? []).map((p) => `${p.protocol}/${p.port}`));
    expect(ports.sort()).toEqual(['TCP/443', 'TCP/53', 'TCP/7681', 'UDP/53']);
  });

  it('renders two replicas that drain, a disruption budget, readiness on /healthz and shells in pods', () => {
    const [deployment] = ofKind(rendered, 'Deployment');
    const spec = deployment?.spec as {
      replicas: number;
      template: {
        spec: { containers: Array<{ env: Array<{ name: string; value?: string }>; readinessProbe: { httpGet: { path: string } } }> };
      };
    };
    expect(spec.replicas).toBe(2);
    const container = spec.template.spec.containers[0];
    expect(container?.readinessProbe.httpGet.path).toBe('/healthz');
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ TERMINAL_SHELLS: 'pods', CDL_PROVIDER: 'external', PUBLIC_ORIGINS: ORIGIN, SHUTDOWN_DELAY_SECONDS: '5' });
    expect(specOf<{ minAvailable: number }>(rendered, 'PodDisruptionBudget').minAvailable).toBe(1);
    const ingress = ofKind(rendered, 'Ingress')[0];
    expect(ingress?.metadata?.annotations?.['alb.ingress.kubernetes.io/load-balancer-attributes']).toBe(
      'idle_timeout.timeout_seconds=3600',
    );
    expect(ofKind(rendered, 'HTTPRoute')).toHaveLength(0);
    const shells = ofKind(rendered, 'Namespace').find((n) => n.metadata?.name === 'cdl-shells');
    expect(shells?.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(ofKind(rendered, 'ResourceQuota').map((q) => q.metadata?.namespace)).toEqual(['cdl-shells']);
  });

  it('renders an HTTPRoute with an hour for a WebSocket instead, or no route at all', async () => {
    const route = await renderChart({ publicOrigin: ORIGIN, 'route.kind': 'httproute' }, NAMESPACE);
    expect(ofKind(route, 'Ingress')).toHaveLength(0);
    const httpRoute = specOf<{ hostnames: string[]; rules: Array<{ timeouts: { request: string } }> }>(route, 'HTTPRoute');
    expect(httpRoute.rules[0]?.timeouts.request).toBe('3600s');
    expect(httpRoute.hostnames).toEqual(['labs.example.org']);
    const none = await renderChart({ publicOrigin: ORIGIN, 'route.kind': 'none' }, NAMESPACE);
    expect([...ofKind(none, 'Ingress'), ...ofKind(none, 'HTTPRoute')]).toHaveLength(0);
  });

  it('grants no wildcard and no cluster-admin, and fences the server to its own namespaces', () => {
    const roles = [...ofKind(rendered, 'ClusterRole'), ...ofKind(rendered, 'Role')] as unknown as V1ClusterRole[];
    expect(roles.length).toBeGreaterThanOrEqual(4);
    for (const role of roles) {
      for (const rule of role.rules ?? []) {
        for (const list of [rule.apiGroups, rule.resources, rule.verbs, rule.nonResourceURLs]) expect(list ?? []).not.toContain('*');
      }
    }
    for (const binding of [...ofKind(rendered, 'ClusterRoleBinding'), ...ofKind(rendered, 'RoleBinding')]) {
      expect((binding.roleRef as { name: string }).name).not.toMatch(/^(cluster-admin|admin|edit)$/);
    }
    const [fence] = ofKind(rendered, 'ValidatingAdmissionPolicy');
    expect(JSON.stringify(fence?.spec)).toContain(`system:serviceaccount:${NAMESPACE}:cdl-container-day-labs`);
    expect(ofKind(rendered, 'ValidatingAdmissionPolicyBinding')).toHaveLength(1);
  });

  it('ships the LabSession CRD the server installs', () => {
    const [crd] = ofKind(rendered, 'CustomResourceDefinition');
    expect(crd).toEqual(JSON.parse(JSON.stringify(labSessionCrd)));
  });

  it('is accepted by the API server in a server-side dry run, with the Ingress and with the HTTPRoute', async () => {
    const kc = testKubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    // The namespaces the objects go into exist (a dry run makes none); the Gateway API's HTTPRoute is installed for real.
    for (const name of [NAMESPACE, 'cdl-system', 'cdl-shells']) {
      await core.createNamespace({ body: { metadata: { name } } }).catch(ignoreStatus(409));
    }
    await applyObjects(kc, [await gatewayApiHttpRouteCrd()]);
    await expect
      .poll(
        async () =>
          (await core.listNamespace()).items.length > 0 &&
          (await kc
            .makeApiClient(KubernetesObjectApi)
            .list('gateway.networking.k8s.io/v1', 'HTTPRoute', NAMESPACE)
            .then(
              () => true,
              () => false,
            )),
        { timeout: 30_000 },
      )
      .toBe(true);
    const api = KubernetesObjectApi.makeApiClient(kc);
    const route = await renderChart({ publicOrigin: ORIGIN, 'route.kind': 'httproute' }, NAMESPACE);
    const refused: string[] = [];
    for (const object of [...rendered, ...ofKind(route, 'HTTPRoute')]) {
      if (!object.metadata?.namespace && object.kind !== 'Namespace' && !isClusterScoped(object)) {
        object.metadata = { ...object.metadata, namespace: NAMESPACE };
      }
      await api
        .patch(object, undefined, 'All', 'helm-dry-run', true, PatchStrategy.ServerSideApply)
        .catch((error: unknown) => refused.push(`${object.kind}/${object.metadata?.name}: ${(error as Error).message.slice(0, 300)}`));
    }
    expect(refused).toEqual([]);
    // The dry run judges what it is given: a fence whose CEL does not compile is refused.
    const fence = JSON.parse(JSON.stringify(ofKind(rendered, 'ValidatingAdmissionPolicy')[0])) as Rendered & {
      spec: { validations: Array<{ expression: string }> };
    };
    fence.spec.validations[0] = { expression: 'request.namespace ==' };
    await expect(api.patch(fence, undefined, 'All', 'helm-dry-run', true, PatchStrategy.ServerSideApply)).rejects.toThrow(/compil|syntax/i);
  });
});

const CLUSTER_SCOPED = new Set([
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);

function isClusterScoped(object: KubernetesObject): boolean {
  return CLUSTER_SCOPED.has(object.kind ?? '');
}
