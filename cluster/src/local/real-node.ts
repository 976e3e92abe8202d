/**
 * One real node beside the simulated ones: containerd, runc and the CNI
 * plugins from the system's packages, the kubelet and kube-proxy of the
 * control plane's own version (binaries.ts), pods on a bridge of the
 * cluster's own. Labs that need a container to run (logs, exec, probes, an
 * OOM kill) schedule onto it with a toleration for REAL_NODE_TAINT; every
 * other pod keeps landing on kwok's nodes, and kwok leaves this node alone
 * (it manages only nodes with its annotation).
 *
 * There is no service manager to lean on: the three processes are started
 * detached with pid files beside kwokctl's (`pids/`), so `status` counts
 * them like the control plane's and `up` restarts the node when one is gone.
 * A restart is a clean stop and a fresh start: the kubelet runs every pod
 * bound to the node again, and nothing half-dead from before can confuse it.
 *
 * It needs Linux and root: the kubelet makes cgroups and mounts, the CNI
 * plugins make a bridge and iptables rules. What it changes on the host is
 * in real-node-host.ts, with how `down` undoes each change; the files it
 * writes are in real-node-config.ts.
 */
import { spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { z } from 'zod';
import { ClusterError } from '../errors.ts';
import { formatDuration, processAlive, run, tail, which } from '../exec.ts';
import { applyObjects, loadKubeConfig, nodeReady } from '../kube.ts';
import { ensurePrograms, NODE_PROGRAMS } from '../system-packages.ts';
import { ensureNodeBinaries } from './binaries.ts';
import { pidFile } from './control-plane.ts';
import { ensureImages, type ImageSourceId, type LocalImage, NODE_IMAGE_SOURCES } from './images.ts';
import {
  CLUSTER_DNS,
  CLUSTER_DNS_LABELS,
  CLUSTER_DOMAIN,
  COREDNS_MOUNT,
  CRI_NAMESPACE,
  clientKubeconfig,
  cniConflist,
  containerdConfig,
  corednsPod,
  corefile,
  hostNames,
  kubeletConfig,
  kubeProxyConfig,
  NODE_ADD_ON_USERS,
  type NodeLayout,
  type NodeSettings,
  nodeIp,
  nodeLayout,
  REAL_NODE_LABEL,
  REAL_NODE_NAME,
  type RealNodeComponent,
  type RealNodePlace,
} from './real-node-config.ts';
import {
  addPodFirewall,
  cleanUpRealNode,
  createBridge,
  createCgroupRoot,
  foreignNodeAgents,
  hostRouteDestinations,
  saveTunables,
} from './real-node-host.ts';
import { cgroupsReadOnly, chooseSubnet } from './real-node-host-state.ts';

export { REAL_NODE_LABEL, REAL_NODE_NAME, REAL_NODE_TAINT, type RealNodePlace } from './real-node-config.ts';
export { cleanUpRealNode } from './real-node-host.ts';

type Log = (line: string) => void;

/** What `up` decided about the real node, for `status` in a later process. */
export const RealNodeRecordSchema = z.object({
  /** Whether `up` started it. */
  started: z.boolean(),
  /** Why not, when it did not. */
  reason: z.string().optional(),
});
export type RealNodeRecord = z.infer<typeof RealNodeRecordSchema>;

function recordFile(place: RealNodePlace): string {
  return join(place.stateDir, 'real-node.json');
}

export async function readRealNodeRecord(place: RealNodePlace): Promise<RealNodeRecord | undefined> {
  const text = await readFile(recordFile(place), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return RealNodeRecordSchema.parse(JSON.parse(text));
  } catch {
    // A record cut short by a crash says nothing; status then says no node was started.
    return undefined;
  }
}

export async function writeRealNodeRecord(place: RealNodePlace, record: RealNodeRecord): Promise<void> {
  await mkdir(place.stateDir, { recursive: true });
  await writeFile(recordFile(place), `${JSON.stringify(record)}\n`);
}

/**
 * Why this machine cannot run a real node, or undefined when it can as far
 * as can be told without installing anything. Missing packages are a reason
 * only where there is no apt-get: `startRealNode` installs them otherwise.
 */
export function cannotRunRealNode(place: Pick<RealNodePlace, 'stateDir'>): string | undefined {
  if (process.platform !== 'linux') return `it needs Linux, and this is ${process.platform}`;
  if (process.getuid?.() !== 0) return "it needs root (containerd, the kubelet and the pods' network change the host)";
  if (!existsSync('/sys/fs/cgroup')) return 'this system mounts no cgroups at /sys/fs/cgroup';
  if (cgroupsReadOnly(readFileSync('/proc/self/mountinfo', 'utf8'))) {
    return 'its cgroups are mounted read-only here (an unprivileged container?), so the kubelet could not limit a pod';
  }
  const other = foreignNodeAgents(nodeLayout(place.stateDir).dir)[0];
  if (other) {
    const program = basename(other.argv[0] ?? 'kubelet');
    // Another cluster of this project is named by its folder, `.cluster/<name>/node/`.
    const cluster = other.argv.map((arg) => /\/\.cluster\/([^/]+)\/node\//.exec(arg)?.[1]).find(Boolean);
    const whose = cluster ? `the real node of the cluster "${cluster}"` : 'a node of some other cluster';
    return `${whose} runs on this machine (${program}, pid ${other.pid}), and there is one real node per machine: two kube-proxies would rewrite each other's iptables rules`;
  }
  const missing = NODE_PROGRAMS.filter((p) => !(p.file ? existsSync(p.file) : which(p.command))).map((p) => p.aptPackage);
  if (missing.length > 0 && !which('apt-get')) {
    return `it needs ${[...new Set(missing)].join(', ')}, and this system has no apt-get to install them`;
  }
  return undefined;
}

/** A TCP port nobody listens on now, on loopback. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const NodeSettingsSchema = z.object({
  subnet: z.string(),
  kubeletPort: z.number(),
  kubeletHealthzPort: z.number(),
  proxyMetricsPort: z.number(),
  proxyHealthzPort: z.number(),
});

/** The subnet chosen before while no route has taken it since, else a free one; ports free now. */
async function chooseSettings(place: RealNodePlace, layout: NodeLayout): Promise<NodeSettings> {
  const before = NodeSettingsSchema.safeParse(JSON.parse((await readFile(layout.settings, 'utf8').catch(() => '')) || 'null')).data;
  const { bridge } = hostNames(place.clusterName);
  const subnet = chooseSubnet(await hostRouteDestinations(bridge), before?.subnet);
  if (!subnet) {
    throw new ClusterError(
      'every /24 in 10.88.0.0/15 overlaps a route of this machine, so the pods have no subnet',
      'Start with --no-real-node, or free one of those ranges.',
    );
  }
  // Ports are picked afresh each start: a port free yesterday may be some other program's today.
  const settings: NodeSettings = {
    subnet,
    kubeletPort: await freePort(),
    kubeletHealthzPort: await freePort(),
    proxyMetricsPort: await freePort(),
    proxyHealthzPort: await freePort(),
  };
  await writeFile(layout.settings, `${JSON.stringify(settings, null, 2)}\n`);
  return settings;
}

async function openssl(args: string[]): Promise<void> {
  const result = await run('openssl', args, { timeoutMs: 30_000 });
  if (result.code !== 0) throw new ClusterError(`openssl ${args[0]} failed: ${tail(result.stderr, 5)}`, 'Check that openssl works.');
}

/** A key and a certificate signed by the cluster's CA, with the subject and extensions given. */
async function issue(pki: string, ca: { cert: string; key: string }, name: string, subject: string, extensions: string[]) {
  const key = join(pki, `${name}.key`);
  const cert = join(pki, `${name}.crt`);
  const csr = join(pki, `${name}.csr`);
  const ext = join(pki, `${name}.ext`);
  await writeFile(ext, `${extensions.join('\n')}\n`);
  await openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-subj',
    subject,
    '-out',
    csr,
  ]);
  const serial = `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`;
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    serial,
    '-days',
    '365',
    '-out',
    cert,
    '-extfile',
    ext,
  ]);
  await rm(csr, { force: true });
  await rm(ext, { force: true });
  return { key, cert };
}

/** The API server's address, from the admin kubeconfig. */
function apiServer(place: RealNodePlace): string {
  const server = loadKubeConfig(place.kubeconfig).getCurrentCluster()?.server;
  if (!server) throw new ClusterError(`${place.kubeconfig} names no API server`, 'Run `npm run cluster -- reset`.');
  return server;
}

/** Starts one of the node's processes detached, its output in `logs/<name>.log`, its pid in `pids/<name>.pid`. */
async function spawnComponent(
  place: RealNodePlace,
  name: RealNodeComponent,
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<number> {
  await mkdir(join(place.clusterDir, 'logs'), { recursive: true });
  await mkdir(join(place.clusterDir, 'pids'), { recursive: true });
  const logFile = join(place.clusterDir, 'logs', `${name}.log`);
  const out = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', out, out],
      // runc, iptables, mount and the CNI plugins are found on this PATH.
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...env },
    });
    const pid = child.pid;
    if (pid === undefined) throw new ClusterError(`could not start ${command}`, 'Check that the file exists and is executable.');
    child.unref();
    await writeFile(pidFile(place.clusterDir, name), `${pid}\n`);
    return pid;
  } finally {
    closeSync(out);
  }
}

async function logTail(place: RealNodePlace, name: RealNodeComponent, lines = 8): Promise<string> {
  return tail(await readFile(join(place.clusterDir, 'logs', `${name}.log`), 'utf8').catch(() => ''), lines);
}

/** Waits for `probe`, failing at once with the component's log if its process exits meanwhile. */
async function waitWhileAlive(
  place: RealNodePlace,
  name: RealNodeComponent,
  pid: number,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (!processAlive(pid)) {
      throw new ClusterError(
        `${name} exited while waiting for ${what}:\n${await logTail(place, name)}`,
        `Its whole log is ${join(place.clusterDir, 'logs', `${name}.log`)}.`,
      );
    }
    if (Date.now() > deadline) {
      throw new ClusterError(
        `timed out after ${formatDuration(timeoutMs)} waiting for ${what}; ${name} says:\n${await logTail(place, name)}`,
        `Its whole log is ${join(place.clusterDir, 'logs', `${name}.log`)}.`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * What the node's add-ons need in the API: CoreDNS and kube-router may read
 * what they serve and enforce (no more), and the kube-dns Service leads to
 * CoreDNS's pod. Returns the Service's address, the pods' nameserver.
 */
async function applyAddOnObjects(kc: KubeConfig): Promise<string> {
  const objects: KubernetesObject[] = [];
  for (const [name, { user, rules }] of Object.entries(NODE_ADD_ON_USERS)) {
    const role = `containerdaylabs:${name}`;
    objects.push(
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: role }, rules } as KubernetesObject,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      } as KubernetesObject,
    );
  }
  const labels = { ...CLUSTER_DNS_LABELS, 'kubernetes.io/name': 'CoreDNS' };
  objects.push({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { ...CLUSTER_DNS, labels },
    spec: {
      selector: { ...CLUSTER_DNS_LABELS },
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 'dns-tcp' },
      ],
    },
  } as KubernetesObject);
  await applyObjects(kc, objects);
  const service = await kc.makeApiClient(CoreV1Api).readNamespacedService(CLUSTER_DNS);
  const ip = service.spec?.clusterIP;
  if (!ip)
    throw new ClusterError(`the Service ${CLUSTER_DNS.namespace}/${CLUSTER_DNS.name} has no address`, 'Run `npm run cluster -- reset`.');
  return ip;
}

/** kube-proxy proxies only the Services without this label (or with its own name in it). */
const SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';

/**
 * The `kubernetes` Service, for the real node's pods (their in-cluster
 * clients connect to it): its endpoint is the address the API server
 * advertises, where it does not listen (it binds 127.0.0.1 only). So
 * kube-proxy is told to leave this one Service alone (a proxy name that is
 * not its own), and the pods' firewall leads its address to 127.0.0.1
 * (podFirewallScript). The API server keeps the Service's labels; it
 * resets only its ports and type. Returns its address and port.
 */
async function leadKubernetesService(kc: KubeConfig): Promise<{ ip: string; port: number }> {
  const core = kc.makeApiClient(CoreV1Api);
  const body = { metadata: { labels: { [SERVICE_PROXY_NAME]: 'cdl-real-node-firewall' } } };
  const service = await core.patchNamespacedService(
    { name: 'kubernetes', namespace: 'default', body },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const ip = service.spec?.clusterIP;
  const port = service.spec?.ports?.find((p) => p.name === 'https')?.port ?? service.spec?.ports?.[0]?.port;
  if (!ip || !port) throw new ClusterError('the Service default/kubernetes has no address', 'Run `npm run cluster -- reset`.');
  return { ip, port };
}

/** The cluster's Service address ranges, as the API server allocates them (kube-router must not filter them). */
async function serviceRanges(kc: KubeConfig): Promise<string> {
  const cidr = await kc.makeApiClient(NetworkingV1Api).readServiceCIDR({ name: 'kubernetes' });
  const ranges = cidr.spec?.cidrs?.filter((c) => c.includes('.')) ?? [];
  if (ranges.length === 0) throw new ClusterError('the API server names no IPv4 Service range', 'Run `npm run cluster -- reset`.');
  return ranges.join(',');
}

/**
 * Lets iptables see traffic between two pods of the bridge (br_netfilter),
 * without which no NetworkPolicy could drop it. The value before is kept
 * with the other kernel settings and put back by `down`.
 */
async function bridgedTrafficThroughIptables(): Promise<void> {
  const file = '/proc/sys/net/bridge/bridge-nf-call-iptables';
  if (!existsSync(file)) await run('modprobe', ['br_netfilter'], { timeoutMs: 10_000 }).catch(() => undefined);
  const done = await writeFile(file, '1').then(
    () => true,
    () => false,
  );
  if (!done) {
    throw new ClusterError(
      'this kernel does not pass bridged traffic through iptables (no br_netfilter), so NetworkPolicy could not be enforced between pods',
      'Load the br_netfilter module (modprobe br_netfilter), or start with --no-real-node.',
    );
  }
}

/** What CoreDNS's pod says of itself: its phase and conditions, and the end of its log. */
async function corednsState(kc: KubeConfig, layout: NodeLayout): Promise<string> {
  const pod = await kc
    .makeApiClient(CoreV1Api)
    .readNamespacedPod({ name: `coredns-${REAL_NODE_NAME}`, namespace: CLUSTER_DNS.namespace })
    .catch(() => undefined);
  const state = pod
    ? `CoreDNS's pod is ${pod.status?.phase ?? 'without a phase'} (${(pod.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(', ')})`
    : "CoreDNS's pod is not in the API";
  const folders = await readdir(layout.kubelet.podLogs).catch(() => [] as string[]);
  const folder = folders.find((name) => name.startsWith(`${CLUSTER_DNS.namespace}_coredns-`));
  const logs = folder ? join(layout.kubelet.podLogs, folder, 'coredns') : undefined;
  const last = logs ? (await readdir(logs).catch(() => [] as string[])).sort().at(-1) : undefined;
  const text = logs && last ? tail(await readFile(join(logs, last), 'utf8').catch(() => ''), 8) : '';
  return text ? `${state}; its log ends:\n${text}` : `${state}; it has logged nothing.`;
}

/** CoreDNS's pod's address, as its kubelet reports it. */
async function corednsAddress(kc: KubeConfig): Promise<string | undefined> {
  const pod = await kc
    .makeApiClient(CoreV1Api)
    .readNamespacedPod({ name: `coredns-${REAL_NODE_NAME}`, namespace: CLUSTER_DNS.namespace })
    .catch(() => undefined);
  return pod?.status?.podIP;
}

/** Sends `signal` to a process, if it is still there. */
function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/** Whether CoreDNS answers for the cluster's names at `address`. */
async function dnsAnswers(address: string): Promise<boolean> {
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([address]);
  const found = await resolver.resolve4(`kubernetes.default.svc.${CLUSTER_DOMAIN}`).catch(() => []);
  return found.length > 0;
}

/**
 * Starts the real node, from whatever an earlier run left (everything of
 * it is cleaned up first), and waits until it is Ready. Throws a
 * ClusterError with the reason when it cannot.
 */
/** Puts image archives into a containerd's image store, where the kubelet finds them. */
async function importInto(socket: string, images: readonly LocalImage[]): Promise<void> {
  for (const image of images) {
    const imported = await run(
      'ctr',
      ['--address', socket, '-n', CRI_NAMESPACE, 'images', 'import', '--snapshotter', 'overlayfs', image.archive],
      {
        timeoutMs: 120_000,
      },
    );
    if (imported.code !== 0) {
      throw new ClusterError(`containerd could not import ${image.ref}: ${tail(imported.stderr, 5)}`, `Look at ${image.archive}.`);
    }
  }
}

/**
 * Imports images a real node does not take at its start (the shell pods'),
 * building them first where the cache lacks them; the node must be running.
 * Importing an image the node has already is quick and changes nothing.
 */
export async function importImages(place: RealNodePlace, only: readonly ImageSourceId[], log: Log): Promise<LocalImage[]> {
  const images = await ensureImages({ log, env: place.env, only });
  await importInto(nodeLayout(place.stateDir).containerd.socket, images);
  return images;
}

export async function startRealNode(place: RealNodePlace, log: Log): Promise<void> {
  const started = Date.now();
  const reason = cannotRunRealNode(place);
  if (reason) throw new ClusterError(`The real node cannot run: ${reason}.`, 'Start with --no-real-node (or CDL_REAL_NODE=off).');
  ensurePrograms(NODE_PROGRAMS, log);
  const binaries = await ensureNodeBinaries({ log, env: place.env });
  const images = await ensureImages({ log, env: place.env, only: NODE_IMAGE_SOURCES });
  const layout = nodeLayout(place.stateDir);
  const names = hostNames(place.clusterName);
  await cleanUpRealNode(place, () => {});

  log(`Starting the real node ${REAL_NODE_NAME} (containerd, kubelet, kube-proxy, kube-router, and CoreDNS in a pod)…`);
  for (const folder of [layout.pki, layout.containerd.root, layout.containerd.state, layout.cni.confDir, layout.cni.dataDir]) {
    await mkdir(folder, { recursive: true });
  }
  for (const file of [layout.kubeProxy.config, layout.coredns.corefile, layout.kubeRouter.kubeconfig]) {
    await mkdir(dirname(file), { recursive: true });
  }
  for (const folder of [layout.kubelet.root, layout.kubelet.podLogs, layout.kubelet.manifests]) await mkdir(folder, { recursive: true });
  const settings = await chooseSettings(place, layout);
  const address = nodeIp(settings.subnet);
  await saveTunables(join(layout.dir, 'kernel-settings.json'));
  await bridgedTrafficThroughIptables();
  await createCgroupRoot(names.cgroupRoot);
  await createBridge(names.bridge, `${address}/${settings.subnet.split('/')[1]}`);
  const server = apiServer(place);
  const apiServerPort = Number(new URL(server).port);
  const admin = loadKubeConfig(place.kubeconfig);
  const apiService = await leadKubernetesService(admin);
  await addPodFirewall({ network: names.network, bridge: names.bridge, nodeIp: address, apiServerPort, apiService });

  const ca = { cert: join(place.clusterDir, 'pki', 'ca.crt'), key: join(place.clusterDir, 'pki', 'ca.key') };
  const client = ['keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth'];
  const nodeCert = await issue(layout.pki, ca, 'kubelet-client', `/O=system:nodes/CN=system:node:${REAL_NODE_NAME}`, client);
  const serving = await issue(layout.pki, ca, 'kubelet-serving', `/O=system:nodes/CN=system:node:${REAL_NODE_NAME}`, [
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=IP:${address},DNS:${REAL_NODE_NAME}`,
  ]);
  const proxyCert = await issue(layout.pki, ca, 'kube-proxy', '/CN=system:kube-proxy', client);
  // CoreDNS's pod mounts its folder: its certificate, key and the CA go there, and nothing else.
  const dnsCert = await issue(layout.coredns.dir, ca, 'coredns', `/CN=${NODE_ADD_ON_USERS.coredns.user}`, client);
  await copyFile(ca.cert, join(layout.coredns.dir, 'ca.crt'));
  const routerCert = await issue(layout.pki, ca, 'kube-router', `/CN=${NODE_ADD_ON_USERS['kube-router'].user}`, client);
  const clusterDns = await applyAddOnObjects(admin);
  const ranges = await serviceRanges(admin);

  await writeFile(layout.containerd.config, containerdConfig(layout));
  await writeFile(join(layout.cni.confDir, '10-cdl.conflist'), cniConflist(place.clusterName, layout, settings.subnet));
  const kubeletInput = {
    clusterName: place.clusterName,
    layout,
    settings,
    clientCaFile: ca.cert,
    tlsCertFile: serving.cert,
    tlsPrivateKeyFile: serving.key,
    clusterDns,
  };
  await writeFile(layout.kubelet.config, kubeletConfig(kubeletInput));
  const kubelet = { server, caFile: ca.cert, certFile: nodeCert.cert, keyFile: nodeCert.key, user: `system:node:${REAL_NODE_NAME}` };
  await writeFile(layout.kubelet.kubeconfig, clientKubeconfig(kubelet));
  const proxy = { server, caFile: ca.cert, certFile: proxyCert.cert, keyFile: proxyCert.key, user: 'system:kube-proxy' };
  await writeFile(layout.kubeProxy.kubeconfig, clientKubeconfig(proxy));
  await writeFile(layout.kubeProxy.config, kubeProxyConfig(layout, settings));
  const routerUser = NODE_ADD_ON_USERS['kube-router'].user;
  const routerKubeconfig = { server, caFile: ca.cert, certFile: routerCert.cert, keyFile: routerCert.key, user: routerUser };
  await writeFile(layout.kubeRouter.kubeconfig, clientKubeconfig(routerKubeconfig));
  const inPod = (file: string) => `${COREDNS_MOUNT}/${basename(file)}`;
  const dnsKubeconfig = {
    // From its pod, the API server is at the node's address (podFirewallScript leads it to 127.0.0.1).
    server: `https://${address}:${apiServerPort}`,
    tlsServerName: 'kubernetes',
    caFile: `${COREDNS_MOUNT}/ca.crt`,
    certFile: inPod(dnsCert.cert),
    keyFile: inPod(dnsCert.key),
    user: NODE_ADD_ON_USERS.coredns.user,
  };
  await writeFile(layout.coredns.kubeconfig, clientKubeconfig(dnsKubeconfig));
  await writeFile(layout.coredns.corefile, corefile());
  await writeFile(join(layout.kubelet.manifests, 'coredns.json'), corednsPod(layout));

  const containerd = which('containerd') ?? 'containerd';
  const containerdPid = await spawnComponent(place, 'containerd', containerd, ['--config', layout.containerd.config]);
  const ctr = (args: string[]) => run('ctr', ['--address', layout.containerd.socket, '-n', CRI_NAMESPACE, ...args], { timeoutMs: 60_000 });
  await waitWhileAlive(place, 'containerd', containerdPid, 'containerd to answer', async () => (await ctr(['version'])).code === 0, 30_000);
  await importInto(layout.containerd.socket, images);

  // The Node object may still say Ready from a kubelet killed moments ago (cleanUpRealNode stopped it before
  // containerd started): only a heartbeat of the new one counts. Heartbeats are kept to the second.
  const since = Date.now() - 1000;
  const kubeletPid = await spawnComponent(place, 'kubelet', binaries.kubelet, [
    `--config=${layout.kubelet.config}`,
    `--kubeconfig=${layout.kubelet.kubeconfig}`,
    `--root-dir=${layout.kubelet.root}`,
    `--hostname-override=${REAL_NODE_NAME}`,
    `--node-ip=${address}`,
    `--node-labels=${REAL_NODE_LABEL.key}=${REAL_NODE_LABEL.value}`,
  ]);
  const proxyPid = await spawnComponent(place, 'kube-proxy', binaries.kubeProxy, [`--config=${layout.kubeProxy.config}`]);

  const api = admin.makeApiClient(CoreV1Api);
  const ready = async () => {
    const node = await api.readNode({ name: REAL_NODE_NAME });
    const condition = node.status?.conditions?.find((c) => c.type === 'Ready');
    const beat = condition?.lastHeartbeatTime ? new Date(condition.lastHeartbeatTime).getTime() : 0;
    return nodeReady(node) && beat >= since;
  };
  await waitWhileAlive(place, 'kubelet', kubeletPid, `the node ${REAL_NODE_NAME} to be Ready`, ready, 120_000);
  if (!processAlive(proxyPid)) {
    throw new ClusterError(`kube-proxy exited:\n${await logTail(place, 'kube-proxy')}`, `Look at ${join(place.clusterDir, 'logs')}.`);
  }
  // The kubelet runs CoreDNS's static pod as soon as it is up: first CoreDNS itself, at its pod's address.
  const corednsAnswers = async () => {
    const ip = await corednsAddress(admin);
    return ip !== undefined && (await dnsAnswers(ip));
  };
  const failed = async (error: unknown) => {
    // The kubelet's log says little about a pod: CoreDNS's own and its pod's state say why.
    throw new ClusterError(
      `${error instanceof Error ? error.message : String(error)}\n${await corednsState(admin, layout)}`,
      "Look at the cluster's logs/ folder.",
    );
  };
  await waitWhileAlive(place, 'kubelet', kubeletPid, "CoreDNS to answer for the cluster's names", corednsAnswers, 90_000).catch(failed);
  // Then through its Service (kube-proxy's rules), as pods ask it. Should kube-proxy not lead there in
  // time while CoreDNS answers, it is started once more: a fresh start writes every rule again at once
  // (a failed sync would wait 30 s to try again).
  const service = () => dnsAnswers(clusterDns);
  let proxyNow = proxyPid;
  try {
    await waitWhileAlive(place, 'kube-proxy', proxyNow, 'the cluster DNS Service to lead to CoreDNS', service, 30_000);
  } catch (error) {
    if (!(await corednsAnswers())) await failed(error);
    log(
      `kube-proxy did not lead the cluster DNS Service (${clusterDns}) to CoreDNS within 30 s; starting it again.\n${await logTail(place, 'kube-proxy')}`,
    );
    signalProcess(proxyNow, 'SIGKILL');
    proxyNow = await spawnComponent(place, 'kube-proxy', binaries.kubeProxy, [`--config=${layout.kubeProxy.config}`]);
    await waitWhileAlive(place, 'kube-proxy', proxyNow, 'the cluster DNS Service to lead to CoreDNS', service, 60_000).catch(
      async (again: unknown) => {
        throw new ClusterError(
          `${again instanceof Error ? again.message : String(again)} (CoreDNS answers at its own address)\n${await logTail(place, 'kube-proxy')}`,
          "Look at the cluster's logs/ folder.",
        );
      },
    );
  }
  // kube-router comes last, once kube-proxy has written its rules: its firewall rewrites the whole
  // filter table from a copy it read, so a chain kube-proxy made in between was lost (kube-proxy's
  // first sync then failed on "Chain 'KUBE-EXTERNAL-SERVICES' does not exist" and waited 30 s).
  // Only its firewall runs: no routing, no Service proxy (kube-proxy's), no health or metrics
  // listener (v2.1's would serve on every interface). It finds its node by NODE_NAME first.
  const routerPid = await spawnComponent(
    place,
    'kube-router',
    binaries.kubeRouter,
    [
      '--run-firewall=true',
      '--run-router=false',
      '--run-service-proxy=false',
      '--run-loadbalancer=false',
      '--enable-cni=false',
      '--enable-ipv4=true',
      '--enable-ipv6=false',
      `--kubeconfig=${layout.kubeRouter.kubeconfig}`,
      `--hostname-override=${REAL_NODE_NAME}`,
      `--service-cluster-ip-range=${ranges}`,
      '--health-port=0',
      '--metrics-port=0',
      '--iptables-sync-period=1m',
    ],
    { NODE_NAME: REAL_NODE_NAME },
  );
  const firewallChain = async () => (await run('iptables', ['-S', 'KUBE-ROUTER-FORWARD'], { timeoutMs: 5000 })).code === 0;
  await waitWhileAlive(place, 'kube-router', routerPid, 'the NetworkPolicy firewall to be in place', firewallChain, 60_000);
  log(`The real node ${REAL_NODE_NAME} is Ready (${address}, pods on ${settings.subnet}) in ${formatDuration(Date.now() - started)}.`);
}
