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
import { hasCondition, ignoreStatus, isStatus, waitFor } from '../../../cluster/src/kube.ts';
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
      // Another replica updated it at the same moment: theirs is the same definition.
      .catch(ignoreStatus(409));
  } catch (error) {
    if (!isStatus(error, 404)) throw error;
    await api.createCustomResourceDefinition({ body: labSessionCrd }).catch(ignoreStatus(409));
  }
  await waitFor(
    'the LabSession CRD to be established',
    async () => hasCondition(await api.readCustomResourceDefinition({ name }), 'Established'),
    20_000,
    100,
  );
}
