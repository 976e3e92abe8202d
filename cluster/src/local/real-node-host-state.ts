/**
 * Readers of the host's state, as pure functions of what the system shows
 * (`ip route`, `/proc/self/mountinfo`, `iptables-save`): which subnet the
 * pods can have without shadowing a network the machine reaches, which
 * mounts and iptables rules are the real node's, and what the names of its
 * files outside its folder are. real-node-host.ts reads the system and acts
 * on what these decide; test/unit/real-node-config.test.ts holds them to
 * fixed samples.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

function ipv4ToNumber(address: string): number | undefined {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return (((parts[0] ?? 0) << 24) >>> 0) + ((parts[1] ?? 0) << 16) + ((parts[2] ?? 0) << 8) + (parts[3] ?? 0);
}

/** An IPv4 range as [first, last] address numbers; `default` is everything. */
function range(cidr: string): [number, number] | undefined {
  if (cidr === 'default') return [0, 2 ** 32 - 1];
  const [address = '', prefixText = '32'] = cidr.split('/');
  const start = ipv4ToNumber(address);
  const prefix = Number(prefixText);
  if (start === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const first = start - (start % size);
  return [first, first + size - 1];
}

/** The destinations of `ip -4 route show table all` (first word of each line), the default route left out: it overlaps everything. */
export function routeDestinations(ipRouteOutput: string): string[] {
  return ipRouteOutput
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .map((words) => (['broadcast', 'local', 'unicast', 'multicast'].includes(words[0] ?? '') ? words[1] : words[0]))
    .filter((dest): dest is string => dest !== undefined && dest !== '' && dest !== 'default');
}

/**
 * The first /24 of 10.88.0.0 to 10.88.255.0, then of 10.89.x, that overlaps
 * none of the host's routes: a pod's address must never shadow a network
 * the machine reaches (a café's 10.x LAN, a VPN's routes). `preferred` (the
 * one chosen before) wins while it is still free.
 */
export function chooseSubnet(routes: readonly string[], preferred?: string): string | undefined {
  const taken = routes.map(range).filter((r): r is [number, number] => r !== undefined);
  const free = (cidr: string) => {
    const r = range(cidr);
    return r !== undefined && taken.every(([a, b]) => b < r[0] || a > r[1]);
  };
  if (preferred && free(preferred)) return preferred;
  for (const second of [88, 89]) {
    for (let third = 0; third < 256; third++) {
      const cidr = `10.${second}.${third}.0/24`;
      if (free(cidr)) return cidr;
    }
  }
  return undefined;
}

/**
 * The socket containerd 1.6's shim for a container listens on: named after a
 * hash of containerd's address, the namespace and the id, in the fixed
 * `/run/containerd/s/` (not in containerd's state folder). A shim killed
 * with -9 leaves it behind; knowing its name lets `down` remove only ours.
 */
export function shimSocketPath(containerdAddress: string, namespace: string, id: string): string {
  const digest = createHash('sha256')
    .update(join(containerdAddress, namespace, id))
    .digest('hex');
  return join('/run/containerd/s', digest);
}

/**
 * The mount points in `/proc/self/mountinfo` at or under any of `roots`,
 * deepest first (the order to unmount them in). Paths in mountinfo escape
 * space, tab, newline and backslash as octal.
 */
export function mountsUnder(mountinfo: string, roots: readonly string[]): string[] {
  const unescapePath = (path: string) =>
    path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && p !== '')
    .map(unescapePath)
    .filter((p) => roots.some((root) => p === root || p.startsWith(`${root}/`)));
  return [...new Set(points)].sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
}

/** One table of an `iptables-save` dump: its chains and its rules (each `-A CHAIN …` line). */
interface SavedTable {
  name: string;
  chains: string[];
  rules: Array<{ chain: string; spec: string; target?: string }>;
}

export function parseIptablesSave(text: string): SavedTable[] {
  const tables: SavedTable[] = [];
  let table: SavedTable | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      table = { name: line.slice(1).trim(), chains: [], rules: [] };
      tables.push(table);
    } else if (line.startsWith(':') && table) {
      table.chains.push(line.slice(1).split(' ')[0] ?? '');
    } else if (line.startsWith('-A ') && table) {
      const rest = line.slice(3);
      const chain = rest.split(' ')[0] ?? '';
      const spec = rest.slice(chain.length + 1);
      const target = / -[jg] (\S+)/.exec(` ${spec}`)?.[1];
      table.rules.push({ chain, spec, ...(target ? { target } : {}) });
    }
  }
  return tables;
}

export interface IptablesCleanupOptions {
  /** The CNI network's name: the bridge plugin marks its rules with it. */
  network: string;
  /**
   * Whether the KUBE-* chains go too. They are named the same by every
   * kubelet and kube-proxy on a machine, so they are removed only when no
   * other one runs.
   */
  kubeChains: boolean;
}

/**
 * The `iptables-restore --noflush` input that removes what the node put in
 * one family's tables: the rules the bridge plugin marked with the network's
 * name and the chains they jump to, and (when `kubeChains`) every KUBE-*
 * chain with the rules that jump to it. Returns one script per table that
 * has something to remove; none when the tables are clean.
 */
export function iptablesCleanup(save: string, options: IptablesCleanupOptions): Array<{ table: string; script: string }> {
  const marker = `name: \\"${options.network}\\"`;
  const scripts: Array<{ table: string; script: string }> = [];
  for (const table of parseIptablesSave(save)) {
    const ownRules = table.rules.filter((r) => r.spec.includes(marker));
    const ours = new Set<string>();
    for (const rule of ownRules) if (rule.target?.startsWith('CNI-') || rule.target?.startsWith('CDL-')) ours.add(rule.target);
    if (options.kubeChains) for (const chain of table.chains) if (chain.startsWith('KUBE-')) ours.add(chain);
    const existing = new Set(table.chains);
    const chains = [...ours].filter((c) => existing.has(c)).sort();
    // Rules in chains that stay: the marked ones, and jumps into a chain that goes.
    const deletions = table.rules.filter(
      (r) => !chains.includes(r.chain) && (r.spec.includes(marker) || (r.target !== undefined && chains.includes(r.target))),
    );
    if (chains.length === 0 && deletions.length === 0) continue;
    const lines = [
      `*${table.name}`,
      ...deletions.map((r) => `-D ${r.chain} ${r.spec}`),
      ...chains.map((c) => `-F ${c}`),
      ...chains.map((c) => `-X ${c}`),
      'COMMIT',
    ];
    scripts.push({ table: table.name, script: `${lines.join('\n')}\n` });
  }
  return scripts;
}

export interface PodFirewallInput {
  /** The CNI network's name: the rules that lead to the chains are marked with it, as the bridge plugin marks its own. */
  network: string;
  /** The pods' bridge (at most 15 characters). */
  bridge: string;
  nodeIp: string;
  /** The API server's port on 127.0.0.1, which pods reach at the node's address on the same port. */
  apiServerPort: number;
  /** The `kubernetes` Service's address and port, which pods' in-cluster clients use: led to the same place. */
  apiService: { ip: string; port: number };
}

/**
 * The `iptables-restore --noflush` input that keeps the real node's pods
 * inside the cluster. What a pod sends to the machine itself (the bridge
 * address, or any of the host's) may only be a request to the API server
 * (at the node's address and the API server's port, or at the `kubernetes`
 * Service's address, both led to 127.0.0.1 where it listens, as kube-proxy
 * does for NodePorts on localhost: CoreDNS's pod reads the cluster's names
 * there, and a pod's in-cluster client uses the API as in any cluster) or the answer on a connection the node opened (the kubelet's probes, `exec`);
 * what the machine forwards for a pod may only go to another pod of the
 * bridge (a Service's address is rewritten to a pod's before this) or answer
 * a connection opened from there. So neither the host's own services nor
 * the machine's network and beyond are reachable from a pod, whatever a
 * Service or EndpointSlice points at. In the mangle table, which comes
 * before the filter table's chains where the NetworkPolicy firewall
 * (kube-router) accepts what the policies allow. Marked like the bridge
 * plugin's rules, so `down` finds them.
 */
export function podFirewallScript(input: PodFirewallInput): string {
  const { bridge, nodeIp } = input;
  const mark = (what: string) => `-m comment --comment "name: \\"${input.network}\\" ${what}"`;
  const toHost = `CDL-IN-${bridge}`;
  const through = `CDL-FWD-${bridge}`;
  const answers = '-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN';
  const api = `-p tcp -m tcp --dport ${input.apiServerPort}`;
  return `${[
    '*mangle',
    `:${toHost} - [0:0]`,
    `:${through} - [0:0]`,
    `-A INPUT -i ${bridge} ${mark('pods reach the node for the API server only')} -j ${toHost}`,
    `-A FORWARD -i ${bridge} ${mark('pods reach pods only')} -j ${through}`,
    `-A ${toHost} ${answers}`,
    `-A ${toHost} -d 127.0.0.1/32 ${api} -j RETURN`,
    `-A ${toHost} -j DROP`,
    `-A ${through} -o ${bridge} -j RETURN`,
    `-A ${through} ${answers}`,
    `-A ${through} -j DROP`,
    'COMMIT',
    '*nat',
    `-A PREROUTING -i ${bridge} -d ${nodeIp}/32 ${api} ${mark('pods reach the API server')} -j DNAT --to-destination 127.0.0.1:${input.apiServerPort}`,
    `-A PREROUTING -i ${bridge} -d ${input.apiService.ip}/32 -p tcp -m tcp --dport ${input.apiService.port} ${mark('pods reach the API server by its Service')} -j DNAT --to-destination 127.0.0.1:${input.apiServerPort}`,
    'COMMIT',
  ].join('\n')}\n`;
}

/**
 * The `ip6tables-restore --noflush` input that carries no IPv6 between the
 * real node's pods: each pod has a link-local address on the bridge, and the
 * NetworkPolicy firewall filters IPv4 only, so `http://[fe80::…%eth0]`
 * would walk around every policy. Pods get no IPv6 address of the cluster's
 * (the CNI network is IPv4), so nothing they need is lost.
 */
export function podFirewallScript6(input: Pick<PodFirewallInput, 'network' | 'bridge'>): string {
  const mark = `-m comment --comment "name: \\"${input.network}\\" no IPv6 between pods"`;
  return `${['*mangle', `-A FORWARD -i ${input.bridge} ${mark} -j DROP`, `-A INPUT -i ${input.bridge} ${mark} -j DROP`, 'COMMIT'].join('\n')}\n`;
}

/**
 * The ipsets of the NetworkPolicy firewall (kube-router), from `ipset list
 * -n`: the sets of pods and addresses its rules match (`KUBE-SRC-…`,
 * `KUBE-DST-…`; IPv6 ones prefixed `inet6:`). kube-router has no working
 * cleanup of its own for them, so `down` destroys these, after the rules
 * that use them are gone.
 */
export function firewallSets(ipsetNames: string): string[] {
  return ipsetNames
    .split('\n')
    .map((line) => line.trim())
    .filter((name) => /^(inet6:)?KUBE-(SRC|DST)-[A-Z0-9]+$/.test(name));
}

/**
 * Kernel settings the kubelet sets at start when they differ
 * (`protectKernelDefaults: false`, the only way it starts on a machine that
 * has others), the bridge plugin's IP forwarding, and bridged traffic
 * through iptables (the NetworkPolicy firewall sees pod-to-pod packets on
 * the bridge only so). Their values before the first start are kept and put
 * back by `down`.
 */
export const KERNEL_TUNABLES = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/ipv4/ip_forward',
  'net/bridge/bridge-nf-call-iptables',
] as const;

/**
 * Whether every cgroup hierarchy in `/proc/self/mountinfo` is mounted
 * read-only, as in an unprivileged container: the kubelet could make no
 * cgroup for a pod there. False where none is mounted (the caller says so).
 */
export function cgroupsReadOnly(mountinfo: string): boolean {
  const options = mountinfo
    .split('\n')
    .filter((line) => / - cgroup2? /.test(line))
    .map((line) => (line.split(' ')[5] ?? '').split(','));
  return options.length > 0 && options.every((o) => o.includes('ro'));
}
