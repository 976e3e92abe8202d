/**
 * A terminal's folder on the host and the files the shell starts from. The
 * folder (the workspace) is the server's: made afresh for each shell, owned
 * by root with the shell's group allowed to read it where the server is
 * root, seen read-only inside the sandbox, and removed with the shell. It
 * holds the rc file bash reads (the prompt, `k` for kubectl, completion),
 * the first kubeconfig (which the backend puts in the learner's own
 * ~/.kube/config) and the learner's short-lived token, which is renewed
 * here on a timer while the shell lives. The learner's home itself is the
 * backend's (a folder beside these files, or a tmpfs in the sandbox): the
 * server never writes into it after the start (credentials.ts says why).
 */
import { chmodSync, chownSync, copyFileSync, linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type ShellCredentials, shellCredentials, writeWorkspaceFile } from './credentials.ts';
import { kubectlCompletionFile } from './kubectl-completion.ts';
import { type ShellBackend, WORKSPACE_FILES, type Workspace } from './shell-backend.ts';

/** What the rc file shows: the lab and the learner's default namespace, in the prompt. */
export interface Prompt {
  labId: string;
  namespace: string;
  /** The tab's name, for a lab's second and later terminals. */
  tab?: string;
}

export interface ShellHomeOptions {
  /** Where the shell's paths are as seen from inside it, and its kubectl. */
  backend: Pick<ShellBackend, 'apiServer' | 'workspaceInside' | 'homeInside' | 'kubectl'>;
  /** The folder of the server's where each terminal's workspace folder is made. */
  workDir: string;
  /** The terminal's key (session/lab); its folder is named after it. */
  key: string;
  /** The uid and gid of the shell (a backend with separate users). */
  identity?: { uid: number; gid: number };
  /** A fresh kubeconfig; called at the start and for each renewal. */
  kubeconfig: () => Promise<string>;
  prompt: Prompt;
  /** Makes the (empty) file the learner's share of the audit log is written into. */
  auditLog?: boolean;
  /** The lab's saved files, seen read-only at ~/files. */
  filesDir?: string;
  /** A workspace made before the learner came (spare-shells.ts): its folder exists, named and owned as it is. */
  workspace?: Workspace;
}

/** A name for the terminal's folder, safe in a path whatever the key holds. */
export function workspaceId(key: string): string {
  return key.replace(/[^a-z0-9-]/g, '_');
}

/**
 * The rc file of every shell: the learner's own ~/.bashrc is read too, after
 * it. kubectl's completion is a file made once by the server
 * (kubectl-completion.ts), in the workspace folder (`workspace`, as the
 * shell sees it).
 */
export function bashrc(prompt: Prompt, home: string, workspace: string, auditLog = false): string {
  return `# The workshop shell: your kubeconfig reaches your own sandbox only.
export KUBECONFIG=${home}/.kube/config
${auditLog ? `export AUDIT_LOG=${workspace}/${WORKSPACE_FILES.auditLog}\n` : ''}if [ -f ${home}/.bashrc ]; then . ${home}/.bashrc; fi
PS1='\\[\\e[1;32m\\]learner\\[\\e[0m\\]@\\[\\e[1;34m\\]${prompt.labId}${prompt.tab ? `:${prompt.tab}` : ''}\\[\\e[0m\\] (${prompt.namespace}) \\w $ '
alias k=kubectl
if [ -r ${workspace}/${WORKSPACE_FILES.completion} ]; then
  . ${workspace}/${WORKSPACE_FILES.completion}
  complete -o default -F __start_kubectl k
fi
cd "${home}"
`;
}

/**
 * Makes a terminal's folder afresh: the server's, and where the shell has a
 * uid of its own (the server being root), readable by the shell's group
 * (through the sandbox's read-only bind); no one else may enter it.
 */
export function makeWorkspaceFolder(workDir: string, workspace: Workspace): void {
  const { dir, gid } = workspace;
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  if (gid !== undefined && process.getuid?.() === 0) {
    chownSync(dir, 0, gid);
    chmodSync(dir, 0o750);
  }
}

/** A hard link to a read-only file of the server's; a copy where the two folders cannot share one. */
function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

export class ShellHome {
  readonly workspace: Workspace;
  private readonly options: ShellHomeOptions;
  private renewTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: ShellHomeOptions) {
    this.options = options;
    const id = workspaceId(options.key);
    this.workspace = options.workspace ?? {
      id,
      dir: join(options.workDir, id),
      uid: options.identity?.uid,
      gid: options.identity?.gid,
      ...(options.filesDir ? { filesDir: options.filesDir } : {}),
    };
  }

  /** The learner's kubeconfig as the shell sees it (its KUBECONFIG). */
  get kubeconfigInside(): string {
    return `${this.options.backend.homeInside(this.workspace)}/.kube/config`;
  }

  /** The learner's share of the audit log, on the host and as the shell sees it. */
  get auditLogFile(): string {
    return join(this.workspace.dir, WORKSPACE_FILES.auditLog);
  }

  get auditLogInside(): string {
    return `${this.options.backend.workspaceInside(this.workspace)}/${WORKSPACE_FILES.auditLog}`;
  }

  /** Where the shell reads its token: `tokenFile` in the kubeconfig. */
  private get tokenInside(): string {
    return `${this.options.backend.workspaceInside(this.workspace)}/${WORKSPACE_FILES.token}`;
  }

  /** Makes the folder afresh (makeWorkspaceFolder), then fills it. */
  async create(): Promise<void> {
    const [credentials, completion] = await this.gather();
    makeWorkspaceFolder(this.options.workDir, this.workspace);
    this.write(credentials, completion);
  }

  /** Puts the learner's files into a folder made before they came (a spare sandbox's). */
  async fill(): Promise<void> {
    const [credentials, completion] = await this.gather();
    this.write(credentials, completion);
  }

  private gather() {
    const { workDir, backend } = this.options;
    return Promise.all([this.credentials(), backend.kubectl ? kubectlCompletionFile(backend.kubectl, workDir) : undefined]);
  }

  /**
   * Puts the kubeconfig, the token, the rc file and kubectl's completion into
   * the folder. Only the server can write the folder, and these names are
   * new in it, so its few small files are written straight into it, at
   * once (well under a millisecond in all, where a trip through the thread
   * pool for each step cost ten on a busy server); only renewals replace a
   * file (writeWorkspaceFile).
   */
  private write(credentials: ShellCredentials, completion: string | undefined): void {
    const { backend } = this.options;
    const { dir, gid } = this.workspace;
    const shared = gid !== undefined && process.getuid?.() === 0;
    const mode = gid !== undefined ? 0o640 : 0o600;
    const write = (name: string, content: string) => {
      const file = join(dir, name);
      writeFileSync(file, content, { mode, flag: 'wx' });
      if (shared) chownSync(file, 0, gid);
      chmodSync(file, mode);
    };
    const rc = bashrc(
      this.options.prompt,
      backend.homeInside(this.workspace),
      backend.workspaceInside(this.workspace),
      this.options.auditLog === true,
    );
    write(WORKSPACE_FILES.bashrc, rc);
    write(WORKSPACE_FILES.kubeconfig, credentials.kubeconfig);
    if (credentials.token !== undefined) write(WORKSPACE_FILES.token, credentials.token);
    if (this.options.auditLog) write(WORKSPACE_FILES.auditLog, '');
    if (completion !== undefined) linkOrCopy(completion, join(dir, WORKSPACE_FILES.completion));
  }

  private async credentials() {
    return shellCredentials(await this.options.kubeconfig(), this.tokenInside, (url) => this.options.backend.apiServer(url));
  }

  /** Renews the token every `ms` until `stop`; a renewal that fails is reported and the next one tries again. */
  renewEvery(ms: number, onError: (error: unknown) => void): void {
    clearInterval(this.renewTimer);
    this.renewTimer = setInterval(() => {
      this.renewToken().catch(onError);
    }, ms);
    this.renewTimer.unref();
  }

  /** A fresh token, into the workspace folder (never into the learner's home). */
  async renewToken(): Promise<void> {
    if (this.stopped) return;
    const { token } = await this.credentials();
    if (token !== undefined && !this.stopped) {
      await writeWorkspaceFile(this.workspace.dir, WORKSPACE_FILES.token, token, this.workspace.gid);
    }
  }

  /** No more renewals, not even one under way. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.renewTimer);
  }

  /** Removes the folder (once the shell has ended). */
  async remove(): Promise<void> {
    this.stop();
    await rm(this.workspace.dir, { recursive: true, force: true });
  }
}
