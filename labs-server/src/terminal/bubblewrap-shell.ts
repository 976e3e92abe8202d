/**
 * The `bubblewrap` backend, for workshops: what each sandboxed shell needs
 * on the host, made before it starts and removed after it ends. Once, at
 * start, the server's private folder (state-dir.ts) gets the shared pieces:
 * a copy of kubectl, the seccomp filter (seccomp.ts), the sandboxes'
 * /etc/hosts, and the control groups' parent (shell-limits.ts). For each
 * shell: its /etc/passwd and /etc/group (sandbox-etc.ts), its control
 * group, and its relay to the API server (api-relay.ts), its only way out.
 *
 * The sandbox's command line is bubblewrap-args.ts; the launcher
 * (launch.ts) joins the control group, sets the resource limits, opens the
 * seccomp filter on its descriptor and drops to the shell's own uid before
 * bubblewrap starts. A sandbox starts before its learner is known and waits
 * for them (spare-shells.ts), so nothing of theirs is on its command line.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IPty } from 'node-pty';
import { ApiRelay } from './api-relay.ts';
import { bubblewrapArgs, SANDBOX_API_PORT, SANDBOX_FDS, SANDBOX_PATHS, sandboxEnv } from './bubblewrap-args.ts';
import type { LaunchPlan } from './launch.ts';
import { ACCOUNT_FILES, HOSTS, writeAccountFiles } from './sandbox-etc.ts';
import { seccompArch, seccompProgram } from './seccomp.ts';
import { type ShellBackend, type ShellSize, spawnPlan, WORKSPACE_FILES, type Workspace } from './shell-backend.ts';
import { DEFAULT_SHELL_LIMITS, ShellCgroups, type ShellLimits, ulimitArgs } from './shell-limits.ts';

export interface BubblewrapOptions {
  /** The server's private folder (state-dir.ts): relay socket, kubectl copy, seccomp filter, /etc files. */
  stateDir: string;
  /** The cluster's kubectl on the host. */
  kubectl: string;
  /** The API server as the server reaches it, e.g. https://127.0.0.1:32764. */
  apiServer: string;
  limits?: ShellLimits;
}

export class BubblewrapShell implements ShellBackend {
  readonly name = 'bubblewrap' as const;
  readonly separateUsers = true;
  readonly waits = true;
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

  get kubectl(): string {
    return this.options.kubectl;
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

  private get hostsPath(): string {
    return join(this.options.stateDir, 'etc', 'hosts');
  }

  private get kubectlPath(): string {
    return join(this.options.stateDir, 'bin', 'kubectl');
  }

  private async setUp(): Promise<void> {
    const { stateDir } = this.options;
    for (const dir of ['run', 'bin', 'etc', 'terminals']) await mkdir(join(stateDir, dir), { recursive: true });
    // Others may traverse (to reach what is bound into their sandbox) but not list.
    for (const dir of ['', 'terminals']) await chmod(join(stateDir, dir), 0o711);
    await chmod(join(stateDir, 'run'), 0o755);
    await copyFile(this.options.kubectl, this.kubectlPath);
    await chmod(this.kubectlPath, 0o755);
    await writeFile(this.hostsPath, HOSTS);
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
    const inside = `https://127.0.0.1:${SANDBOX_API_PORT}`;
    return host === '127.0.0.1' ? { server: inside } : { server: inside, tlsServerName: host };
  }

  workspaceInside(): string {
    return SANDBOX_PATHS.workspace;
  }

  homeInside(): string {
    return SANDBOX_PATHS.home;
  }

  /** The /etc/passwd and /etc/group the sandbox sees, its control group and its relay. */
  async prepare(workspace: Workspace): Promise<void> {
    await writeAccountFiles(workspace);
    if (this.cgroups) this.cgroupFiles.set(workspace.id, await this.cgroups.create(workspace.id));
    this.relays.set(workspace.id, await ApiRelay.open(this.relayPath(workspace), this.options.apiServer, workspace.gid));
  }

  /** The sandbox, waiting on its workspace's `start` pipe; the learner's settings are in their rc file, so `env` is empty. */
  spawn(workspace: Workspace, size: ShellSize, env: Record<string, string>): IPty {
    const command = bubblewrapArgs({
      workspaceDir: workspace.dir,
      relaySocket: this.relayPath(workspace),
      passwdFile: join(workspace.dir, ACCOUNT_FILES.passwd),
      groupFile: join(workspace.dir, ACCOUNT_FILES.group),
      hostsFile: this.hostsPath,
      kubectl: this.kubectlPath,
      tmpBytes: this.limits.tmpBytes,
      homeBytes: this.limits.homeBytes,
      lib64: existsSync('/usr/lib64'),
      filesDir: join(workspace.dir, WORKSPACE_FILES.files),
    });
    const root = process.getuid?.() === 0;
    const plan: LaunchPlan = {
      cgroups: this.cgroupFiles.get(workspace.id) ?? [],
      ulimit: ulimitArgs(this.limits, this.cgroups !== undefined),
      files: [{ fd: SANDBOX_FDS.seccomp, path: this.seccompPath }],
      ...(root && workspace.uid !== undefined && workspace.gid !== undefined ? { user: { uid: workspace.uid, gid: workspace.gid } } : {}),
      command,
    };
    return spawnPlan(plan, size, '/', sandboxEnv(env));
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
