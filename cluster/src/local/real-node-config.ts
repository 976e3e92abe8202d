/**
 * The real node's files, as pure functions of where the cluster lives and
 * what was chosen for it (subnet, ports): containerd's configuration, the CNI
 * network, the kubelet's and kube-proxy's configurations and kubeconfigs, and
 * the names the node takes on the host. Nothing here touches the machine, so
 * every rule is unit-tested (test/unit/real-node-config.test.ts); real-node.ts
 * and real-node-host.ts do the work.
 *
 * Everything the node writes stays in one folder of the cluster's own
 * (`.cluster/<name>/node/`), so two checkouts' clusters never share a
 * containerd, a kubelet root or a CNI IP allocation, and `down` knows what
 * is its to remove.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { IMAGE_REFS } from './images.ts';

/** The real node's name in the API. One per cluster, so a constant: labs and checks can name it. */
export const REAL_NODE_NAME = 'cdl-real-node';

/**
 * The real node's taint: ordinary pods keep landing on the simulated nodes,
 * and a pod that must run containers tolerates this and selects the node
 * (REAL_NODE_LABEL).
 */
export const REAL_NODE_TAINT = { key: 'labs.containerdaylabs.dev/real-node', value: 'true', effect: 'NoSchedule' } as const;

/** The label the real node carries, for a pod's nodeSelector. */
export const REAL_NODE_LABEL = { key: 'labs.containerdaylabs.dev/real-node', value: 'true' } as const;

/**
 * Its processes, by the name of their pid files and binaries, in the order
 * they start: the container runtime, the node agent, Services and the
 * NetworkPolicy firewall. (Cluster DNS is a pod: a static pod of the kubelet.)
 */
export const REAL_NODE_COMPONENTS = ['containerd', 'kubelet', 'kube-proxy', 'kube-router'] as const;
export type RealNodeComponent = (typeof REAL_NODE_COMPONENTS)[number];

/** The containerd namespace the CRI plugin keeps the kubelet's images and containers in. */
export const CRI_NAMESPACE = 'k8s.io';

/** Where Debian's containernetworking-plugins package puts the plugins. */
export const CNI_BIN_DIR = '/usr/lib/cni';

/** Where one cluster's real node lives and what it talks to. */
export interface RealNodePlace {
  clusterName: string;
  /** The cluster's state folder, `.cluster/<name>/`. */
  stateDir: string;
  /** kwokctl's folder of the cluster: `pids/`, `logs/` and `pki/` (the CA) are in it. */
  clusterDir: string;
  /** The admin kubeconfig: the API server's address is read from it. */
  kubeconfig: string;
  env: NodeJS.ProcessEnv;
}

/** Every file and folder of one cluster's real node. */
export interface NodeLayout {
  dir: string;
  /** What was chosen at the first start (subnet, ports), so a restart reuses it. */
  settings: string;
  pki: string;
  containerd: { config: string; root: string; state: string; socket: string; runcRoot: string };
  cni: { confDir: string; dataDir: string };
  kubelet: { config: string; kubeconfig: string; root: string; podLogs: string; manifests: string };
  kubeProxy: { config: string; kubeconfig: string };
  /** CoreDNS's files, the folder its static pod mounts read-only at /etc/coredns. */
  coredns: { dir: string; corefile: string; kubeconfig: string };
  kubeRouter: { kubeconfig: string };
}

/** The layout under the cluster's state folder (`.cluster/<name>/`). */
export function nodeLayout(stateDir: string): NodeLayout {
  const dir = join(stateDir, 'node');
  const containerd = join(dir, 'containerd');
  return {
    dir,
    settings: join(dir, 'node.json'),
    pki: join(dir, 'pki'),
    containerd: {
      config: join(containerd, 'config.toml'),
      root: join(containerd, 'root'),
      state: join(containerd, 'state'),
      socket: join(containerd, 'containerd.sock'),
      runcRoot: join(containerd, 'state', 'runc'),
    },
    cni: { confDir: join(dir, 'cni', 'net.d'), dataDir: join(dir, 'cni', 'ipam') },
    kubelet: {
      config: join(dir, 'kubelet', 'config.json'),
      kubeconfig: join(dir, 'kubelet', 'kubeconfig'),
      root: join(dir, 'kubelet', 'root'),
      podLogs: join(dir, 'kubelet', 'pod-logs'),
      manifests: join(dir, 'kubelet', 'manifests'),
    },
    kubeProxy: { config: join(dir, 'kube-proxy', 'config.json'), kubeconfig: join(dir, 'kube-proxy', 'kubeconfig') },
    coredns: { dir: join(dir, 'coredns'), corefile: join(dir, 'coredns', 'Corefile'), kubeconfig: join(dir, 'coredns', 'kubeconfig') },
    kubeRouter: { kubeconfig: join(dir, 'kube-router', 'kubeconfig') },
  };
}

/** Names on the host that are one cluster's: its bridge (at most 15 characters), its CNI network and its cgroup root. */
export function hostNames(clusterName: string): { bridge: string; network: string; cgroupRoot: string } {
  const short = createHash('sha256').update(clusterName).digest('hex').slice(0, 8);
  return { bridge: `cdl${short}`, network: `cdl-${clusterName}`, cgroupRoot: `/cdl-${clusterName}` };
}

/** What a real node was given at its first start, kept in `node.json`. */
export interface NodeSettings {
  /** The pods' /24; its first address is the bridge's and the node's InternalIP. */
  subnet: string;
  kubeletPort: number;
  kubeletHealthzPort: number;
  proxyMetricsPort: number;
  proxyHealthzPort: number;
}

/** The node's address (the bridge's): the subnet's first host address. */
export function nodeIp(subnet: string): string {
  const [base = ''] = subnet.split('/');
  const parts = base.split('.');
  return `${parts.slice(0, 3).join('.')}.1`;
}

const toml = (value: string) => JSON.stringify(value);

/**
 * containerd's configuration (version 2, containerd 1.6 and 1.7): every path
 * and socket in the node's folder, no metrics or debug listener, the CRI
 * plugin with our pause image and CNI network. `restrict_oom_score_adj`
 * because a container may not lower its OOM score below containerd's own
 * where the machine refuses it (runc then fails every pod with "can't get
 * final child's PID from pipe"); cgroupfs because the platform does not
 * assume systemd; network namespaces under the state folder, so that they
 * are the cluster's to unmount.
 */
export function containerdConfig(layout: NodeLayout): string {
  const { containerd, cni } = layout;
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `${[
    'version = 2',
    `root = ${toml(containerd.root)}`,
    `state = ${toml(containerd.state)}`,
    'oom_score = 0',
    '',
    '[grpc]',
    `  address = ${toml(containerd.socket)}`,
    '',
    '[ttrpc]',
    `  address = ${toml(`${containerd.socket}.ttrpc`)}`,
    '',
    '[debug]',
    '  address = ""',
    '',
    '[metrics]',
    '  address = ""',
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${toml(join(containerd.root, 'opt'))}`,
    '',
    `[${cri}]`,
    `  sandbox_image = ${toml(IMAGE_REFS.pause)}`,
    '  restrict_oom_score_adj = true',
    '  netns_mounts_under_state_dir = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_selinux = false',
    '  disable_apparmor = true',
    '  max_container_log_line_size = 16384',
    '',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    '',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    '',
    `[${cri}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    `  Root = ${toml(containerd.runcRoot)}`,
    '',
    `[${cri}.cni]`,
    `  bin_dir = ${toml(CNI_BIN_DIR)}`,
    `  conf_dir = ${toml(cni.confDir)}`,
    '  max_conf_num = 1',
  ].join('\n')}\n`;
}

/**
 * The pods' network: one bridge per cluster, the node's address as its
 * gateway, addresses from host-local IPAM whose allocations live in the
 * node's folder, and masquerading for traffic that leaves the subnet. The
 * bridge plugin marks each masquerade rule with the network's name, which
 * is how `down` finds the rules of pods that never got their teardown.
 */
export function cniConflist(clusterName: string, layout: NodeLayout, subnet: string): string {
  const { bridge, network } = hostNames(clusterName);
  const conflist = {
    cniVersion: '1.0.0',
    name: network,
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: layout.cni.dataDir,
          ranges: [[{ subnet, gateway: nodeIp(subnet) }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'loopback' },
    ],
  };
  return `${JSON.stringify(conflist, null, 2)}\n`;
}

export interface KubeletConfigInput {
  clusterName: string;
  layout: NodeLayout;
  settings: NodeSettings;
  /** The cluster CA that signs the API server's client certificate. */
  clientCaFile: string;
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
  /** The cluster DNS Service's address (kube-system/kube-dns), which pods are given as their nameserver. */
  clusterDns: string;
}

/**
 * The kubelet's KubeletConfiguration. Notes on the choices:
 * - authentication by client certificate and token review only, and every
 *   request authorised by the API server (no anonymous access, no read-only port);
 * - its own cgroup root, so its pods never mix with the host's or another
 *   cluster's, and cgroup v1 allowed (`failCgroupV1: false`): many machines
 *   still mount it, and this is a workshop, not production;
 * - eviction only at 1% free: a laptop's disk is often fuller than a
 *   server's, and an evicted lab pod would puzzle a learner;
 * - no image garbage collection: the images were imported, not pulled, and
 *   could not be pulled back;
 * - pids per pod limited, and memory limits enforced by the kubelet's cgroups.
 */
export function kubeletConfig(input: KubeletConfigInput): string {
  const { layout, settings } = input;
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: nodeIp(settings.subnet),
    port: settings.kubeletPort,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: settings.kubeletHealthzPort,
    tlsCertFile: input.tlsCertFile,
    tlsPrivateKeyFile: input.tlsPrivateKeyFile,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true, cacheTTL: '30s' },
      x509: { clientCAFile: input.clientCaFile },
    },
    authorization: { mode: 'Webhook', webhook: { cacheAuthorizedTTL: '30s', cacheUnauthorizedTTL: '10s' } },
    containerRuntimeEndpoint: `unix://${layout.containerd.socket}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: hostNames(input.clusterName).cgroupRoot,
    cgroupsPerQOS: true,
    failCgroupV1: false,
    failSwapOn: false,
    registerNode: true,
    registerWithTaints: [{ ...REAL_NODE_TAINT }],
    podLogsDir: layout.kubelet.podLogs,
    volumePluginDir: join(layout.kubelet.root, 'volume-plugins'),
    // CoreDNS only (corednsPod): nothing else is ever written there.
    staticPodPath: layout.kubelet.manifests,
    // A room's learners share it: every attempt of every container lab of a suite, too.
    maxPods: 110,
    podPidsLimit: 1024,
    evictionHard: { 'memory.available': '1%', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    clusterDomain: 'cluster.local',
    clusterDNS: [input.clusterDns],
    containerLogMaxSize: '10Mi',
    containerLogMaxFiles: 2,
    shutdownGracePeriod: '0s',
    rotateCertificates: false,
    serverTLSBootstrap: false,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * kube-proxy's KubeProxyConfiguration, iptables mode. It leaves the host's
 * sysctls alone where it can (no conntrack table sizing or timeouts, no
 * `route_localnet` for NodePorts on 127.0.0.1), and serves NodePorts on the
 * node's bridge address only, never on the machine's own network.
 */
export function kubeProxyConfig(layout: NodeLayout, settings: NodeSettings): string {
  const config = {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: layout.kubeProxy.kubeconfig },
    hostnameOverride: REAL_NODE_NAME,
    mode: 'iptables',
    clusterCIDR: settings.subnet,
    metricsBindAddress: `127.0.0.1:${settings.proxyMetricsPort}`,
    healthzBindAddress: `127.0.0.1:${settings.proxyHealthzPort}`,
    nodePortAddresses: [`${nodeIp(settings.subnet)}/32`],
    iptables: { localhostNodePorts: false, masqueradeAll: false },
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** The cluster DNS Service, in kube-system as everywhere: its address goes into every pod's resolv.conf. */
export const CLUSTER_DNS = { namespace: 'kube-system', name: 'kube-dns' } as const;

/** The label of CoreDNS's pod, which the Service selects and NetworkPolicies name, as in any cluster. */
export const CLUSTER_DNS_LABELS = { 'k8s-app': 'kube-dns' } as const;

/** The cluster's DNS domain. */
export const CLUSTER_DOMAIN = 'cluster.local';

/** The user CoreDNS and kube-router sign in as (client certificates of the cluster's CA), and what each may read. */
export const NODE_ADD_ON_USERS = {
  coredns: {
    user: 'system:cdl:coredns',
    rules: [
      { apiGroups: [''], resources: ['services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  },
  'kube-router': {
    user: 'system:cdl:kube-router',
    rules: [
      { apiGroups: [''], resources: ['namespaces', 'pods', 'services', 'nodes', 'endpoints'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
    ],
  },
} as const;

/**
 * Where CoreDNS's folder is inside its pod, and the port it serves on
 * there: 53, as in any cluster, because a NetworkPolicy names the pod's port
 * (a rule that allows DNS on 53 must match it).
 */
export const COREDNS_MOUNT = '/etc/coredns';
export const COREDNS_PORT = 53;
const COREDNS_READY_PORT = 8181;

/**
 * CoreDNS's Corefile: the cluster's names from the API server, and nothing
 * else: no forwarding (a workshop's pods have no business on the internet,
 * and an offline event has none). A name outside the cluster gets an error
 * answer at once. It runs in its own pod, so its ports are the pod's.
 */
export function corefile(): string {
  return `${[
    `.:${COREDNS_PORT} {`,
    '    errors',
    `    ready :${COREDNS_READY_PORT}`,
    `    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {`,
    `        kubeconfig ${COREDNS_MOUNT}/kubeconfig cdl`,
    '        pods insecure',
    '        ttl 5',
    '    }',
    '    cache 5',
    '    loadbalance',
    '}',
  ].join('\n')}\n`;
}

/**
 * CoreDNS as a static pod of the real node, in kube-system and labelled
 * `k8s-app: kube-dns` as in any cluster: a NetworkPolicy that lets pods
 * reach the cluster DNS by that selector works here as on EKS. Its files
 * (Corefile, kubeconfig, client certificate) come from the node's folder,
 * read-only; it runs as root only to read its key, with a read-only root
 * and no capability but binding port 53 (as CoreDNS's own manifests do).
 */
export function corednsPod(layout: NodeLayout): string {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'coredns', namespace: CLUSTER_DNS.namespace, labels: { ...CLUSTER_DNS_LABELS } },
    spec: {
      priorityClassName: 'system-node-critical',
      enableServiceLinks: false,
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'coredns',
          image: IMAGE_REFS.coredns,
          imagePullPolicy: 'Never',
          args: ['-conf', `${COREDNS_MOUNT}/Corefile`],
          ports: [
            { name: 'dns', containerPort: COREDNS_PORT, protocol: 'UDP' },
            { name: 'dns-tcp', containerPort: COREDNS_PORT, protocol: 'TCP' },
          ],
          readinessProbe: { httpGet: { path: '/ready', port: COREDNS_READY_PORT }, periodSeconds: 2 },
          resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '128Mi' } },
          securityContext: {
            runAsUser: 0,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
          },
          volumeMounts: [{ name: 'config', mountPath: COREDNS_MOUNT, readOnly: true }],
        },
      ],
      volumes: [{ name: 'config', hostPath: { path: layout.coredns.dir, type: 'Directory' } }],
    },
  };
  return `${JSON.stringify(pod, null, 2)}\n`;
}

/**
 * A kubeconfig with a client certificate, for the kubelet, kube-proxy,
 * kube-router and CoreDNS. `tlsServerName` where the server is reached at
 * an address its certificate does not name (CoreDNS's, from its pod).
 */
export function clientKubeconfig(input: {
  server: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  user: string;
  tlsServerName?: string;
}): string {
  const cluster = {
    server: input.server,
    'certificate-authority': input.caFile,
    ...(input.tlsServerName ? { 'tls-server-name': input.tlsServerName } : {}),
  };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cdl', cluster }],
    users: [{ name: input.user, user: { 'client-certificate': input.certFile, 'client-key': input.keyFile } }],
    contexts: [{ name: 'cdl', context: { cluster: 'cdl', user: input.user } }],
    'current-context': 'cdl',
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Whether a component of the cluster is one of the real node's processes. */
export function isRealNodeComponent(name: string): name is RealNodeComponent {
  return (REAL_NODE_COMPONENTS as readonly string[]).includes(name);
}
