/**
 * Reachability measured, not inferred: a short-lived pod of the check's own,
 * labelled as the client it stands for, asks each URL over the real network
 * (busybox's wget, at most three seconds a try, two tries) and reports which answered. On a
 * cluster whose pods run real containers, this is what NetworkPolicy,
 * Services and DNS actually do; network.ts works the same question out
 * from the objects where nothing runs.
 *
 * The pod runs in the namespace asked for, so it is subject to the same
 * policies, quota and node binding as the learner's own pods, and goes as
 * soon as it has answered (or after a minute, whatever happens).
 */
import { randomBytes } from 'node:crypto';
import type { CoreV1Api, V1Pod, V1Toleration } from '@kubernetes/client-node';
import { poll } from '../../cluster/src/kube.ts';
import { IMAGE_REFS } from '../../cluster/src/local/images.ts';

export interface ProbeClient {
  namespace: string;
  /** The labels the probing pod carries: the policies select it by them. */
  labels: Record<string, string>;
  /** Where it must run, outside a namespace the lab binds to the real node. */
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
}

export interface ProbeOptions {
  signal?: AbortSignal;
  /** How long the whole probe may take, start to answer. */
  timeoutMs?: number;
}

/** Each URL's answer: whether an HTTP request to it got a successful response. */
export type Reachability = Map<string, boolean>;

// Busybox 1.35's `wget -T` crashes (a static build's bug), so `timeout` bounds each request. A
// NetworkPolicy firewall learns of a new pod a moment after it starts, so a refused request is
// asked once more a second later before it counts.
const SCRIPT = [
  'ask() { timeout 3 wget -q -O /dev/null "$1" 2>/dev/null; }',
  'for u in "$@"; do if ask "$u" || { sleep 1; ask "$u"; }; then echo "ok $u"; else echo "no $u"; fi; done',
].join('\n');

/** The probing pod: least privilege, tiny, with the URLs as arguments (never spliced into the script). */
export function probePod(name: string, client: ProbeClient, urls: readonly string[]): V1Pod {
  return {
    metadata: { name, namespace: client.namespace, labels: { ...client.labels, 'containerdaylabs.dev/probe': 'true' } },
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: 60,
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(client.nodeSelector ? { nodeSelector: client.nodeSelector } : {}),
      ...(client.tolerations ? { tolerations: client.tolerations } : {}),
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'probe',
          image: IMAGE_REFS.busybox,
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', SCRIPT, 'probe', ...urls],
          resources: { requests: { cpu: '10m', memory: '8Mi' }, limits: { cpu: '200m', memory: '32Mi' } },
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}

/** Reads the probe's log: one `ok <url>` or `no <url>` line per URL, in order. */
export function readProbeLog(log: string, urls: readonly string[]): Reachability {
  const answers = new Map(
    log
      .split('\n')
      .map((line) => /^(ok|no) (.+)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[2] ?? '', m[1] === 'ok'] as const),
  );
  return new Map(urls.map((url) => [url, answers.get(url) ?? false]));
}

/** Asks every URL from a pod of `client`'s namespace and labels; throws when the pod could not run. */
export async function probe(
  core: CoreV1Api,
  client: ProbeClient,
  urls: readonly string[],
  options: ProbeOptions = {},
): Promise<Reachability> {
  const name = `probe-${randomBytes(4).toString('hex')}`;
  const { namespace } = client;
  await core.createNamespacedPod({ namespace, body: probePod(name, client, urls) });
  try {
    const pod = await poll(
      async () => {
        const now = await core.readNamespacedPod({ name, namespace });
        return now.status?.phase === 'Succeeded' || now.status?.phase === 'Failed' ? now : undefined;
      },
      {
        what: `the probe pod ${name} to finish`,
        timeoutMs: options.timeoutMs ?? 20_000 + urls.length * 7500,
        intervalMs: 200,
        ...(options.signal ? { signal: options.signal } : {}),
      },
    );
    if (pod.status?.phase !== 'Succeeded') {
      const reason = pod.status?.containerStatuses?.[0]?.state?.terminated?.reason ?? pod.status?.reason ?? 'it failed';
      throw new Error(`the probe pod ${name} could not run (${reason})`);
    }
    return readProbeLog(await core.readNamespacedPodLog({ name, namespace }), urls);
  } finally {
    await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}
