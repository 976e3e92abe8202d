/**
 * Shell pods: where a session's lab has its shells when TERMINAL_SHELLS=pods.
 * One pod per session and lab in the platform's own namespace (`cdl-shells`,
 * Pod Security `restricted`), never in the learner's: the learner's identity
 * has no right there, so it can neither exec into its shell's pod nor delete
 * it nor read its secret. Each pod runs the terminal agent (agent/agent.ts)
 * as the learner's user with no capability, a read-only root, a home and
 * /tmp on sized emptyDirs, CPU and memory limits, no ServiceAccount token.
 * Its secret is a Secret of its own, mounted for the agent and read by the
 * servers; any replica finds a session's pod by its labels, so nothing
 * about it lives in a server's memory (a pod's secret is cached, as it never changes).
 *
 * A warm pool: `poolSize` pods wait unclaimed (label `pool=free`) so that a
 * learner who joins gets a running shell at once. The instructor may change
 * the size for every replica (a ConfigMap in the platform's namespace, read
 * again every few seconds); until they do, it is TERMINAL_POOL_SIZE. Claiming one is an update
 * of its labels with its resourceVersion, so two replicas cannot claim the
 * same pod (the loser gets 409 and takes another); a pod is cold-started
 * only when the pool is empty, under a name of the session and lab, so two
 * replicas cannot start two. Each claim tops the pool up again; an
 * overfilled pool (replicas filling it at the same moment) is trimmed.
 */
import { randomBytes } from 'node:crypto';
import {
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1NetworkPolicyPeer,
  type V1Pod,
  type V1PodSpec,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { applyObjects, ignoreStatus, isStatus } from '../../../cluster/src/kube.ts';
import type { ContainerNodes } from '../../../cluster/src/provider.ts';
import { AGENT_PORT } from '../../../contract/agent.ts';
import { LABELS, MANAGER } from '../../../contract/session.ts';
import type { PodPlacement } from '../../../contract/settings.ts';
import { labCode, SYSTEM_NAMESPACE } from '../sandbox/provision.ts';
import type { AgentAddress, AgentLocator } from './agent-relay.ts';

/** The platform's namespace for shell pods. */
export const SHELLS_NAMESPACE = 'cdl-shells';
/** Marks a shell pod (and its Secret). */
export const SHELL_LABEL = 'containerdaylabs.dev/shell';
/** `free` on a pool pod nobody has claimed yet; `claimed` once it serves a session's lab. */
export const POOL_LABEL = 'containerdaylabs.dev/pool';
/** The learner's user in the shell image (cluster/src/local/shell-image.ts). */
const SHELL_USER = 65532;
const SECRET_KEY = 'secret';
/** The instructor's pool size, for every replica. */
const POOL_CONFIG = 'cdl-shell-pool';
/** When a pod was claimed for its session's lab (ISO time): the one claimed longest ago goes first. */
const CLAIMED_AT = 'containerdaylabs.dev/claimed-at';
const claimedNow = () => ({ [CLAIMED_AT]: new Date().toISOString() });
/** How long a replica trusts the pool size it read. */
const POOL_SIZE_TTL_MS = 5000;
/** How often a pool that is short (and already starting what it may) is looked at again. */
const REFILL_EVERY_MS = 2000;

/** Pool pods starting at once, at most: 2, or a tenth of the pool for a big one. */
export function startingAtOnce(size: number): number {
  return Math.max(2, Math.ceil(size / 10));
}
const SECRET_DIR = '/var/run/cdl/agent';

export interface ShellPodsOptions {
  kc: KubeConfig;
  image: string;
  /** Pods kept ready and unclaimed. */
  poolSize: number;
  /** Each shell pod's limits. */
  memoryMiB: number;
  cpus: number;
  /** Where pods that run real containers go, when only some nodes do (the local provider's real node): shell pods go there too, unless `placement` says otherwise. */
  containerNodes?: ContainerNodes;
  /** Where shell pods go (TERMINAL_POD_PLACEMENT). */
  placement?: PodPlacement;
  logger: Logger;
  /** How long a pod may take to be ready. Default 90 s. */
  readyTimeoutMs?: number;
  /** Shell pods one session may hold; for one more, the one claimed longest ago goes. Default 10. */
  maxPerSession?: number;
  /** Who may reach the agents besides the nodes (a server running in the cluster: its pods). Default: no one else. */
  serverPeers?: V1NetworkPolicyPeer[];
}

/** A shell pod's nodeSelector and tolerations: the placement asked for, else the nodes that run containers, else none. */
function placement({ placement, containerNodes }: Pick<ShellPodsOptions, 'placement' | 'containerNodes'>): Partial<V1PodSpec> {
  if (placement) return { nodeSelector: placement.nodeSelector, tolerations: placement.tolerations };
  if (!containerNodes) return {};
  const { label, taint } = containerNodes;
  return {
    nodeSelector: { [label.key]: label.value },
    tolerations: [{ key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect }],
  };
}

/** The API server as a pod's packets may carry it: the `kubernetes` Service and its endpoints (and the loopback a local node DNATs it to). */
export async function apiServerDestinations(kc: KubeConfig): Promise<Array<{ cidr: string; port: number }>> {
  const service = await kc.makeApiClient(CoreV1Api).readNamespacedService({ name: 'kubernetes', namespace: 'default' });
  const slices = await kc
    .makeApiClient(DiscoveryV1Api)
    .listNamespacedEndpointSlice({ namespace: 'default', labelSelector: 'kubernetes.io/service-name=kubernetes' });
  const out: Array<{ cidr: string; port: number }> = [];
  const add = (ip: string | undefined, port: number | undefined) => {
    if (!ip || !port) return;
    const cidr = ip.includes(':') ? `${ip}/128` : `${ip}/32`;
    if (!out.some((d) => d.cidr === cidr && d.port === port)) out.push({ cidr, port });
  };
  for (const port of service.spec?.ports ?? []) add(service.spec?.clusterIP, port.port);
  for (const slice of slices.items) {
    for (const port of slice.ports ?? []) {
      for (const endpoint of slice.endpoints ?? []) for (const address of endpoint.addresses) add(address, port.port ?? undefined);
      add('127.0.0.1', port.port ?? undefined);
    }
  }
  return out;
}

function isReady(pod: V1Pod): boolean {
  return (
    pod.metadata?.deletionTimestamp === undefined &&
    pod.status?.podIP !== undefined &&
    (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

function failed(pod: V1Pod): string | undefined {
  if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') return `it ended (${pod.status.phase})`;
  for (const status of pod.status?.containerStatuses ?? []) {
    const reason = status.state?.waiting?.reason;
    if (reason && /ErrImage|ImagePull|InvalidImageName|CreateContainerConfigError/.test(reason)) {
      return `${reason}: ${status.state?.waiting?.message ?? ''}`.trim();
    }
  }
  return undefined;
}

export class ShellPods implements AgentLocator {
  private readonly core: CoreV1Api;
  private readonly options: ShellPodsOptions;
  /** Each pod's agent secret, by the pod's uid. */
  private readonly secrets = new Map<string, string>();
  private topping: Promise<void> | undefined;
  private knownSize: { size: number; at: number } | undefined;
  private refill: NodeJS.Timeout | undefined;

  constructor(options: ShellPodsOptions) {
    this.options = options;
    this.core = options.kc.makeApiClient(CoreV1Api);
  }

  /**
   * The namespace, enforcing Pod Security `restricted`, and its
   * NetworkPolicy: a shell pod takes connections from the servers only (the
   * nodes always may, for probes; so may `serverPeers`) and makes them to
   * the API server only: not to another shell pod, not to a learner's pods,
   * not to the servers.
   */
  async ensureNamespace(): Promise<void> {
    const labels = {
      [LABELS.managedBy]: MANAGER,
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
    };
    await this.core.createNamespace({ body: { metadata: { name: SHELLS_NAMESPACE, labels } } }).catch(ignoreStatus(409));
    await this.applyPolicy(await apiServerDestinations(this.options.kc));
  }

  /**
   * Keeps the policy current: the API server's addresses are read and the
   * policy applied again every `intervalMs` (a server-side apply that
   * changes nothing writes nothing). A managed control plane's endpoints
   * move when it is updated, and the shells must not lose the API server
   * until a replica restarts; a policy deleted or edited by hand comes back.
   * Returns the stop.
   */
  keepPolicyCurrent(intervalMs = 60_000): () => void {
    const timer = setInterval(() => {
      apiServerDestinations(this.options.kc)
        .then((api) => this.applyPolicy(api))
        .catch((error: unknown) => this.options.logger.warn({ err: error }, "could not refresh the shell pods' NetworkPolicy"));
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async applyPolicy(api: Array<{ cidr: string; port: number }>): Promise<void> {
    const ingress = this.options.serverPeers?.length
      ? [{ from: this.options.serverPeers, ports: [{ protocol: 'TCP', port: AGENT_PORT }] }]
      : [];
    await applyObjects(this.options.kc, [
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'shells', namespace: SHELLS_NAMESPACE, labels: { [LABELS.managedBy]: MANAGER } },
        spec: {
          podSelector: { matchLabels: { [SHELL_LABEL]: 'true' } },
          policyTypes: ['Ingress', 'Egress'],
          ingress,
          egress: api.map(({ cidr, port }) => ({ to: [{ ipBlock: { cidr } }], ports: [{ protocol: 'TCP', port }] })),
        },
      } as KubernetesObject,
    ]);
  }

  private podSpec(name: string, labels: Record<string, string>): V1Pod {
    const { image, memoryMiB, cpus } = this.options;
    return {
      metadata: { name, namespace: SHELLS_NAMESPACE, labels: { [LABELS.managedBy]: MANAGER, [SHELL_LABEL]: 'true', ...labels } },
      spec: {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: 5,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: SHELL_USER,
          runAsGroup: SHELL_USER,
          fsGroup: SHELL_USER,
          seccompProfile: { type: 'RuntimeDefault' },
        },
        ...placement(this.options),
        containers: [
          {
            name: 'agent',
            image,
            imagePullPolicy: 'IfNotPresent',
            env: [{ name: 'CDL_AGENT_SECRET_FILE', value: `${SECRET_DIR}/${SECRET_KEY}` }],
            ports: [{ name: 'agent', containerPort: AGENT_PORT }],
            readinessProbe: { httpGet: { path: '/healthz', port: AGENT_PORT }, periodSeconds: 2, initialDelaySeconds: 0 },
            resources: {
              // What an agent holds with its shell idle (95 MiB measured) and a little CPU: a node's pods by what they use, not less.
              requests: { cpu: '50m', memory: '128Mi' },
              limits: { cpu: String(cpus), memory: `${memoryMiB}Mi` },
            },
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
            volumeMounts: [
              { name: 'work', mountPath: '/work' },
              { name: 'tmp', mountPath: '/tmp' },
              { name: 'secret', mountPath: SECRET_DIR, readOnly: true },
            ],
          },
        ],
        volumes: [
          { name: 'work', emptyDir: { sizeLimit: '256Mi' } },
          { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          { name: 'secret', secret: { secretName: name, defaultMode: 0o400 } },
        ],
      },
    };
  }

  /** A pod and its Secret (made first, so the kubelet never waits for it; owned by the pod once it exists). */
  private async createPod(name: string, labels: Record<string, string>, annotations: Record<string, string> = {}): Promise<V1Pod> {
    const secretLabels = { [LABELS.managedBy]: MANAGER, [SHELL_LABEL]: 'true', ...labels };
    const secret = randomBytes(32).toString('base64url');
    await this.core.createNamespacedSecret({
      namespace: SHELLS_NAMESPACE,
      body: { metadata: { name, labels: secretLabels }, type: 'Opaque', stringData: { [SECRET_KEY]: secret } },
    });
    let pod: V1Pod;
    try {
      const body = this.podSpec(name, labels);
      body.metadata = { ...body.metadata, annotations };
      pod = await this.core.createNamespacedPod({ namespace: SHELLS_NAMESPACE, body });
    } catch (error) {
      await this.core.deleteNamespacedSecret({ name, namespace: SHELLS_NAMESPACE }).catch(ignoreStatus(404));
      throw error;
    }
    const owner = { apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata?.uid ?? '', blockOwnerDeletion: false };
    const stored = await this.core.readNamespacedSecret({ name, namespace: SHELLS_NAMESPACE });
    stored.metadata = { ...stored.metadata, ownerReferences: [owner] };
    await this.core.replaceNamespacedSecret({ name, namespace: SHELLS_NAMESPACE, body: stored });
    this.secrets.set(pod.metadata?.uid ?? '', secret);
    return pod;
  }

  private async list(labelSelector: string): Promise<V1Pod[]> {
    const pods = await this.core.listNamespacedPod({ namespace: SHELLS_NAMESPACE, labelSelector });
    return pods.items.filter((pod) => pod.metadata?.deletionTimestamp === undefined);
  }

  private owners(session: string, lab: string): Record<string, string> {
    return { [LABELS.session]: session, [LABELS.lab]: lab, [POOL_LABEL]: 'claimed' };
  }

  /** A free pool pod, labelled for the session's lab; undefined when the pool is empty. */
  private async claim(session: string, lab: string): Promise<V1Pod | undefined> {
    const free = await this.list(`${SHELL_LABEL}=true,${POOL_LABEL}=free`);
    // Ready ones first, the oldest first: they have waited longest.
    free.sort(
      (a, b) =>
        Number(isReady(b)) - Number(isReady(a)) ||
        String(a.metadata?.creationTimestamp).localeCompare(String(b.metadata?.creationTimestamp)),
    );
    for (const pod of free) {
      pod.metadata = {
        ...pod.metadata,
        labels: { ...pod.metadata?.labels, ...this.owners(session, lab) },
        annotations: { ...pod.metadata?.annotations, ...claimedNow() },
      };
      try {
        return await this.core.replaceNamespacedPod({ name: pod.metadata.name ?? '', namespace: SHELLS_NAMESPACE, body: pod });
      } catch (error) {
        // Another replica claimed it (409) or it went away (404): the next one.
        if (!isStatus(error, 404, 409)) throw error;
      }
    }
    return undefined;
  }

  /** The session lab's pod: the one it has, a claimed one, or a new one. */
  private async podFor(session: string, lab: string): Promise<V1Pod> {
    const selector = `${SHELL_LABEL}=true,${LABELS.session}=${session},${LABELS.lab}=${lab}`;
    const mine = await this.list(selector);
    if (mine.length > 0) return this.settle(mine);
    await this.makeRoom(session);
    const claimed = await this.claim(session, lab);
    this.topUp();
    if (claimed) return this.settle(await this.list(selector));
    const name = `shell-${session}-${labCode(lab)}`;
    try {
      return await this.createPod(name, this.owners(session, lab), claimedNow());
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
      // Another replica started it at the same moment.
      return this.settle(await this.list(selector));
    }
  }

  /**
   * A session has at most `maxPerSession` shell pods (one per lab it opened):
   * for one more, the one claimed longest ago goes (its lab's sandbox stays),
   * as a learner moving through the lessons leaves the first ones behind. A
   * hostile learner opening every lab's terminal holds that many pods, not one per lab.
   */
  private async makeRoom(session: string): Promise<void> {
    const max = this.options.maxPerSession ?? 10;
    const held = await this.list(`${SHELL_LABEL}=true,${LABELS.session}=${session}`);
    if (held.length < max) return;
    const claimedAt = (pod: V1Pod) => pod.metadata?.annotations?.[CLAIMED_AT] ?? String(pod.metadata?.creationTimestamp);
    const oldestFirst = [...held].sort((a, b) => claimedAt(a).localeCompare(claimedAt(b)));
    for (const pod of oldestFirst.slice(0, held.length - max + 1)) await this.deletePod(pod.metadata?.name ?? '');
  }

  /** Of a session lab's pods (two replicas may each have claimed one), the oldest stays and the others go. */
  private settle(pods: V1Pod[]): V1Pod {
    const sorted = [...pods].sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
    const [kept, ...extra] = sorted;
    if (!kept) throw new Error('the shell pod went away while it was being claimed');
    for (const pod of extra) void this.deletePod(pod.metadata?.name ?? '');
    return kept;
  }

  private async deletePod(name: string): Promise<void> {
    await this.core.deleteNamespacedPod({ name, namespace: SHELLS_NAMESPACE, gracePeriodSeconds: 0 }).catch(ignoreStatus(404));
    await this.core.deleteNamespacedSecret({ name, namespace: SHELLS_NAMESPACE }).catch(ignoreStatus(404));
  }

  private async waitReady(name: string): Promise<V1Pod> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 90_000);
    for (;;) {
      const pod = await this.core.readNamespacedPod({ name, namespace: SHELLS_NAMESPACE });
      if (isReady(pod)) return pod;
      const why = failed(pod);
      if (why) throw new Error(`the shell pod ${name} cannot run: ${why}`);
      if (Date.now() > deadline)
        throw new Error(`the shell pod ${name} was not ready within ${Math.round((this.options.readyTimeoutMs ?? 90_000) / 1000)} s`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  private async secretOf(pod: V1Pod): Promise<string> {
    const uid = pod.metadata?.uid ?? '';
    const known = this.secrets.get(uid);
    if (known) return known;
    const stored = await this.core.readNamespacedSecret({ name: pod.metadata?.name ?? '', namespace: SHELLS_NAMESPACE });
    const value = stored.data?.[SECRET_KEY];
    if (!value) throw new Error(`the shell pod ${pod.metadata?.name} has no secret`);
    const secret = Buffer.from(value, 'base64').toString('utf8');
    this.secrets.set(uid, secret);
    return secret;
  }

  async locate(sessionName: string, labId: string): Promise<AgentAddress> {
    const pod = await this.waitReady((await this.podFor(sessionName, labId)).metadata?.name ?? '');
    return { url: `http://${pod.status?.podIP}:${AGENT_PORT}`, secret: await this.secretOf(pod) };
  }

  async release(sessionName: string): Promise<void> {
    const selector = `${SHELL_LABEL}=true,${LABELS.session}=${sessionName}`;
    await this.core.deleteCollectionNamespacedPod({ namespace: SHELLS_NAMESPACE, labelSelector: selector, gracePeriodSeconds: 0 });
    await this.core.deleteCollectionNamespacedSecret({ namespace: SHELLS_NAMESPACE, labelSelector: selector });
  }

  /** Brings the pool to its size, in the background (a failure is logged; the next claim tries again). */
  topUp(): void {
    this.topping ??= this.fillPool()
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not fill the pool of shell pods'))
      .finally(() => {
        this.topping = undefined;
      });
  }

  /** The pool's size: the instructor's, else TERMINAL_POOL_SIZE. */
  async size(): Promise<number> {
    if (this.knownSize && Date.now() - this.knownSize.at < POOL_SIZE_TTL_MS) return this.knownSize.size;
    const config = await this.core.readNamespacedConfigMap({ name: POOL_CONFIG, namespace: SYSTEM_NAMESPACE }).catch(ignoreStatus(404));
    const stored = Number(config?.data?.size);
    const size = Number.isInteger(stored) && stored >= 0 ? stored : this.options.poolSize;
    this.knownSize = { size, at: Date.now() };
    return size;
  }

  /** Sets the pool's size for every replica, and fills (or trims) it now. */
  async setSize(size: number): Promise<void> {
    await applyObjects(this.options.kc, [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: POOL_CONFIG, namespace: SYSTEM_NAMESPACE, labels: { [LABELS.managedBy]: MANAGER } },
        data: { size: String(size) },
      } as KubernetesObject,
    ]);
    this.knownSize = { size, at: Date.now() };
    await this.fillPool();
  }

  /** Resolves once the pool has its size (made, not yet ready); a size of 0 is no pool, and what waited unclaimed goes. */
  async fillPool(): Promise<void> {
    const size = await this.size();
    const free = await this.list(`${SHELL_LABEL}=true,${POOL_LABEL}=free`);
    const missing = size - free.length;
    if (missing > 0) {
      // A few at a time: a node starting many agents at once starves the shells already in use.
      const starting = free.filter((pod) => !isReady(pod)).length;
      const now = Math.min(missing, Math.max(0, startingAtOnce(size) - starting));
      for (let i = 0; i < now; i++) await this.createPod(`shell-pool-${randomBytes(4).toString('hex')}`, { [POOL_LABEL]: 'free' });
      if (now < missing) this.refillLater();
      return;
    }
    if (missing === 0) return;
    // Replicas that filled it at the same moment: the newest extras go.
    const newestFirst = free.sort((a, b) => String(b.metadata?.creationTimestamp).localeCompare(String(a.metadata?.creationTimestamp)));
    for (const pod of newestFirst.slice(0, -missing)) await this.deletePod(pod.metadata?.name ?? '');
  }

  /** Tops the pool up again in a moment (once the pods started now are up). */
  private refillLater(): void {
    if (this.refill) return;
    this.refill = setTimeout(() => {
      this.refill = undefined;
      this.topUp();
    }, REFILL_EVERY_MS);
    this.refill.unref();
  }

  /** The pool: its size, and its pods ready and not. */
  async pool(): Promise<{ size: number; ready: number; starting: number }> {
    const [size, free] = await Promise.all([this.size(), this.list(`${SHELL_LABEL}=true,${POOL_LABEL}=free`)]);
    const ready = free.filter(isReady).length;
    return { size, ready, starting: free.length - ready };
  }
}
