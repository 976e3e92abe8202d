/**
 * The few API calls the cluster tooling itself makes: is the API server
 * answering, which version, how many nodes are Ready, applying objects with
 * server-side apply so `up` can run again without conflicts, and releasing
 * the node leases a dead kwok controller held.
 */
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  type V1Node,
  VersionApi,
} from '@kubernetes/client-node';

export const FIELD_MANAGER = 'container-day-labs';

export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return reuseConnections(kc);
}

/** A KubeConfig from kubeconfig text (a learner's), with connections reused. */
export function kubeConfigFromString(text: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return reuseConnections(kc);
}

type DispatcherFactory = { createDispatcher(cluster: unknown, agentOptions: unknown): unknown };

/**
 * The client builds a new connection pool (an undici Agent) for every
 * request, so each API call pays a fresh TLS handshake: about 12 ms on this
 * kind of machine instead of about 1. Keep one pool per cluster and user.
 */
export function reuseConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as DispatcherFactory;
  const create = target.createDispatcher.bind(kc);
  const pools = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = JSON.stringify([kc.getCurrentCluster()?.server, kc.getCurrentUser()?.name]);
    if (!pools.has(key)) pools.set(key, create(cluster, agentOptions));
    return pools.get(key);
  };
  return kc;
}

/** `kc` as kubeconfig text, its current context's default namespace set to `namespace`. */
export function withDefaultNamespace(kc: KubeConfig, namespace: string): string {
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: kc.getClusters(),
    users: kc.getUsers(),
    contexts: kc.getContexts().map((c) => (c.name === kc.getCurrentContext() ? { ...c, namespace } : c)),
    currentContext: kc.getCurrentContext(),
  });
  return copy.exportConfig();
}

export function nodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export interface ApiState {
  serverVersion: string;
  nodesReady: number;
  nodesTotal: number;
}

/** Asks the API server for its version and nodes; throws if it does not answer. */
export async function apiState(kc: KubeConfig): Promise<ApiState> {
  const version = await kc.makeApiClient(VersionApi).getCode();
  const nodes = await kc.makeApiClient(CoreV1Api).listNode();
  return {
    serverVersion: version.gitVersion,
    nodesReady: nodes.items.filter(nodeReady).length,
    nodesTotal: nodes.items.length,
  };
}

/** Server-side apply of each object, owned by the platform's field manager. */
export async function applyObjects(kc: KubeConfig, objects: readonly KubernetesObject[]): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const object of objects) {
    await client.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  }
}

/** Deletes the named Leases of a namespace; one that is already gone is fine. */
export async function deleteLeases(kc: KubeConfig, namespace: string, names: readonly string[]): Promise<void> {
  const api = kc.makeApiClient(CoordinationV1Api);
  for (const name of names) {
    await api.deleteNamespacedLease({ name, namespace }).catch((error: unknown) => {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
    });
  }
}

/** Polls `probe` until it returns true or the deadline passes. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`, { cause: lastError });
}
