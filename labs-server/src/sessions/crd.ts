/**
 * The cluster is the system of record: every learner's session, its
 * sandboxes and its progress are a `LabSession` object. A restart of the
 * server loses nothing, several replicas share one cluster, and an operator
 * sees everyone with `kubectl get labsessions`. Sandbox namespaces and the
 * learner's ServiceAccount carry an ownerReference to their LabSession, so
 * deleting a session lets Kubernetes' garbage collector remove the rest.
 * The object's schema is generated from the contract (contract/session.ts).
 */
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { waitFor } from '../../../cluster/src/kube.ts';
import { GROUP, KIND, labSessionOpenApiSchema, PLURAL, VERSION } from '../../../contract/session.ts';

export const labSessionCrd: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${PLURAL}.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Cluster',
    names: { kind: KIND, plural: PLURAL, singular: 'labsession', shortNames: ['lsess'], categories: ['containerdaylabs'] },
    versions: [
      {
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Learner', type: 'string', jsonPath: '.spec.learner' },
          { name: 'Lab', type: 'string', jsonPath: '.status.currentLab' },
          { name: 'Steps passed', type: 'integer', jsonPath: '.status.stepsPassed' },
          { name: 'Last active', type: 'date', jsonPath: '.status.lastActivityAt' },
          { name: 'Expires', type: 'date', jsonPath: '.spec.expiresAt' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: { openAPIV3Schema: labSessionOpenApiSchema() },
      },
    ],
  },
};

/** Installs or updates the CRD and waits until the API serves it. */
export async function ensureCrd(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const name = labSessionCrd.metadata?.name ?? '';
  try {
    const current = await api.readCustomResourceDefinition({ name });
    await api
      .replaceCustomResourceDefinition({
        name,
        body: { ...labSessionCrd, metadata: { ...labSessionCrd.metadata, resourceVersion: current.metadata?.resourceVersion } },
      })
      .catch((error: { code?: number }) => {
        // Another replica updated it at the same moment: theirs is the same definition.
        if (error.code !== 409) throw error;
      });
  } catch (error) {
    if ((error as { code?: number }).code !== 404) throw error;
    await api.createCustomResourceDefinition({ body: labSessionCrd }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  }
  await waitFor(
    'the LabSession CRD to be established',
    async () => {
      const crd = await api.readCustomResourceDefinition({ name });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    },
    20_000,
    100,
  );
}
