/**
 * A small catalog of test labs for the server's own tests, so they prove the
 * server (sessions, sandboxes, resets, progress, errors) apart from the real
 * labs. It is real all the same: its setup, solution and check act on the
 * test cluster. `palette` asks for a ConfigMap's colour to be changed;
 * `whole-cluster` and `real-containers` exist to be refused where they
 * cannot run.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { LabCatalog, LabDefinition } from '../../contract/catalog.ts';
import type { CheckResult } from '../../contract/check.ts';
import { realNamespace, type SandboxNamespaces } from '../../contract/sandbox.ts';

const labs: LabDefinition[] = [
  {
    id: 'palette',
    title: 'Repaint the palette',
    topic: 'getting-started',
    scope: 'namespace',
    needsContainers: false,
    needsKarpenter: false,
    needsAuditLog: false,
    namespaces: [{ name: 'app' }],
    steps: [{ id: 'repaint', title: 'Set the colour to green' }],
  },
  {
    id: 'whole-cluster',
    title: 'Change the whole cluster',
    topic: 'guardrails',
    scope: 'cluster',
    needsContainers: false,
    needsKarpenter: false,
    needsAuditLog: false,
    namespaces: [{ name: 'app' }],
    steps: [{ id: 'one', title: 'One' }],
  },
  {
    id: 'real-containers',
    title: 'Needs real containers',
    topic: 'container-security',
    scope: 'namespace',
    needsContainers: true,
    needsKarpenter: false,
    needsAuditLog: false,
    namespaces: [{ name: 'app' }],
    steps: [{ id: 'one', title: 'One' }],
  },
];

function ns(namespaces: SandboxNamespaces): string {
  const name = realNamespace(namespaces, 'app');
  if (!name) throw new Error('the palette lab has no "app" namespace');
  return name;
}

export const fixtureCatalog: LabCatalog = {
  list: () => labs,
  get: (id) => labs.find((lab) => lab.id === id),
  async setup(kc: KubeConfig, _lab, namespaces) {
    await kc
      .makeApiClient(CoreV1Api)
      .createNamespacedConfigMap({ namespace: ns(namespaces), body: { metadata: { name: 'palette' }, data: { colour: 'blue' } } });
  },
  async solve(kc, _lab, namespaces) {
    await kc.makeApiClient(CoreV1Api).replaceNamespacedConfigMap({
      name: 'palette',
      namespace: ns(namespaces),
      body: { metadata: { name: 'palette' }, data: { colour: 'green' } },
    });
  },
  async check(kc, lab, stepId, namespaces): Promise<CheckResult> {
    const started = performance.now();
    const map = await kc
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ name: 'palette', namespace: ns(namespaces) })
      .catch(() => undefined);
    const actual = map?.data?.colour;
    const passed = actual === 'green';
    return {
      labId: lab.id,
      stepId,
      passed,
      durationMs: performance.now() - started,
      criteria: [
        {
          id: 'colour',
          passed,
          message: passed ? 'The ConfigMap palette is green.' : 'The ConfigMap palette is not green.',
          hint: 'kubectl get configmap palette -o yaml',
          ...(passed ? {} : { diff: [{ path: 'data.colour', expected: 'green', actual }] }),
        },
      ],
    };
  },
};
