/**
 * Where a learner's shell runs, and what every such place offers the rest of
 * the terminal: a prepared workspace in, a spawned pty out. The session, its
 * protocol, flow control and replay do not care which backend it was.
 *
 * - `host` (host-shell.ts): a plain bash as the server's user, for a learner
 *   alone on their own laptop (single-user mode).
 * - `bubblewrap` (bubblewrap-shell.ts): for workshops. bash runs as an
 *   unprivileged uid of its own (uid-pool.ts: no two live shells share one)
 *   in new user, pid, ipc, uts and network namespaces, on a read-only /usr
 *   with a tmpfs root, under a seccomp filter (seccomp.ts) and with no way
 *   to make further user namespaces, inside its own control group and
 *   resource limits (shell-limits.ts); its command line is
 *   bubblewrap-args.ts. Its home and /tmp are sized tmpfs mounts: nothing
 *   the learner writes reaches the host's disk, and the server never writes
 *   into a folder the learner controls. Its network namespace has nothing
 *   but loopback, where `socat` forwards one port to a Unix socket of the
 *   server's that leads only to the Kubernetes API server (api-relay.ts).
 * - A pod in the learner's namespace (kind, external clusters) fits the same
 *   interface: spawn `kubectl exec -it` in a pty.
 *
 * Also here, because every backend shares them: what a workspace folder
 * holds, the environment every shell starts with, bash's arguments, and the
 * spawn itself, always through the launcher (launch.ts), which closes every
 * inherited descriptor first.
 */
import { type IPty, spawn } from 'node-pty';
import { type LaunchPlan, launchCommand } from './launch.ts';

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
  /** The lab's saved files (lab-files.ts), a folder of the server's that the shell sees read-only at ~/files. */
  filesDir?: string;
}

/** Where a shell finds the lab's saved files, in its home. */
export const FILES_IN_HOME = 'files';

/** What a workspace folder holds, written by the terminal before the shell starts. */
export const WORKSPACE_FILES = {
  kubeconfig: 'kubeconfig',
  token: 'token',
  bashrc: 'bashrc',
  completion: 'kubectl-completion.bash',
  /** The learner's share of the API server's audit log, for the labs that read it (audit-log.ts). */
  auditLog: 'audit.log',
  /** A sandbox's pipe: a line on it hands the waiting sandbox to its learner (spare-shells.ts). */
  start: 'start',
  /** A sandbox's view of the lab's saved files (lab-files.ts keeps it current), seen read-only at ~/files. */
  files: 'files',
} as const;

export interface ShellBackend {
  readonly name: 'host' | 'bubblewrap';
  /** Whether each shell runs as a uid of its own (allocated by the terminal manager). */
  readonly separateUsers: boolean;
  /**
   * Whether a spawned shell waits for its learner (spare-shells.ts): it is
   * started before anyone needs it, from a workspace holding nothing of
   * theirs, and goes on once their files are in it and a line is written to
   * its `start` pipe.
   */
  readonly waits: boolean;
  /** The API server URL as the shell reaches it. */
  apiServer(hostUrl: string): { server: string; tlsServerName?: string };
  /** The kubectl the shells run, as the server sees it (for its completion script). */
  readonly kubectl: string | undefined;
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

/** The environment of every shell, whatever its backend. */
export const BASE_ENV = { TERM: 'xterm-256color', LANG: 'C.UTF-8', COLORTERM: 'truecolor' } as const;

/** bash as an interactive shell reading only the terminal's rc file (which sources the learner's own). */
export function bashArgs(rcfile: string): string[] {
  return ['--noprofile', '--rcfile', rcfile, '-i'];
}

/** Starts a launch plan in a new pty, raw bytes in and out. */
export function spawnPlan(plan: LaunchPlan, size: ShellSize, cwd: string, env: Record<string, string>): IPty {
  const { file, args } = launchCommand(plan);
  return spawn(file, args, { name: 'xterm-256color', cols: size.cols, rows: size.rows, cwd, encoding: null, env });
}
