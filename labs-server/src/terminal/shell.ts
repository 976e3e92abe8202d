/**
 * Where a learner's shell runs. A backend turns a prepared home folder into
 * a spawned pty; the rest of the terminal (protocol, flow control, replay)
 * does not care which backend it was.
 *
 * Every backend starts its shell through the launcher (launch.ts), which
 * closes every inherited descriptor first.
 *
 * - `host`: a plain bash as the server's user, for a learner alone on their
 *   own laptop (single-user mode).
 * - `bubblewrap`: for workshops. bash runs as an unprivileged uid of its own
 *   (no two live shells share one) in new user, pid, ipc, uts and network
 *   namespaces, on a read-only /usr with a tmpfs root, under a seccomp
 *   filter (seccomp.ts) and with no way to make further user namespaces,
 *   inside its own control group and resource limits (shell-limits.ts). Its
 *   home and /tmp are sized tmpfs mounts: nothing the learner writes reaches
 *   the host's disk, and the server never writes into a folder the learner
 *   controls (the renewed token lives in the terminal's folder of the
 *   server's, seen read-only inside). Its network namespace has nothing but
 *   loopback, where `socat` forwards one port to a Unix socket of the
 *   server's that leads only to the Kubernetes API server: the shell cannot
 *   reach etcd, the lab server or anything else on the host, and TLS and the
 *   learner's token still go end to end.
 * - A pod in the learner's namespace (kind, external clusters) fits the same
 *   interface: spawn `kubectl exec -it` in a pty.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type IPty, spawn } from 'node-pty';
import { ApiRelay } from './api-relay.ts';
import { type LaunchPlan, launchCommand } from './launch.ts';
import { seccompArch, seccompProgram } from './seccomp.ts';
import { DEFAULT_SHELL_LIMITS, ShellCgroups, type ShellLimits, ulimitArgs } from './shell-limits.ts';

export interface ShellSize {
  cols: number;
  rows: number;
}

/**
 * One terminal's place on the host: a folder of the server's (its
 * credentials and rc file; the shell may read it, never write it), a name
 * safe for paths, and the uid and gid the shell runs as.
 */
export interface Workspace {
  id: string;
  dir: string;
  uid: number | undefined;
  gid: number | undefined;
}

/** What a workspace folder holds, written by the terminal before the shell starts. */
export const WORKSPACE_FILES = { kubeconfig: 'kubeconfig', token: 'token', bashrc: 'bashrc' } as const;

export interface ShellBackend {
  readonly name: 'host' | 'bubblewrap';
  /** Whether each shell runs as a uid of its own (allocated by the terminal manager). */
  readonly separateUsers: boolean;
  /** The API server URL as the shell reaches it. */
  apiServer(hostUrl: string): { server: string; tlsServerName?: string };
  /** Where the workspace folder is seen from inside the shell. */
  workspaceInside(workspace: Workspace): string;
  /** Where the home is seen from inside the shell. */
  homeInside(workspace: Workspace): string;
  /** Anything the backend needs beside the workspace's files, made before the spawn. */
  prepare(workspace: Workspace): Promise<void>;
  spawn(workspace: Workspace, size: ShellSize, env: Record<string, string>): IPty;
  /** Undoes `prepare` once the shell has ended. */
  release(workspace: Workspace): Promise<void>;
  close(): Promise<void>;
}

const BASE_ENV = { TERM: 'xterm-256color', LANG: 'C.UTF-8', COLORTERM: 'truecolor' };

export function bashArgs(rcfile: string): string[] {
  return ['--noprofile', '--rcfile', rcfile, '-i'];
}

function spawnPlan(plan: LaunchPlan, size: ShellSize, cwd: string, env: Record<string, string>): IPty {
  const { file, args } = launchCommand(plan);
  return spawn(file, args, { name: 'xterm-256color', cols: size.cols, rows: size.rows, cwd, encoding: null, env });
}

export class HostShell implements ShellBackend {
  readonly name = 'host' as const;
  readonly separateUsers = false;
  private readonly kubectlDir: string | undefined;

  constructor(kubectl: string | undefined) {
    this.kubectlDir = kubectl ? dirname(kubectl) : undefined;
  }

  apiServer(hostUrl: string) {
    return { server: hostUrl };
  }

  workspaceInside(workspace: Workspace): string {
    return workspace.dir;
  }

  homeInside(workspace: Workspace): string {
    return join(workspace.dir, 'home');
  }

  /** The home is a folder in the workspace, with the first kubeconfig in it. */
  async prepare(workspace: Workspace): Promise<void> {
    const home = this.homeInside(workspace);
    await mkdir(join(home, '.kube'), { recursive: true, mode: 0o700 });
    await copyFile(join(workspace.dir, WORKSPACE_FILES.kubeconfig), join(home, '.kube', 'config'));
    await chmod(join(home, '.kube', 'config'), 0o600);
  }

  spawn(workspace: Workspace, size: ShellSize, env: Record<string, string>): IPty {
    const path = [this.kubectlDir, process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'].filter(Boolean).join(':');
    const home = this.homeInside(workspace);
    const command = ['/bin/bash', ...bashArgs(join(workspace.dir, WORKSPACE_FILES.bashrc))];
    return spawnPlan({ command }, size, home, {
      ...BASE_ENV,
      PATH: path,
      HOME: home,
      USER: process.env.USER ?? 'learner',
      ...env,
    });
  }

  async release(): Promise<void> {}

  async close(): Promise<void> {}
}

export interface BubblewrapOptions {
  /** The server's private folder (state-dir.ts): relay socket, kubectl copy, seccomp filter, /etc files. */
  stateDir: string;
  /** The cluster's kubectl on the host. */
  kubectl: string;
  /** The API server as the server reaches it, e.g. https://127.0.0.1:32764. */
  apiServer: string;
  limits?: ShellLimits;
}

/** Sandbox uids: 200000–299999, one per live terminal, none of them a host account. */
export const SANDBOX_UID_BASE = 200_000;
export const SANDBOX_UID_COUNT = 100_000;
const INSIDE_HOME = '/home/learner';
const INSIDE_WORKSPACE = '/run/cdl/terminal';
const INSIDE_PORT = 6443;
const SECCOMP_FD = 3;
/** /dev/shm, for the few programs that use shared memory. */
const SHM_BYTES = 16 * 1024 * 1024;
const KUBECONFIG_FD = 4;

export class BubblewrapShell implements ShellBackend {
  readonly name = 'bubblewrap' as const;
  readonly separateUsers = true;
  private readonly options: BubblewrapOptions;
  private readonly limits: ShellLimits;
  private cgroups: ShellCgroups | undefined;
  private readonly cgroupFiles = new Map<string, string[]>();
  private readonly relays = new Map<string, ApiRelay>();

  private constructor(options: BubblewrapOptions) {
    this.options = options;
    this.limits = options.limits ?? DEFAULT_SHELL_LIMITS;
  }

  static async create(options: BubblewrapOptions): Promise<BubblewrapShell> {
    const shell = new BubblewrapShell(options);
    await shell.setUp();
    return shell;
  }

  /** Whether shells get control groups here (else rlimits only). */
  get cgroupVersion(): 1 | 2 | undefined {
    return this.cgroups?.version;
  }

  /** A shell's relay socket: short, as a Unix socket's path must be (108 bytes at most). */
  private relayPath(workspace: Workspace): string {
    return join(this.options.stateDir, 'run', `${workspace.uid ?? workspace.id}.sock`);
  }

  private get seccompPath(): string {
    return join(this.options.stateDir, 'etc', 'seccomp.bpf');
  }

  private async setUp(): Promise<void> {
    const { stateDir } = this.options;
    for (const dir of ['run', 'bin', 'etc', 'terminals']) await mkdir(join(stateDir, dir), { recursive: true });
    // Others may traverse (to reach what is bound into their sandbox) but not list.
    for (const dir of ['', 'terminals']) await chmod(join(stateDir, dir), 0o711);
    await chmod(join(stateDir, 'run'), 0o755);
    await copyFile(this.options.kubectl, join(stateDir, 'bin', 'kubectl'));
    await chmod(join(stateDir, 'bin', 'kubectl'), 0o755);
    await writeFile(join(stateDir, 'etc', 'hosts'), '127.0.0.1 localhost workshop\n::1 localhost\n');
    const arch = seccompArch();
    if (!arch) throw new Error(`workshop shells need a seccomp filter, and none is defined for ${process.arch}`);
    await writeFile(this.seccompPath, seccompProgram(arch), { mode: 0o644 });
    this.cgroups = await ShellCgroups.detect(this.limits);
  }

  /** Where a terminal's workspace goes: inside the private folder, so the sandbox can bind it. */
  workspaceRoot(): string {
    return join(this.options.stateDir, 'terminals');
  }

  apiServer(hostUrl: string) {
    const host = new URL(hostUrl).hostname;
    const inside = `https://127.0.0.1:${INSIDE_PORT}`;
    return host === '127.0.0.1' ? { server: inside } : { server: inside, tlsServerName: host };
  }

  workspaceInside(): string {
    return INSIDE_WORKSPACE;
  }

  homeInside(): string {
    return INSIDE_HOME;
  }

  /** The /etc/passwd and /etc/group the sandbox sees, and its control group. */
  async prepare(workspace: Workspace): Promise<void> {
    const uid = workspace.uid ?? 65534;
    const gid = workspace.gid ?? 65534;
    await writeFile(join(workspace.dir, 'passwd'), `learner:x:${uid}:${gid}:Learner:${INSIDE_HOME}:/bin/bash\n`, { mode: 0o644 });
    await writeFile(join(workspace.dir, 'group'), `learner:x:${gid}:\n`, { mode: 0o644 });
    if (this.cgroups) this.cgroupFiles.set(workspace.id, await this.cgroups.create(workspace.id));
    this.relays.set(workspace.id, await ApiRelay.open(this.relayPath(workspace), this.options.apiServer, workspace.gid));
  }

  spawn(workspace: Workspace, size: ShellSize, env: Record<string, string>): IPty {
    const { stateDir } = this.options;
    const { tmpBytes, homeBytes } = this.limits;
    const hostLib64 = existsSync('/usr/lib64') ? ['--symlink', 'usr/lib64', '/lib64'] : [];
    const bwrap = [
      'bwrap',
      '--die-with-parent',
      '--unshare-all',
      '--unshare-user',
      '--disable-userns',
      '--cap-drop',
      'ALL',
      '--seccomp',
      String(SECCOMP_FD),
      '--hostname',
      'workshop',
      '--ro-bind',
      '/usr',
      '/usr',
      '--symlink',
      'usr/bin',
      '/bin',
      '--symlink',
      'usr/sbin',
      '/sbin',
      '--symlink',
      'usr/lib',
      '/lib',
      ...hostLib64,
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--size',
      String(SHM_BYTES),
      '--tmpfs',
      '/dev/shm',
      '--size',
      String(tmpBytes),
      '--tmpfs',
      '/tmp',
      '--dir',
      '/run/cdl',
      '--bind',
      this.relayPath(workspace),
      '/run/cdl/api.sock',
      '--ro-bind',
      workspace.dir,
      INSIDE_WORKSPACE,
      '--ro-bind',
      join(workspace.dir, 'passwd'),
      '/etc/passwd',
      '--ro-bind',
      join(workspace.dir, 'group'),
      '/etc/group',
      '--ro-bind',
      join(stateDir, 'etc', 'hosts'),
      '/etc/hosts',
      '--ro-bind-try',
      '/etc/terminfo',
      '/etc/terminfo',
      '--ro-bind-try',
      '/etc/inputrc',
      '/etc/inputrc',
      '--ro-bind',
      join(stateDir, 'bin', 'kubectl'),
      '/opt/cdl/bin/kubectl',
      '--size',
      String(homeBytes),
      '--tmpfs',
      INSIDE_HOME,
      '--dir',
      `${INSIDE_HOME}/.kube`,
      '--perms',
      '0600',
      '--file',
      String(KUBECONFIG_FD),
      `${INSIDE_HOME}/.kube/config`,
      // Everything but the sized tmpfs is read-only (the root, /run, /etc, /dev; devices still work).
      '--remount-ro',
      '/dev',
      '--remount-ro',
      '/',
      '--chdir',
      INSIDE_HOME,
      '/bin/bash',
      '-c',
      `socat TCP-LISTEN:${INSIDE_PORT},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:/run/cdl/api.sock 2>/dev/null & exec /bin/bash ${bashArgs(`${INSIDE_WORKSPACE}/${WORKSPACE_FILES.bashrc}`).join(' ')}`,
    ];
    const root = process.getuid?.() === 0;
    const plan: LaunchPlan = {
      cgroups: this.cgroupFiles.get(workspace.id) ?? [],
      ulimit: ulimitArgs(this.limits, this.cgroups !== undefined),
      files: [
        { fd: SECCOMP_FD, path: this.seccompPath },
        { fd: KUBECONFIG_FD, path: join(workspace.dir, WORKSPACE_FILES.kubeconfig) },
      ],
      ...(root && workspace.uid !== undefined && workspace.gid !== undefined ? { user: { uid: workspace.uid, gid: workspace.gid } } : {}),
      command: bwrap,
    };
    return spawnPlan(plan, size, '/', {
      ...BASE_ENV,
      PATH: '/opt/cdl/bin:/usr/local/bin:/usr/bin:/bin',
      HOME: INSIDE_HOME,
      USER: 'learner',
      ...env,
    });
  }

  async release(workspace: Workspace): Promise<void> {
    const relay = this.relays.get(workspace.id);
    this.relays.delete(workspace.id);
    this.cgroupFiles.delete(workspace.id);
    await relay?.close();
    await this.cgroups?.remove(workspace.id);
  }

  async close(): Promise<void> {
    await Promise.all([...this.relays.values()].map((relay) => relay.close()));
    this.relays.clear();
    await this.cgroups?.removeAll();
  }
}
