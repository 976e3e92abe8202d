/**
 * What the real node changes on the host, and how each change is undone:
 * processes (found by their command line and their cgroup, so that a
 * container whose shim was killed with -9 is found too), mounts under the
 * node's folder, the pods' bridge and the veths on it, iptables rules and
 * chains, cgroup folders, the CNI plugins' cache files and the kubelet's
 * log links, and kernel settings the kubelet changes.
 *
 * Every undo works from names and places derived from the cluster's name
 * and folder, not from a record of what was made: after a crash (or kill -9
 * of everything) a record may be half written, or gone with the folder. The
 * one exception is the kernel settings' earlier values, which nothing else
 * could tell.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive, run, tail } from '../exec.ts';
import { parsePid, pidFile } from './control-plane.ts';
import {
  CRI_NAMESPACE,
  hostNames,
  nodeLayout,
  REAL_NODE_COMPONENTS,
  REAL_NODE_NAME,
  type RealNodeComponent,
  type RealNodePlace,
} from './real-node-config.ts';
import {
  firewallSets,
  iptablesCleanup,
  KERNEL_TUNABLES,
  mountsUnder,
  type PodFirewallInput,
  podFirewallScript,
  podFirewallScript6,
  routeDestinations,
  shimSocketPath,
} from './real-node-host-state.ts';

/** A process on the machine: its id, its arguments and its cgroup paths. */
export interface HostProcess {
  pid: number;
  argv: string[];
  cgroups: string[];
}

/** Every process the machine shows in /proc (the calling one left out). */
export function hostProcesses(): HostProcess[] {
  const list: HostProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const cgroups = readFileSync(`/proc/${entry}/cgroup`, 'utf8')
        .split('\n')
        .map((line) => line.split(':').slice(2).join(':'))
        .filter(Boolean);
      list.push({ pid: Number(entry), argv, cgroups });
    } catch {
      // it ended while we looked
    }
  }
  return list;
}

/**
 * The node's processes: whatever names its folder or containerd's socket on
 * its command line (containerd, the kubelet, kube-proxy, every shim), and
 * whatever runs in its cgroups (the containers).
 */
export function nodeProcesses(nodeDir: string, cgroupRoot: string): HostProcess[] {
  // A zombie is gone in all but name, waiting for a parent (often init) to reap it.
  return hostProcesses().filter(
    (p) =>
      (p.argv.some((arg) => arg.includes(`${nodeDir}/`)) || p.cgroups.some((c) => c === cgroupRoot || c.startsWith(`${cgroupRoot}/`))) &&
      processAlive(p.pid),
  );
}

/** A kubelet or kube-proxy on this machine that is not this node's: they would fight over the KUBE-* iptables chains. */
export function foreignNodeAgents(nodeDir: string): HostProcess[] {
  return hostProcesses().filter(
    (p) => ['kubelet', 'kube-proxy'].includes(basename(p.argv[0] ?? '')) && !p.argv.some((arg) => arg.includes(`${nodeDir}/`)),
  );
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // it has exited already
  }
}

/** SIGTERM, up to `graceMs` to exit, then SIGKILL; resolves once every one is gone (or 5 s later). */
export async function stopProcesses(pids: readonly number[], graceMs: number): Promise<void> {
  if (graceMs > 0) for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(processAlive)) await sleep(100);
  for (const pid of pids.filter(processAlive)) signal(pid, 'SIGKILL');
  const hard = Date.now() + 5000;
  while (Date.now() < hard && pids.some(processAlive)) await sleep(50);
}

/** Runs `ip`; a machine without it answers like a failed command, since there is then nothing of ours to find. */
async function ip(args: string[]) {
  return run('ip', args, { timeoutMs: 10_000 }).catch((error: unknown) => ({ code: 127, stdout: '', stderr: String(error) }));
}

/** The host's IPv4 routes' destinations, those through `ownBridge` left out (they are this node's own). */
export async function hostRouteDestinations(ownBridge: string): Promise<string[]> {
  const result = await ip(['-4', 'route', 'show', 'table', 'all']);
  const lines = result.stdout.split('\n').filter((line) => !line.includes(` dev ${ownBridge} `) && !line.endsWith(` dev ${ownBridge}`));
  return routeDestinations(lines.join('\n'));
}

export async function linkExists(name: string): Promise<boolean> {
  return (await ip(['link', 'show', 'dev', name])).code === 0;
}

/** Makes the pods' bridge with the node's address on it (the kubelet's node IP must exist before it starts). */
export async function createBridge(name: string, address: string): Promise<void> {
  if (!(await linkExists(name))) {
    const added = await ip(['link', 'add', 'name', name, 'type', 'bridge']);
    if (added.code !== 0) throw new Error(`ip link add ${name}: ${tail(added.stderr, 3)}`);
  }
  const addresses = await ip(['-4', '-o', 'addr', 'show', 'dev', name]);
  if (!addresses.stdout.includes(` ${address} `)) {
    const set = await ip(['addr', 'add', address, 'dev', name]);
    if (set.code !== 0) throw new Error(`ip addr add ${address} dev ${name}: ${tail(set.stderr, 3)}`);
  }
  // No IPv6 on the bridge: a pod could otherwise reach the host's services by its link-local address.
  await writeFile(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1').catch(() => undefined);
  const up = await ip(['link', 'set', 'dev', name, 'up']);
  if (up.code !== 0) throw new Error(`ip link set ${name} up: ${tail(up.stderr, 3)}`);
}

/** Puts the pods' firewall in place (podFirewallScript); the node's cleanup removes it with the bridge plugin's rules. */
export async function addPodFirewall(input: PodFirewallInput): Promise<void> {
  // Lets the API server's rule lead pods' requests to 127.0.0.1 (a setting of the bridge alone, gone with it).
  await writeFile(`/proc/sys/net/ipv4/conf/${input.bridge}/route_localnet`, '1');
  const failed = await restore('iptables-restore', podFirewallScript(input));
  if (failed !== undefined) throw new Error(`could not put the pods' firewall in place: ${failed}`);
  // A machine without IPv6 has none to keep off.
  if (!existsSync('/proc/net/if_inet6')) return;
  const failed6 = await restore('ip6tables-restore', podFirewallScript6(input));
  if (failed6 !== undefined) throw new Error(`could not keep IPv6 off the pods' bridge: ${failed6}`);
}

/** Removes the veths left on the bridge (their pods' namespaces may be gone already), then the bridge. */
export async function deleteBridge(name: string): Promise<void> {
  if (!(await linkExists(name))) return;
  const ports = await ip(['-o', 'link', 'show', 'master', name]);
  for (const line of ports.stdout.split('\n')) {
    const port = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (port) await ip(['link', 'del', 'dev', port]);
  }
  await ip(['link', 'del', 'dev', name]);
}

/** Unmounts everything mounted at or under `roots`, deepest first; returns what is still mounted. */
export async function unmountUnder(roots: readonly string[]): Promise<string[]> {
  const mounted = async () => mountsUnder(await readFile('/proc/self/mountinfo', 'utf8'), roots);
  for (let round = 0; round < 3; round++) {
    const points = await mounted();
    if (points.length === 0) return [];
    // Lazily on the last round: a mount held by a dying process still leaves the tree.
    for (const point of points) {
      await run('umount', round < 2 ? [point] : ['-l', point], { timeoutMs: 10_000 }).catch(() => undefined);
    }
  }
  return mounted();
}

/** Runs `iptables-restore --noflush` (or ip6tables') on the cleanup script of each table that needs one. */
export async function cleanIptables(network: string, kubeChains: boolean): Promise<string[]> {
  const problems: string[] = [];
  for (const family of ['iptables', 'ip6tables'] as const) {
    // A family the machine lacks (no ip6tables) has nothing of ours in it.
    const save = await run(`${family}-save`, [], { timeoutMs: 20_000 }).catch(() => ({ code: 1, stdout: '' }));
    if (save.code !== 0) continue;
    for (const { table, script } of iptablesCleanup(save.stdout, { network, kubeChains })) {
      const restored = await restore(`${family}-restore`, script);
      if (restored !== undefined) problems.push(`${family} ${table}: ${restored}`);
    }
  }
  return problems;
}

/** Destroys the NetworkPolicy firewall's ipsets (after its rules are gone); returns those that stay. */
export async function destroyFirewallSets(): Promise<string[]> {
  const listed = await run('ipset', ['list', '-n'], { timeoutMs: 10_000 }).catch(() => ({ code: 1, stdout: '' }));
  // No ipset program (or no permission): there are no sets of ours either.
  if (listed.code !== 0) return [];
  const left: string[] = [];
  for (const name of firewallSets(listed.stdout)) {
    const destroyed = await run('ipset', ['destroy', name], { timeoutMs: 10_000 }).catch(() => ({ code: 1 }));
    if (destroyed.code !== 0) left.push(name);
  }
  return left;
}

/** Feeds a script to an `*-restore --noflush`; resolves to why it failed, or undefined. */
function restore(command: string, script: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(command, ['--noflush'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (error) => resolve(error.message));
    child.on('close', (code) => resolve(code === 0 ? undefined : tail(stderr, 3) || `exit code ${code}`));
    child.stdin.end(script);
  });
}

/** The folders where cgroup hierarchies are mounted (one per controller on cgroup v1, one on v2). */
export async function cgroupMounts(): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo
    .split('\n')
    .filter((line) => / - cgroup2? /.test(line))
    .map((line) => line.split(' ')[4] ?? '')
    .filter(Boolean);
}

/**
 * Makes the kubelet's cgroup root in every hierarchy (it refuses to start
 * when one lacks it). A new cpuset cgroup on v1 has no CPUs or memory nodes
 * until given its parent's.
 */
export async function createCgroupRoot(cgroupRoot: string): Promise<void> {
  for (const mount of await cgroupMounts()) {
    const dir = join(mount, cgroupRoot);
    await mkdir(dir, { recursive: true });
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const own = await readFile(join(dir, file), 'utf8').catch(() => undefined);
      if (own !== undefined && own.trim() === '') await copyFile(join(mount, file), join(dir, file)).catch(() => undefined);
    }
  }
}

/** Removes the cgroup root's folders in every hierarchy, deepest first; a cgroup with a live process in it stays. */
export async function removeCgroupRoot(cgroupRoot: string): Promise<string[]> {
  const left: string[] = [];
  for (const mount of await cgroupMounts()) {
    const dir = join(mount, cgroupRoot);
    if (!existsSync(dir)) continue;
    const folders: string[] = [];
    const walk = async (folder: string) => {
      folders.push(folder);
      for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
        if (entry.isDirectory()) await walk(join(folder, entry.name));
      }
    };
    await walk(dir);
    for (const folder of folders.reverse()) {
      await rmdir(folder).catch(() => left.push(folder));
    }
  }
  return left;
}

/**
 * Folders the node's programs make outside its folder, where they have no
 * setting for the place: the CNI cache, containerd's shim sockets, the
 * kubelet's container log links and its device plugin socket. Each goes
 * when it is empty (deepest first), so a folder someone else uses stays.
 */
export const STRAY_FOLDERS = [
  '/var/lib/cni/results',
  '/var/lib/cni',
  '/run/containerd/s',
  '/run/containerd',
  '/var/log/containers',
  '/var/lib/kubelet/device-plugins',
  '/var/lib/kubelet',
] as const;

/**
 * Files the CNI library and the kubelet write outside the node's folder:
 * removes this node's. The CNI cache names each result after the network
 * and the pod sandbox's id (`containerIds`); containerd's loopback network
 * has one name on every machine, so only the ids tell ours. With no other
 * kubelet on the machine (`alone`), the kubelet's device plugin socket goes
 * too, and then every STRAY_FOLDERS folder left empty.
 */
export async function removeStrayFiles(
  network: string,
  containerIds: readonly string[],
  podLogsDir: string,
  alone: boolean,
): Promise<void> {
  const results = '/var/lib/cni/results';
  for (const name of await readdir(results).catch(() => [])) {
    if (name.startsWith(`${network}-`) || containerIds.some((id) => name.includes(`-${id}-`)))
      await rm(join(results, name), { force: true });
  }
  // The kubelet links each container's log into /var/log/containers, a folder it has no setting for.
  const links = '/var/log/containers';
  for (const name of await readdir(links).catch(() => [])) {
    const target = await readlink(join(links, name)).catch(() => '');
    if (target.startsWith(`${podLogsDir}/`)) await rm(join(links, name), { force: true });
  }
  if (!alone) return;
  await rm('/var/lib/kubelet/device-plugins/kubelet.sock', { force: true });
  for (const folder of STRAY_FOLDERS) {
    // Not empty (someone else's files): it stays, as it should.
    await rmdir(folder).catch(() => undefined);
  }
}

/** Keeps the kernel settings the kubelet may change, once: a restart must not record the kubelet's own values. */
export async function saveTunables(file: string): Promise<void> {
  if (existsSync(file)) return;
  const values: Record<string, string> = {};
  for (const key of KERNEL_TUNABLES) {
    const value = await readFile(join('/proc/sys', key), 'utf8').catch(() => undefined);
    if (value !== undefined) values[key] = value.trim();
  }
  await writeFile(file, `${JSON.stringify(values, null, 2)}\n`);
}

/** Puts back the kernel settings kept by `saveTunables`; returns the ones that could not be. */
export async function restoreTunables(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return [];
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch {
    return ['all (their earlier values were not kept whole)'];
  }
  const failed: string[] = [];
  for (const [key, value] of Object.entries(values ?? {})) {
    if (!(KERNEL_TUNABLES as readonly string[]).includes(key) || typeof value !== 'string' || !/^\d+$/.test(value)) continue;
    const now = (await readFile(join('/proc/sys', key), 'utf8').catch(() => '')).trim();
    if (now === value) continue;
    await writeFile(join('/proc/sys', key), value).catch(() => failed.push(key));
  }
  return failed;
}

/** The pids in the node's pid files whose processes still run. */
async function pidsOfComponents(place: RealNodePlace): Promise<Array<{ name: RealNodeComponent; pid: number }>> {
  const list: Array<{ name: RealNodeComponent; pid: number }> = [];
  for (const name of REAL_NODE_COMPONENTS) {
    const pid = parsePid(await readFile(pidFile(place.clusterDir, name), 'utf8').catch(() => ''));
    if (pid !== undefined && processAlive(pid)) list.push({ name, pid });
  }
  return list;
}

/**
 * Removes everything the real node made, whether it runs, crashed or was
 * killed: its processes and containers, mounts, bridge, iptables rules,
 * cgroups, kernel settings and runtime files (the images stay cached in the
 * per-user cache, not here). Returns what could not be removed; running it
 * again is harmless.
 */
export async function cleanUpRealNode(place: RealNodePlace, log: (line: string) => void): Promise<string[]> {
  // Only Linux runs the node, and elsewhere there is no /proc to look through.
  if (process.platform !== 'linux') return [];
  const layout = nodeLayout(place.stateDir);
  const names = hostNames(place.clusterName);
  const problems: string[] = [];
  // The kubelet first, so it starts nothing more, and kube-proxy; given time to exit cleanly.
  const agents = (await pidsOfComponents(place)).filter((c) => c.name !== 'containerd');
  await stopProcesses(
    agents.map((a) => a.pid),
    5000,
  );
  // Then every container, shim and containerd at once: the node is going, nothing needs a graceful end.
  for (let round = 0; round < 3; round++) {
    const left = nodeProcesses(layout.dir, names.cgroupRoot).map((p) => p.pid);
    if (left.length === 0) break;
    await stopProcesses(left, 0);
  }
  const survivors = nodeProcesses(layout.dir, names.cgroupRoot);
  if (survivors.length > 0) problems.push(`processes still running: ${survivors.map((p) => p.pid).join(', ')}`);

  // The ids of every container and pod sandbox containerd knew: some of its files outside our folder are named after them.
  const ids = new Set<string>();
  for (const folder of [
    join(layout.containerd.state, 'io.containerd.runtime.v2.task', CRI_NAMESPACE),
    join(layout.containerd.root, 'io.containerd.grpc.v1.cri', 'sandboxes'),
    join(layout.containerd.root, 'io.containerd.grpc.v1.cri', 'containers'),
  ]) {
    for (const id of await readdir(folder).catch(() => [])) if (/^[0-9a-f]{64}$/.test(id)) ids.add(id);
  }
  for (const id of ids) await rm(shimSocketPath(layout.containerd.socket, CRI_NAMESPACE, id), { force: true });
  const mounted = await unmountUnder([layout.dir]);
  if (mounted.length > 0) problems.push(`still mounted: ${mounted.join(', ')}`);
  await deleteBridge(names.bridge);
  // The KUBE-* chains and kernel settings are every kubelet's: only this node's to undo when it ran here and no other runs.
  const alone = existsSync(layout.dir) && foreignNodeAgents(layout.dir).length === 0;
  problems.push(...(await cleanIptables(names.network, alone)).map((p) => `iptables: ${p}`));
  if (alone) {
    const sets = await destroyFirewallSets();
    if (sets.length > 0) problems.push(`ipsets left: ${sets.slice(0, 3).join(', ')}`);
  }
  const cgroups = await removeCgroupRoot(names.cgroupRoot);
  if (cgroups.length > 0) problems.push(`cgroups left: ${cgroups.slice(0, 3).join(', ')}`);
  await removeStrayFiles(names.network, [...ids], layout.kubelet.podLogs, alone);
  if (alone) {
    const failed = await restoreTunables(join(layout.dir, 'kernel-settings.json'));
    if (failed.length > 0) problems.push(`kernel settings not restored: ${failed.join(', ')}`);
    await rm(join(layout.dir, 'kernel-settings.json'), { force: true });
  }
  await Promise.all(REAL_NODE_COMPONENTS.map((name) => rm(pidFile(place.clusterDir, name), { force: true })));
  // Only with nothing mounted below: removing files through a mount would reach into what it shows.
  if (mounted.length === 0) {
    for (const folder of [layout.containerd.state, layout.containerd.root, layout.kubelet.root, layout.cni.dataDir]) {
      await rm(folder, { recursive: true, force: true });
    }
  }
  if (agents.length > 0) log(`Stopped the real node ${REAL_NODE_NAME}.`);
  for (const problem of problems) log(`  could not clean up the real node fully: ${problem}`);
  return problems;
}
