/**
 * Which processes a local control plane is made of, and which of them run.
 *
 * kwokctl's binary runtime starts each component as a detached process and
 * writes its process id to `pids/<name>.pid`; nothing watches over them
 * afterwards. A component that exits (a controller manager or scheduler that
 * lost its leader lease while the API server was slow, an OOM kill) stays
 * gone, and the API server goes on answering as if all were well: new
 * Deployments simply never get pods. So the status names every component it
 * expects rather than counting the pid files it happens to find, and a pid
 * only counts when that process still runs the component's binary (after a
 * crash, the number may already belong to some other program).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { processAlive } from '../exec.ts';
import type { ApiState } from '../kube.ts';
import type { ComponentStatus } from '../provider.ts';
import { REAL_NODE_COMPONENTS } from './real-node-config.ts';

/**
 * Every process of a local cluster, by kwokctl's name for it, in the order
 * kwokctl starts them. kwokctl copies each binary into the cluster's `bin/`
 * under that name, runs it from there and names its pid file after it.
 */
export const CONTROL_PLANE = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok-controller'] as const;

/**
 * Processes the platform adds beside kwokctl's: Karpenter when a lab needs
 * it (karpenter.ts), the real node's containerd, kubelet and kube-proxy
 * (real-node.ts). Each is expected from the moment its pid file exists:
 * once started, one that exits makes the cluster degraded like any other.
 */
export const ADD_ONS = ['karpenter', ...REAL_NODE_COMPONENTS] as const;

export type ComponentName = (typeof CONTROL_PLANE)[number] | (typeof ADD_ONS)[number];

/** The pid file kwokctl writes for a component, inside its cluster folder. */
export function pidFile(clusterDir: string, component: ComponentName): string {
  return join(clusterDir, 'pids', `${component}.pid`);
}

/** The process id in a pid file's text, or undefined for anything but one positive integer. */
export function parsePid(text: string): number | undefined {
  const match = /^\s*(\d{1,10})\s*$/.exec(text);
  const pid = match ? Number(match[1]) : Number.NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Whether a process's command line (`/proc/<pid>/cmdline`: arguments separated
 * by NUL bytes) is that of `binary`. kwokctl runs each binary by its full
 * path, so the first argument's file name is the binary's.
 */
export function runsBinary(cmdline: string, binary: string): boolean {
  const argv0 = cmdline.split('\0', 1)[0] ?? '';
  return argv0 !== '' && basename(argv0) === binary;
}

/** `a`, `a and b`, `a, b and c`. */
function listNames(names: readonly string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** What is missing, as one phrase ("kube-scheduler not running"), or undefined when every component runs. */
export function missingPhrase(components: readonly ComponentStatus[]): string | undefined {
  const missing = components.filter((c) => !c.running).map((c) => c.name);
  return missing.length > 0 ? `${listNames(missing)} not running` : undefined;
}

/** How many components run, and which: "running: 4 of 5 processes (etcd, kube-apiserver, …)". */
export function processesPhrase(components: readonly ComponentStatus[]): string {
  const running = components.filter((c) => c.running).map((c) => c.name);
  const names = running.length > 0 ? ` (${running.join(', ')})` : '';
  return `running: ${running.length} of ${components.length} processes${names}`;
}

/** What was seen of a cluster that exists: its processes, and the API server's answer or why there was none. */
export interface Observation {
  components: readonly ComponentStatus[];
  /** Left out when it was not asked: without etcd or itself running, it cannot answer. */
  api?: ApiState | { error: string };
}

/** Whether the API server is worth asking: it and its etcd both run. */
export function canServe(components: readonly ComponentStatus[]): boolean {
  return components.filter((c) => c.name === 'etcd' || c.name === 'kube-apiserver').every((c) => c.running);
}

/**
 * Running only when every component runs, the API server answers and every
 * node is Ready; anything less is degraded, and the detail starts with what is
 * wrong ("kube-scheduler not running; …") so it reads well after the state.
 */
export function assess({ components, api }: Observation): { state: 'running' | 'degraded'; detail: string } {
  const problems: string[] = [];
  const missing = missingPhrase(components);
  if (missing) problems.push(missing);
  let facts: string;
  if (api === undefined) {
    facts = processesPhrase(components);
  } else if ('error' in api) {
    problems.push(`the API server does not answer (${api.error})`);
    facts = processesPhrase(components);
  } else {
    if (api.nodesTotal === 0) problems.push('no nodes');
    else if (api.nodesReady < api.nodesTotal) problems.push(`${api.nodesTotal - api.nodesReady} of ${api.nodesTotal} nodes not Ready`);
    facts = `Kubernetes ${api.serverVersion}, ${api.nodesReady}/${api.nodesTotal} nodes Ready; ${processesPhrase(components)}`;
  }
  return problems.length === 0 ? { state: 'running', detail: facts } : { state: 'degraded', detail: `${problems.join('; ')}; ${facts}` };
}

/** What the system says of one pid: the process's command line, or undefined where there is no /proc to ask. */
async function commandLine(pid: number): Promise<string | undefined> {
  if (!existsSync('/proc/self/cmdline')) return undefined;
  // A process that has ended (or a zombie) reads as empty: not running.
  return readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
}

/** Every expected component of the cluster whose kwokctl state is in `clusterDir`, running or not. */
export async function inspectControlPlane(clusterDir: string): Promise<Array<ComponentStatus & { name: ComponentName }>> {
  const addOns = ADD_ONS.filter((name) => existsSync(pidFile(clusterDir, name)));
  return Promise.all(
    [...CONTROL_PLANE, ...addOns].map(async (name): Promise<ComponentStatus & { name: ComponentName }> => {
      const pid = parsePid(await readFile(pidFile(clusterDir, name), 'utf8').catch(() => ''));
      if (pid === undefined || !processAlive(pid)) return { name, running: false };
      const cmdline = await commandLine(pid);
      if (cmdline !== undefined && !runsBinary(cmdline, name)) return { name, running: false };
      return { name, running: true, pid };
    }),
  );
}
