/**
 * The `host` backend: a plain bash as the server's own user, for a learner
 * alone on their own laptop (single-user mode), where the learner is the
 * host. Its home is a folder in the terminal's workspace with the first
 * kubeconfig copied in, and the cluster's kubectl comes first on its PATH.
 */
import { chmod, copyFile, mkdir, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { IPty } from 'node-pty';
import {
  BASE_ENV,
  bashArgs,
  FILES_IN_HOME,
  type ShellBackend,
  type ShellSize,
  spawnPlan,
  WORKSPACE_FILES,
  type Workspace,
} from './shell-backend.ts';

export class HostShell implements ShellBackend {
  readonly name = 'host' as const;
  readonly separateUsers = false;
  readonly waits = false;
  readonly kubectl: string | undefined;
  private readonly kubectlDir: string | undefined;

  private readonly apiServerUrl: string | undefined;

  /** `apiServer`: the API server's URL as the shell reaches it, when not as the server does (in a pod: the `kubernetes` Service). */
  constructor(kubectl: string | undefined, apiServer?: string) {
    this.kubectl = kubectl;
    this.kubectlDir = kubectl ? dirname(kubectl) : undefined;
    this.apiServerUrl = apiServer;
  }

  apiServer(hostUrl: string) {
    return { server: this.apiServerUrl ?? hostUrl };
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
    // The learner is the server's own user here: a link to the lab's saved files is enough.
    if (workspace.filesDir) await symlink(workspace.filesDir, join(home, FILES_IN_HOME)).catch(() => undefined);
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
