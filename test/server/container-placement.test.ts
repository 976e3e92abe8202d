/**
 * Where a learner's pods may go when only one node runs real containers,
 * proven on the real cluster in the learner's own identity (their
 * short-lived token). A lab that needs containers has its namespaces bound
 * to that node: each pod gets its selector and tolerates its taint, and may
 * neither select another node nor name one. Any other lab's pods stay on the
 * simulated nodes: they may not tolerate the node's taint (nor every taint),
 * nor name the node, also when a controller makes them for a Deployment.
 * (The node itself need not run: this is admission's doing.)
 */
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStatus, kubeConfigFromString, statusMessage, waitFor } from '../../cluster/src/kube.ts';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import type { ContainerNodes } from '../../cluster/src/provider.ts';
import { defaultNamespace } from '../../contract/sandbox.ts';
import { Sandboxes } from '../../labs-server/src/sandbox/provision.ts';
import { ensureCrd } from '../../labs-server/src/sessions/crd.ts';
import { SessionStore } from '../../labs-server/src/sessions/store.ts';
import { testKubeConfig } from '../support/kube.ts';

const admin = testKubeConfig();
const nodes = new LocalProvider().containerNodes as ContainerNodes;
const sandboxes = new Sandboxes(admin, undefined, nodes);
const store = new SessionStore(admin, { ttlMs: 3_600_000 });
const sessions: string[] = [];

interface Sandbox {
  namespace: string;
  core: CoreV1Api;
  apps: AppsV1Api;
}

async function sandbox(containers: boolean): Promise<Sandbox> {
  const { session } = await store.create(`placement ${containers ? 'containers' : 'simulated'}`);
  sessions.push(session.metadata.name);
  const namespaces = await sandboxes.provision(session, containers ? 'real-containers' : 'palette', [{ name: 'app' }], { containers });
  const namespace = defaultNamespace(namespaces) ?? '';
  const { token } = await sandboxes.issueToken(session, 600);
  const kc: KubeConfig = kubeConfigFromString(sandboxes.learnerKubeconfig(token, namespace));
  return { namespace, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api) };
}

function pod(name: string, spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return {
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'localhost/cdl/busybox:1', imagePullPolicy: 'IfNotPresent' }], ...spec },
  };
}

/** The refusal's message, or undefined when the pod was created. */
async function refusal(box: Sandbox, body: V1Pod): Promise<string | undefined> {
  try {
    await box.core.createNamespacedPod({ namespace: box.namespace, body });
    return undefined;
  } catch (error) {
    if (isStatus(error, 403, 400, 422)) return statusMessage(error);
    throw error;
  }
}

const toleration = { key: nodes.taint.key, operator: 'Equal', value: nodes.taint.value, effect: nodes.taint.effect };

beforeAll(async () => {
  await ensureCrd(admin);
  await sandboxes.ensureSystemNamespace();
});

afterAll(async () => {
  for (const name of sessions) await store.end(name).catch(() => undefined);
});

describe('a lab that needs real containers', () => {
  let box: Sandbox;
  beforeAll(async () => {
    box = await sandbox(true);
  });

  it("puts every pod on the node that runs containers: its selector and its taint's toleration, added by the namespace", async () => {
    const created = await box.core.createNamespacedPod({ namespace: box.namespace, body: pod('plain') });
    expect(created.spec?.nodeSelector).toEqual({ [nodes.label.key]: nodes.label.value });
    expect(created.spec?.tolerations).toEqual(expect.arrayContaining([toleration]));
  });

  it('gives no pod raw sockets there (NET_RAW dropped on create), so none can forge packets on the shared bridge', async () => {
    const created = await box.core.createNamespacedPod({
      namespace: box.namespace,
      body: pod('pinger', {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'c',
            image: 'localhost/cdl/busybox:1',
            imagePullPolicy: 'IfNotPresent',
            // A raw socket is what forging needs; busybox's ping asks for one.
            command: ['sh', '-c', 'ping -c 1 -W 1 127.0.0.1 2>&1; echo "exit $?"'],
            securityContext: { capabilities: { drop: ['CHOWN'] } },
          },
        ],
      }),
    });
    expect(created.spec?.containers[0]?.securityContext?.capabilities?.drop).toEqual(['CHOWN', 'NET_RAW']);
    const read = () => admin.makeApiClient(CoreV1Api).readNamespacedPod({ name: 'pinger', namespace: box.namespace });
    await waitFor('the pod to finish', async () => ['Succeeded', 'Failed'].includes((await read()).status?.phase ?? ''), 60_000);
    const log = await admin.makeApiClient(CoreV1Api).readNamespacedPodLog({ name: 'pinger', namespace: box.namespace });
    expect(log).toMatch(/permission denied|not permitted/i);
    expect(log).toMatch(/exit [1-9]/);
  });

  it('refuses a pod that selects another node, or names one', async () => {
    expect(await refusal(box, pod('elsewhere', { nodeSelector: { [nodes.label.key]: 'false' } }))).toMatch(/conflict/i);
    expect(await refusal(box, pod('by-name', { nodeName: 'kwok-node-0' }))).toMatch(/may not name another node/);
  });
});

describe('any other lab', () => {
  let box: Sandbox;
  beforeAll(async () => {
    box = await sandbox(false);
  });

  it('keeps pods off the node that runs containers: no toleration of its taint, of every taint, or its name', async () => {
    expect(await refusal(box, pod('tolerates', { tolerations: [toleration] }))).toMatch(/may not tolerate the taint/);
    expect(await refusal(box, pod('tolerates-all', { tolerations: [{ operator: 'Exists' }] }))).toMatch(/nor every taint/);
    expect(await refusal(box, pod('by-name', { nodeName: nodes.nodeName }))).toMatch(/stay on the simulated nodes/);
    // Other tolerations (the virtual node's, in the serverless lab) are the lab's business.
    expect(
      await refusal(box, pod('fargate', { tolerations: [{ key: 'eks.amazonaws.com/compute-type', operator: 'Exists' }] })),
    ).toBeUndefined();
  });

  it("refuses the pods a controller makes for the learner's Deployment, too", async () => {
    await box.apps.createNamespacedDeployment({
      namespace: box.namespace,
      body: {
        metadata: { name: 'sneaky' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'sneaky' } },
          template: { metadata: { labels: { app: 'sneaky' } }, spec: { ...pod('x').spec, tolerations: [toleration] } as V1Pod['spec'] },
        },
      },
    });
    const events = admin.makeApiClient(CoreV1Api);
    let message = '';
    await waitFor(
      'the ReplicaSet to report the refusal',
      async () => {
        const list = await events.listNamespacedEvent({ namespace: box.namespace, fieldSelector: 'reason=FailedCreate' });
        message = list.items.map((e) => e.message ?? '').join('\n');
        return message.length > 0;
      },
      20_000,
    );
    expect(message).toMatch(/may not tolerate the taint/);
    const pods = await admin.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: box.namespace, labelSelector: 'app=sneaky' });
    expect(pods.items).toHaveLength(0);
  });
});
