/**
 * The command line of a workshop shell's sandbox: every bubblewrap flag the
 * isolation rests on, in one pure function, so a unit test pins the whole
 * list and any change to a security flag shows in review.
 *
 * The list is built from named groups, in the order bubblewrap must apply
 * them (it runs its options in order: a size before its tmpfs, a folder
 * before what is bound into it, the read-only remounts after every mount):
 *
 * - isolation: every namespace unshared (user, pid, network, ipc, uts,
 *   cgroup), no further user namespaces, no capabilities, the seccomp
 *   filter, and death with the server;
 * - system: the host's /usr read-only, and the usual links into it; nothing
 *   else of the host's files;
 * - processes: a /proc of the sandbox's own pid namespace;
 * - devices: a minimal /dev, with a sized tmpfs for /dev/shm;
 * - scratch: a sized tmpfs for /tmp;
 * - workspace: the shell's relay socket (its one way out, to the API
 *   server) and the terminal's workspace folder, read-only;
 * - etc: the sandbox's own passwd, group and hosts, and the host's terminfo
 *   and inputrc where they exist, read-only;
 * - tools: kubectl, read-only;
 * - home: a sized tmpfs (nothing the learner writes reaches the host's
 *   disk), with the lab's saved files (the editor's, a folder of the
 *   workspace) bound read-only at ~/files;
 * - lockdown: everything but the sized tmpfs mounts read-only;
 * - entry: the sandbox waits for its learner (spare-shells.ts: it is made
 *   before anyone needs it), then copies the first kubeconfig into the home,
 *   starts `socat` forwarding 127.0.0.1:6443 to the relay socket, and
 *   becomes bash.
 *
 * The environment the shell starts with is built here too (sandboxEnv).
 */
import { BASE_ENV, bashArgs, FILES_IN_HOME, WORKSPACE_FILES } from './shell-backend.ts';

/** Where things are inside the sandbox. */
export const SANDBOX_PATHS = {
  home: '/home/learner',
  workspace: '/run/cdl/terminal',
  run: '/run/cdl',
  apiSocket: '/run/cdl/api.sock',
  kubectl: '/opt/cdl/bin/kubectl',
} as const;

/** The port inside the sandbox where kubectl finds the API server. */
export const SANDBOX_API_PORT = 6443;
/** The sandbox's hostname, also in its /etc/hosts. */
export const SANDBOX_HOSTNAME = 'workshop';

/** Descriptors the launcher opens for bubblewrap (launch.ts allows 3–9). */
export const SANDBOX_FDS = { seccomp: 3 } as const;

/** /dev/shm, for the few programs that use shared memory. */
export const SHM_BYTES = 16 * 1024 * 1024;

/** What a sandbox's command line needs from the host and the limits. */
export interface SandboxLayout {
  /** The terminal's workspace folder on the host (seen read-only inside). */
  workspaceDir: string;
  /** This shell's relay socket on the host. */
  relaySocket: string;
  /** The sandbox's /etc/passwd and /etc/group on the host (files of its workspace). */
  passwdFile: string;
  groupFile: string;
  /** The /etc/hosts all sandboxes share, on the host. */
  hostsFile: string;
  /** The copy of kubectl the sandboxes share, on the host. */
  kubectl: string;
  /** Sizes of the tmpfs mounts for /tmp and the home. */
  tmpBytes: number;
  homeBytes: number;
  /** Whether the host has /usr/lib64 (then /lib64 links to it, as the dynamic loader expects). */
  lib64: boolean;
  /** The lab's saved files (a folder of the workspace's, the server's), bound read-only at ~/files. */
  filesDir: string;
}

/** A tmpfs of at most `bytes` at `path`: the size flag applies to the next tmpfs only. */
function sizedTmpfs(bytes: number, path: string): string[] {
  return ['--size', String(bytes), '--tmpfs', path];
}

function isolationFlags(): string[] {
  return [
    '--die-with-parent',
    '--unshare-all',
    '--unshare-user',
    '--disable-userns',
    '--cap-drop',
    'ALL',
    '--seccomp',
    String(SANDBOX_FDS.seccomp),
    '--hostname',
    SANDBOX_HOSTNAME,
  ];
}

function systemFlags(layout: SandboxLayout): string[] {
  return [
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
    ...(layout.lib64 ? ['--symlink', 'usr/lib64', '/lib64'] : []),
  ];
}

function processFlags(): string[] {
  return ['--proc', '/proc'];
}

function deviceFlags(): string[] {
  return ['--dev', '/dev', ...sizedTmpfs(SHM_BYTES, '/dev/shm')];
}

function scratchFlags(layout: SandboxLayout): string[] {
  return sizedTmpfs(layout.tmpBytes, '/tmp');
}

function workspaceFlags(layout: SandboxLayout): string[] {
  return [
    '--dir',
    SANDBOX_PATHS.run,
    '--bind',
    layout.relaySocket,
    SANDBOX_PATHS.apiSocket,
    '--ro-bind',
    layout.workspaceDir,
    SANDBOX_PATHS.workspace,
  ];
}

function etcFlags(layout: SandboxLayout): string[] {
  return [
    '--ro-bind',
    layout.passwdFile,
    '/etc/passwd',
    '--ro-bind',
    layout.groupFile,
    '/etc/group',
    '--ro-bind',
    layout.hostsFile,
    '/etc/hosts',
    '--ro-bind-try',
    '/etc/terminfo',
    '/etc/terminfo',
    '--ro-bind-try',
    '/etc/inputrc',
    '/etc/inputrc',
  ];
}

function toolFlags(layout: SandboxLayout): string[] {
  return ['--ro-bind', layout.kubectl, SANDBOX_PATHS.kubectl];
}

function homeFlags(layout: SandboxLayout): string[] {
  const { home } = SANDBOX_PATHS;
  return [
    ...sizedTmpfs(layout.homeBytes, home),
    '--dir',
    `${home}/.kube`,
    // The editor's files: the server writes them, the learner reads and applies them.
    '--ro-bind',
    layout.filesDir,
    `${home}/${FILES_IN_HOME}`,
  ];
}

/** Everything but the sized tmpfs mounts is read-only: the root, /run, /etc, /dev (its devices still work). */
function lockdownFlags(): string[] {
  return ['--remount-ro', '/dev', '--remount-ro', '/'];
}

/**
 * In the home, with bash's builtins only (no program to load on the way to
 * the prompt): wait until the server says the sandbox is a learner's (a
 * line on the workspace's `start` pipe, written once their rc file,
 * kubeconfig and token are in the workspace), copy the kubeconfig into the
 * learner's own ~/.kube/config (theirs to change), start socat relaying the
 * API port to the relay socket, and become the learner's bash.
 */
export function sandboxEntry(): string {
  const workspace = SANDBOX_PATHS.workspace;
  const bash = bashArgs(`${workspace}/${WORKSPACE_FILES.bashrc}`).join(' ');
  const relay = `socat TCP-LISTEN:${SANDBOX_API_PORT},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${SANDBOX_PATHS.apiSocket} 2>/dev/null`;
  return [
    `read -r _ < ${workspace}/${WORKSPACE_FILES.start} || exit 1`,
    `umask 077; IFS= read -r -d '' config < ${workspace}/${WORKSPACE_FILES.kubeconfig}; printf '%s' "$config" > ${SANDBOX_PATHS.home}/.kube/config; unset config; umask 022`,
    `${relay} &`,
    `exec /bin/bash ${bash}`,
  ].join('\n');
}

function entryArgs(): string[] {
  return ['--chdir', SANDBOX_PATHS.home, '/bin/bash', '--noprofile', '--norc', '-c', sandboxEntry()];
}

/** The whole command: bwrap, its flags group by group, and the shell it runs. */
export function bubblewrapArgs(layout: SandboxLayout): string[] {
  return [
    'bwrap',
    ...isolationFlags(),
    ...systemFlags(layout),
    ...processFlags(),
    ...deviceFlags(),
    ...scratchFlags(layout),
    ...workspaceFlags(layout),
    ...etcFlags(layout),
    ...toolFlags(layout),
    ...homeFlags(layout),
    ...lockdownFlags(),
    ...entryArgs(),
  ];
}

/** The PATH inside: the sandbox's kubectl first, then the host's read-only /usr. */
export const SANDBOX_PATH = '/opt/cdl/bin:/usr/local/bin:/usr/bin:/bin';

/** The environment the sandbox's shell starts with; `env` (the terminal's own) comes last. */
export function sandboxEnv(env: Record<string, string>): Record<string, string> {
  return { ...BASE_ENV, PATH: SANDBOX_PATH, HOME: SANDBOX_PATHS.home, USER: 'learner', ...env };
}
