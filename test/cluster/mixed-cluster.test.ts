/**
 * The suite's shared cluster is the mixed one a learner gets: seven
 * simulated nodes and the real node, all Ready, and a pod meant for the
 * real node runs a real container there while the rest of the suite runs
 * on the simulated ones.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadKubeConfig, nodeReady, waitFor } from '../../cluster/src/kube.ts';
import { IMAGE_REFS } from '../../cluster/src/local/images.ts';
import { NODE_SPECS } from '../../cluster/src/local/nodes.ts';
import { REAL_NODE_LABEL, REAL_NODE_NAME, REAL_NODE_TAINT } from '../../cluster/src/local/real-node-config.ts';

const core = loadKubeConfig(inject('kubeconfig')).makeApiClient(CoreV1Api);
const NAMESPACE = 'default';
const POD = `mixed-${process.pid}`;

afterAll(async () => {
  await core.deleteNamespacedPod({ name: POD, namespace: NAMESPACE, gracePeriodSeconds: 0 }).catch(() => undefined);
});

describe('the shared test cluster', () => {
  it('has the simulated nodes and the real node, all Ready', async () => {
    const nodes = (await core.listNode()).items;
    const names = nodes.map((n) => n.metadata?.name ?? '');
    expect(names).toEqual(expect.arrayContaining([...NODE_SPECS.map((n) => n.name), REAL_NODE_NAME]));
    expect(nodes.filter((n) => nodeReady(n)).length).toBeGreaterThanOrEqual(NODE_SPECS.length + 1);
    const real = nodes.find((n) => n.metadata?.name === REAL_NODE_NAME);
    expect(real?.spec?.taints).toContainEqual({ ...REAL_NODE_TAINT });
    expect(real?.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
  });

  it('runs a real container on the real node', async () => {
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name: POD },
        spec: {
          restartPolicy: 'Never',
          nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
          tolerations: [{ key: REAL_NODE_TAINT.key, operator: 'Exists', effect: REAL_NODE_TAINT.effect }],
          containers: [
            {
              name: 'app',
              image: IMAGE_REFS.busybox,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', 'echo $((6 * 7)) from a real container'],
            },
          ],
        },
      },
    });
    await waitFor(
      'the pod to finish',
      async () => (await core.readNamespacedPod({ name: POD, namespace: NAMESPACE })).status?.phase === 'Succeeded',
      60_000,
    );
    const pod = await core.readNamespacedPod({ name: POD, namespace: NAMESPACE });
    expect(pod.spec?.nodeName).toBe(REAL_NODE_NAME);
    expect(await core.readNamespacedPodLog({ name: POD, namespace: NAMESPACE })).toBe('42 from a real container\n');
  });
});
