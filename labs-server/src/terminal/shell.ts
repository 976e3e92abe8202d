/**
 * Where a learner's shell runs. A backend turns a prepared home folder into
 * a spawned pty; the rest of the terminal (protocol, flow control, replay)
 * does not care which backend it was.
 *
 * - `host`: a plain bash as the server's user, for a learner alone on their
 *   own laptop (single-user mode).
 * - `bubblewrap`: for workshops. bash runs as an unprivileged uid of its own
 *   in new user, pid, ipc, uts and network namespaces, on a read-only /usr
 *   with a tmpfs root, seeing only its own home. Its network namespace has
 *   nothing but loopback, where `socat` forwards one port to a Unix socket
 *   of the server's that leads only to the Kubernetes API server: the shell
 *   cannot reach etcd, the lab server or anything else on the host, and TLS
 *   and the learner's token still go end to end.
 * - A pod in the learner's namespace (kind, external clusters) fits the same
 *   interface: spawn `kubectl exec -it` in a pty.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { type IPty, spawn } from 'node-pty';

export interface ShellSize {
  cols: number;
  rows: number;
}

/** A prepared home: its folder on the host, and who owns it. */
export interface Home {
  dir: string;
  uid: number | undefined;
  gid: number | undefined;
}

export interface ShellBackend {
  readonly name: 'host' | 'bubblewrap';
  /** The uid and gid the shell of this terminal runs as (undefined: the server's). */
  identity(key: string): { uid: number | undefined; gid: number | undefined };
  /** The API server URL as the shell reaches it. */
  apiServer(hostUrl: string): { server: string; tlsServerName?: string };
  /** Where the home is seen from inside the shell. */
  homeInside(home: Home): string;
  /** Anything the backend keeps beside a home, made before the first spawn. */
  prepareHome(home: Home): Promise<void>;
  spawn(home: Home, size: ShellSize, env: Record<string, string>): IPty;
  close(): Promise<void>;
}

const BASE_ENV = { TERM: 'xterm-256color', LANG: 'C.UTF-8', COLORTERM: 'truecolor' };

export function bashArgs(homeInside: string): string[] {
  return ['--noprofile', '--rcfile', `${homeInside}/.bashrc`, '-i'];
}

export class HostShell implements ShellBackend {
  readonly name = 'host' as const;
  private readonly kubectlDir: string | undefined;

  constructor(kubectl: string | undefined) {
    this.kubectlDir = kubectl ? dirname(kubectl) : undefined;
  }

  identity() {
    return { uid: undefined, gid: undefined };
  }

  apiServer(hostUrl: string) {
    return { server: hostUrl };
  }

  homeInside(home: Home): string {
    return home.dir;
  }

  async prepareHome(): Promise<void> {}

  spawn(home: Home, size: ShellSize, env: Record<string, string>): IPty {
    const path = [this.kubectlDir, process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'].filter(Boolean).join(':');
    return spawn('/bin/bash', bashArgs(home.dir), {
      name: 'xterm-256color',
      cols: size.cols,
      rows: size.rows,
      cwd: home.dir,
      encoding: null,
      env: { ...BASE_ENV, PATH: path, HOME: home.dir, USER: process.env.USER ?? 'learner', ...env },
    });
  }

  async close(): Promise<void> {}
}

export interface BubblewrapOptions {
  /** Folder for the relay socket, the kubectl copy and the sandbox's /etc files. */
  stateDir: string;
  /** The cluster's kubectl on the host. */
  kubectl: string;
  /** The API server as the server reaches it, e.g. https://127.0.0.1:32764. */
  apiServer: string;
}

/** Sandbox uids: 200000–299999, one per terminal, none of them a host account. */
export const SANDBOX_UID_BASE = 200_000;
const INSIDE_HOME = '/home/learner';
const INSIDE_PORT = 6443;

export class BubblewrapShell implements ShellBackend {
  readonly name = 'bubblewrap' as const;
  private readonly options: BubblewrapOptions;
  private relay: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(options: BubblewrapOptions) {
    this.options = options;
  }

  static async create(options: BubblewrapOptions): Promise<BubblewrapShell> {
    const shell = new BubblewrapShell(options);
    await shell.prepare();
    return shell;
  }

  private get socketPath(): string {
    return join(this.options.stateDir, 'run', 'api.sock');
  }

  private async prepare(): Promise<void> {
    const { stateDir } = this.options;
    for (const dir of ['run', 'bin', 'etc', 'homes']) await mkdir(join(stateDir, dir), { recursive: true });
    // Others may traverse (to reach their own home) but not list.
    await chmod(stateDir, 0o711);
    await chmod(join(stateDir, 'homes'), 0o711);
    await chmod(join(stateDir, 'run'), 0o755);
    await copyFile(this.options.kubectl, join(stateDir, 'bin', 'kubectl'));
    await chmod(join(stateDir, 'bin', 'kubectl'), 0o755);
    await writeFile(join(stateDir, 'etc', 'hosts'), '127.0.0.1 localhost workshop\n::1 localhost\n');
    const target = new URL(this.options.apiServer);
    const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
    this.relay = createServer((socket) => {
      const upstream = connect(port, target.hostname);
      this.sockets.add(socket).add(upstream);
      const done = () => {
        socket.destroy();
        upstream.destroy();
        this.sockets.delete(socket);
        this.sockets.delete(upstream);
      };
      socket.on('error', done).on('close', done);
      upstream.on('error', done).on('close', done);
      socket.pipe(upstream).pipe(socket);
    });
    await rm(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.relay?.once('error', reject);
      this.relay?.listen(this.socketPath, () => resolve());
    });
    await chmod(this.socketPath, 0o666);
  }

  identity(key: string) {
    const n = Number.parseInt(createHash('sha256').update(key).digest('hex').slice(0, 8), 16) % 100_000;
    return { uid: SANDBOX_UID_BASE + n, gid: SANDBOX_UID_BASE + n };
  }

  apiServer(hostUrl: string) {
    const host = new URL(hostUrl).hostname;
    const inside = `https://127.0.0.1:${INSIDE_PORT}`;
    return host === '127.0.0.1' ? { server: inside } : { server: inside, tlsServerName: host };
  }

  homeInside(): string {
    return INSIDE_HOME;
  }

  spawn(home: Home, size: ShellSize, env: Record<string, string>): IPty {
    const { stateDir } = this.options;
    const uid = home.uid ?? 65534;
    const gid = home.gid ?? 65534;
    const identity = this.identityDir(home);
    const passwd = join(identity, 'passwd');
    const group = join(identity, 'group');
    const hostLib64 = existsSync('/usr/lib64') ? ['--symlink', 'usr/lib64', '/lib64'] : [];
    const args = [
      '--die-with-parent',
      '--unshare-all',
      '--cap-drop',
      'ALL',
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
      '--tmpfs',
      '/tmp',
      '--dir',
      '/run/cdl',
      '--bind',
      this.socketPath,
      '/run/cdl/api.sock',
      '--ro-bind',
      passwd,
      '/etc/passwd',
      '--ro-bind',
      group,
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
      '--bind',
      home.dir,
      INSIDE_HOME,
      '--chdir',
      INSIDE_HOME,
      '/bin/bash',
      '-c',
      `socat TCP-LISTEN:${INSIDE_PORT},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:/run/cdl/api.sock 2>/dev/null & exec /bin/bash ${bashArgs(INSIDE_HOME).join(' ')}`,
    ];
    return spawn('bwrap', args, {
      name: 'xterm-256color',
      cols: size.cols,
      rows: size.rows,
      cwd: '/',
      encoding: null,
      uid,
      gid,
      env: { ...BASE_ENV, PATH: '/opt/cdl/bin:/usr/local/bin:/usr/bin:/bin', HOME: INSIDE_HOME, USER: 'learner', ...env },
    });
  }

  private identityDir(home: Home): string {
    return join(this.options.stateDir, 'etc', `uid-${home.uid ?? 65534}`);
  }

  /** The /etc/passwd and /etc/group the sandbox sees (outside its home, so it cannot change them). */
  async prepareHome(home: Home): Promise<void> {
    const dir = this.identityDir(home);
    await mkdir(dir, { recursive: true });
    const uid = home.uid ?? 65534;
    const gid = home.gid ?? 65534;
    await writeFile(join(dir, 'passwd'), `learner:x:${uid}:${gid}:Learner:${INSIDE_HOME}:/bin/bash\n`);
    await writeFile(join(dir, 'group'), `learner:x:${gid}:\n`);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.relay ? this.relay.close(() => resolve()) : resolve()));
  }
}
