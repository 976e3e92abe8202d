/**
 * A lab's setup, solution and wrong attempts are YAML files of Kubernetes
 * objects. They name namespaces as the lab does (`{{ns.app}}`), and this
 * module turns them into the learner's real ones, then applies them the way
 * `kubectl apply --server-side` would: one field manager, so a later apply
 * of the same object also removes the fields it no longer sets. An object
 * annotated `labs.containerdaylabs.dev/action: delete` is deleted instead;
 * a Deployment annotated `labs.containerdaylabs.dev/wait: rollout` is waited
 * for, as `kubectl rollout status` would, before the next object (so a setup
 * can leave a rollout history behind).
 */
import {
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadYaml,
  PatchStrategy,
  type V1Deployment,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { ignoreStatus, isStatus, PollTimeout, poll, rolledOut, statusMessage } from '../../cluster/src/kube.ts';
import { defaultNamespace, realNamespace, type SandboxNamespaces } from '../../contract/sandbox.ts';

/** The learner's field manager: what `kubectl apply --server-side` would use. */
export const LEARNER_FIELD_MANAGER = 'kubectl';
export const ACTION_ANNOTATION = 'labs.containerdaylabs.dev/action';
export const WAIT_ANNOTATION = 'labs.containerdaylabs.dev/wait';
const ROLLOUT_TIMEOUT_MS = 30_000;
/** A NodePool goes once Karpenter has drained its nodes, each pod within its grace period. */
const DELETE_TIMEOUT_MS = 60_000;

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

const PLACEHOLDER = /\{\{\s*ns\.([a-z0-9-]+)\s*\}\}/g;

/** Replaces `{{ns.<logical>}}` with the learner's namespace; an unknown name is an error. */
export function renderNamespaces(text: string, namespaces: SandboxNamespaces, source: string): string {
  return text.replace(PLACEHOLDER, (_, logical: string) => {
    const real = realNamespace(namespaces, logical);
    if (!real)
      throw new ManifestError(
        `${source}: {{ns.${logical}}} names no namespace of this lab (it has ${namespaces.map((ns) => ns.name).join(', ')})`,
      );
    return real;
  });
}

/**
 * The objects of a YAML file. Objects without a namespace land in the lab's
 * first namespace (the API ignores it for cluster-wide kinds). A `List`
 * (what `kubectl get -o yaml` writes for several objects) stands for its
 * items, as kubectl reads it.
 */
export function parseManifests(text: string, namespaces: SandboxNamespaces, source: string): KubernetesObject[] {
  const rendered = renderNamespaces(text, namespaces, source);
  const fallback = defaultNamespace(namespaces);
  const objects: KubernetesObject[] = [];
  const add = (value: unknown) => {
    const object = value as (KubernetesObject & { items?: unknown }) | null;
    if (object === null) return;
    if (typeof object === 'object' && object.kind === 'List' && Array.isArray(object.items)) {
      for (const item of object.items) add(item);
      return;
    }
    if (typeof object !== 'object' || !object.apiVersion || !object.kind || !object.metadata?.name) {
      throw new ManifestError(`${source}: every document needs apiVersion, kind and metadata.name`);
    }
    if (!object.metadata.namespace && fallback) object.metadata.namespace = fallback;
    // Into the client's typed model, whose serializer knows the wire names
    // (`from`, `default`, `x-kubernetes-…`); a plain object would lose them.
    objects.push(loadYaml<KubernetesObject>(JSON.stringify(object)));
  };
  for (const doc of parseAllDocuments(rendered)) {
    if (doc.errors.length > 0) throw new ManifestError(`${source}: ${doc.errors[0]?.message}`);
    add(doc.toJS());
  }
  return objects;
}

/** Kinds that live outside any namespace, which deleting a sandbox's namespaces does not remove. */
export const CLUSTER_KINDS = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
  'PriorityClass',
  'StorageClass',
  'IngressClass',
  'RuntimeClass',
  'PersistentVolume',
  'NodePool',
]);

/**
 * Kinds whose deletion is waited for: a CRD goes only once its objects are
 * gone, and a Karpenter NodePool deleted in the foreground only once
 * Karpenter has drained and removed its nodes (its NodeClaims block the
 * owner's deletion), so the next attempt starts without them.
 */
const AWAITED_KINDS = new Set(['CustomResourceDefinition', 'NodePool']);

/** Deletes the cluster-wide objects among `objects`, in reverse order; absent ones are fine. */
export async function deleteClusterObjects(kc: KubeConfig, objects: readonly KubernetesObject[]): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const seen = new Set<string>();
  for (const object of [...objects].reverse()) {
    const key = `${object.apiVersion}/${object.kind}/${object.metadata?.name}`;
    if (!CLUSTER_KINDS.has(object.kind ?? '') || seen.has(key)) continue;
    seen.add(key);
    const { namespace: _, ...metadata } = object.metadata ?? {};
    const ref = { apiVersion: object.apiVersion, kind: object.kind, metadata };
    const awaited = AWAITED_KINDS.has(object.kind ?? '');
    await client.delete(ref, undefined, undefined, undefined, undefined, awaited ? 'Foreground' : undefined).catch(ignoreStatus(404));
    if (awaited) await awaitGone(client, ref);
  }
}

async function awaitGone(client: KubernetesObjectApi, ref: KubernetesObject & { metadata: { name?: string } }): Promise<void> {
  await poll(
    () =>
      client.read(ref as KubernetesObject & { metadata: { name: string } }).then(
        () => false,
        (error: unknown) => isStatus(error, 404),
      ),
    { what: `${ref.kind} ${ref.metadata.name} to be deleted`, timeoutMs: DELETE_TIMEOUT_MS, intervalMs: 200 },
  ).catch(timedOut(`${ref.kind} ${ref.metadata.name} was not deleted within ${DELETE_TIMEOUT_MS / 1000} s`));
}

/** A `.catch` handler that turns the end of a wait into a ManifestError saying what did not happen. */
function timedOut(message: string): (error: unknown) => never {
  return (error) => {
    if (error instanceof PollTimeout) throw new ManifestError(message, { cause: error });
    throw error;
  };
}

function isDelete(object: KubernetesObject): boolean {
  return object.metadata?.annotations?.[ACTION_ANNOTATION] === 'delete';
}

/** The object without the platform's own annotations, and whether it asked for a rollout wait. */
function directives(object: KubernetesObject): { object: KubernetesObject; waitRollout: boolean } {
  const annotations = { ...object.metadata?.annotations };
  const waitRollout = annotations[WAIT_ANNOTATION] === 'rollout';
  if (annotations[WAIT_ANNOTATION] !== undefined && !waitRollout) {
    throw new ManifestError(`${object.kind} ${object.metadata?.name}: ${WAIT_ANNOTATION} can only be "rollout"`);
  }
  delete annotations[WAIT_ANNOTATION];
  const { annotations: _, ...rest } = object.metadata ?? {};
  const metadata = Object.keys(annotations).length > 0 ? { ...rest, annotations } : rest;
  return { object: { ...object, metadata }, waitRollout };
}

async function awaitRollout(client: KubernetesObjectApi, object: KubernetesObject): Promise<void> {
  await poll(async () => rolledOut((await client.read(object as KubernetesObject & { metadata: { name: string } })) as V1Deployment), {
    what: `Deployment ${object.metadata?.name} to roll out`,
    timeoutMs: ROLLOUT_TIMEOUT_MS,
    intervalMs: 200,
    retryErrors: false,
  }).catch(timedOut(`Deployment ${object.metadata?.name} did not finish rolling out within ${ROLLOUT_TIMEOUT_MS / 1000} s`));
}

/** Applies (or deletes) each object in order, as the learner would with kubectl. */
export async function applyManifests(kc: KubeConfig, objects: readonly KubernetesObject[]): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const object of objects) {
    if (isDelete(object)) {
      await client.delete(object).catch(ignoreStatus(404));
      continue;
    }
    const { object: clean, waitRollout } = directives(object);
    // Quota admission updates the namespace's ResourceQuota as it admits; two
    // creates at once can lose that race (409 on resourcequotas), as kubectl
    // would too: the apply is simply asked again.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.patch(clean, undefined, undefined, LEARNER_FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
        break;
      } catch (error) {
        if (attempt >= 3 || !isStatus(error, 409) || !statusMessage(error).includes('resourcequotas')) throw error;
      }
    }
    if (waitRollout) await awaitRollout(client, clean);
  }
}
