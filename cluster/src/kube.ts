/**
 * The Kubernetes helpers everything else uses: loading kubeconfigs with
 * reused connections, clients whose calls an AbortSignal cancels, telling
 * an API error's status (`isStatus`, `ignoreStatus`), polling with a deadline
 * and a signal (`poll`), conditions and rollouts; and the few calls the
 * cluster tooling makes itself: is the API server answering, which version,
 * how many nodes are Ready, server-side apply so `up` can run again without
 * conflicts, and releasing the node leases a dead kwok controller held.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  type Configuration,
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  type V1APIResourceList,
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
    // A token read from a file (a pod's ServiceAccount) is written as the token it is now: kubectl knows no `tokenFile` auth provider.
    users: kc.getUsers().map((user) => {
      const file = user.authProvider?.name === 'tokenFile' ? user.authProvider.config?.tokenFile : undefined;
      return typeof file === 'string' ? { name: user.name, token: readFileSync(file, 'utf8').trim() } : user;
    }),
    contexts: kc.getContexts().map((c) => (c.name === kc.getCurrentContext() ? { ...c, namespace } : c)),
    currentContext: kc.getCurrentContext(),
  });
  return copy.exportConfig();
}

export function nodeReady(node: V1Node): boolean {
  return hasCondition(node, 'Ready');
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
    await api.deleteNamespacedLease({ name, namespace }).catch(ignoreStatus(404));
  }
}

/** Whether `error` is the API server answering with one of these HTTP statuses. */
export function isStatus(error: unknown, ...codes: number[]): error is ApiException<unknown> {
  return error instanceof ApiException && codes.includes(error.code);
}

/** A `.catch` handler that lets these statuses pass (a 404 on delete, a 409 on create) and throws anything else. */
export function ignoreStatus(...codes: number[]): (error: unknown) => undefined {
  return (error) => {
    if (!isStatus(error, ...codes)) throw error;
    return undefined;
  };
}

/** The `message` of an API error's Status body, or the error's own message. */
export function statusMessage(error: unknown): string {
  if (error instanceof ApiException) {
    let body: unknown = error.body;
    if (typeof body === 'string') {
      const text = body;
      try {
        body = JSON.parse(text);
      } catch {
        return text || `the API server answered ${error.code}`;
      }
    }
    const message = (body as { message?: unknown } | undefined)?.message;
    return typeof message === 'string' ? message : `the API server answered ${error.code}`;
  }
  return error instanceof Error ? error.message : String(error);
}

export class PollTimeout extends Error {
  override readonly name = 'PollTimeout';
}

export interface PollOptions {
  /** What is waited for, for the error message: "the CRD to be established". */
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  /** Stops the wait at once (the caller's own deadline, a shutdown). */
  signal?: AbortSignal;
  /** Errors from `probe` count as "not yet" instead of ending the wait. Default true. */
  retryErrors?: boolean;
}

/**
 * Calls `probe` until it returns a value other than undefined or false, and
 * returns that value. Throws `PollTimeout` (with the last error as its
 * cause) when `timeoutMs` passes, and the signal's reason when it aborts.
 */
export async function poll<T>(probe: () => Promise<T | undefined | false>, options: PollOptions): Promise<T> {
  const { what, timeoutMs, intervalMs = 250, signal, retryErrors = true } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (!retryErrors || signal?.aborted) throw error;
      lastError = error;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new PollTimeout(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`, { cause: lastError });
    await sleep(Math.min(intervalMs, left), undefined, signal ? { signal } : undefined);
  }
}

/** Polls `probe` until it returns true or the deadline passes. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<void> {
  await poll(probe, { what, timeoutMs, intervalMs });
}

/** Whether an object's status has the condition `type` with status True. */
export function hasCondition(
  object: { status?: { conditions?: Array<{ type: string; status: string }> } } | undefined,
  type: string,
): boolean {
  return object?.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}

/** The fields of a Deployment or StatefulSet that say whether its rollout is done. */
export interface RolloutObject {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number; readyReplicas?: number };
}

/**
 * Whether a Deployment or StatefulSet has rolled out its latest spec, as
 * `kubectl rollout status` decides: the controller saw this generation, and
 * every wanted replica is updated and available, with no old one left. A
 * missing count is zero; a missing `spec.replicas` is Kubernetes' default, 1.
 */
export function rolledOut(object: RolloutObject | undefined): boolean {
  if (!object) return false;
  const wanted = object.spec?.replicas ?? 1;
  const status = object.status ?? {};
  return (
    (status.observedGeneration ?? 0) >= (object.metadata?.generation ?? 1) &&
    (status.updatedReplicas ?? 0) >= wanted &&
    (status.replicas ?? 0) <= (status.updatedReplicas ?? 0) &&
    (status.availableReplicas ?? 0) >= wanted
  );
}

/** A client configuration for `kc`'s cluster whose requests `signal` cancels. */
function abortableConfiguration(kc: KubeConfig, signal: AbortSignal): Configuration {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: async (context) => {
          context.setSignal(signal);
          return context;
        },
        post: async (response) => response,
      },
    ],
  });
}

/** The generic object client, sharing what it learnt of the API's resources with the other clients of its kubeconfig. */
class SharedDiscoveryObjectApi extends KubernetesObjectApi {
  constructor(configuration: Configuration, discovery: Record<string, V1APIResourceList>, kc: KubeConfig) {
    super(configuration);
    this.apiVersionResourceCache = discovery;
    this.setDefaultNamespace(kc);
  }
}

const discoveries = new WeakMap<KubeConfig, Record<string, V1APIResourceList>>();

/**
 * Clients for `kc` whose every request `signal` cancels: a check's
 * deadline stops its API calls instead of leaving them running. The
 * generic object client shares its resource discovery across every signal.
 */
export function abortableClients(kc: KubeConfig, signal: AbortSignal) {
  const configuration = abortableConfiguration(kc, signal);
  let discovery = discoveries.get(kc);
  if (!discovery) {
    discovery = {};
    discoveries.set(kc, discovery);
  }
  return {
    objects: new SharedDiscoveryObjectApi(configuration, discovery, kc),
    api: <T>(apiType: new (configuration: Configuration) => T): T => new apiType(configuration),
  };
}
