/**
 * Helpers for tests that talk to the shared test cluster: a client from the
 * injected kubeconfig, and a throwaway namespace per test file that is ready
 * for pods (its default ServiceAccount exists) and is deleted afterwards.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { loadKubeConfig, waitFor } from '../../cluster/src/kube.ts';

export function testKubeConfig(): KubeConfig {
  return loadKubeConfig(inject('kubeconfig'));
}

export async function createTestNamespace(kc: KubeConfig, prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels } } });
  await waitFor(
    `the default ServiceAccount in ${name}`,
    async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return true;
    },
    15_000,
    100,
  );
  return name;
}

export async function deleteNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kc
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name })
    .catch(() => undefined);
}
