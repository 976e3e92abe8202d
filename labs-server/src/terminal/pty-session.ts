/**
 * One learner's shell for one lab, outliving any single WebSocket: output
 * goes to the attached browser (under flow control) and into a byte-capped
 * replay buffer; a browser that comes back within the grace period gets the
 * same shell and what it missed. While no browser is attached the pty is not
 * read, so a runaway command blocks instead of spinning.
 *
 * The terminal's workspace folder (the server's, read-only to the shell)
 * holds the rc file, the first kubeconfig and the learner's short-lived
 * token, renewed on a timer while the shell lives (credentials.ts); it is
 * removed with the shell. Closing ends every process of the shell's session
 * (SIGHUP, then SIGKILL), not just bash. Everything sent to the browser goes
 * through the socket's guard (socket-guard.ts), which bounds what a client
 * that does not read can cost.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { IPty } from 'node-pty';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { shellCredentials, writeWorkspaceFile } from './credentials.ts';
import { DEFAULT_WATERMARKS, FlowControl, type Watermarks } from './flow-control.ts';
import { encode } from '../../../contract/protocol.ts';
import { ReplayBuffer } from './replay-buffer.ts';
import { type ShellBackend, type ShellSize, WORKSPACE_FILES, type Workspace } from './shell.ts';
import type { SocketGuard } from './socket-guard.ts';

/** While output streams, what arrives within this window goes out as one frame. */
const BATCH_WINDOW_MS = 2;
/** A read at least this big means output is streaming, and batching starts. */
const STREAMING_CHUNK_BYTES = 1024;
/** A batch this big goes out at once. */
const BATCH_MAX_BYTES = 64 * 1024;
/** Input given to the pty and not yet taken by the shell, beyond which the socket's input waits. */
const MAX_INPUT_BACKLOG = 256 * 1024;

/**
 * Bytes written to the pty and not yet taken by the shell. node-pty keeps
 * them in its write stream's queue and has no public way to tell; a unit
 * test pins this to the node-pty version in the lockfile.
 */
export function ptyBacklog(pty: IPty): number {
  return (ptyWriteQueue(pty) ?? []).reduce((sum, task) => sum + task.buffer.length - task.offset, 0);
}

/** node-pty's queue of writes not yet taken by the pty (its one private field this module reads). */
export function ptyWriteQueue(pty: IPty): Array<{ buffer: Buffer; offset: number }> | undefined {
  const queue = (pty as unknown as { _writeStream?: { _writeQueue?: unknown } })._writeStream?._writeQueue;
  return Array.isArray(queue) ? queue : undefined;
}

/** What the server knows about the shell to start. */
export interface ShellSpec {
  sessionName: string;
  labId: string;
  /** The learner's default namespace for this lab, shown in the prompt. */
  namespace: string;
  /** A fresh kubeconfig; called at start and again before each token expires. */
  kubeconfig: () => Promise<string>;
  /** Called (at most every few seconds) while the learner types. */
  onActivity?: () => void;
}

export interface TerminalOptions {
  backend: ShellBackend;
  /** The folder of the server's where each terminal's workspace folder is made. */
  workDir: string;
  /** The uid and gid of this shell (a backend with separate users); none of another live shell's. */
  identity?: { uid: number; gid: number };
  logger: Logger;
  graceMs: number;
  replayBytes: number;
  renewMs: number;
  watermarks?: Watermarks;
}

/** Every pid whose session id is `sid` (from /proc; Linux only). */
export function sessionMembers(sid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[3]) === sid) members.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return members;
}

/** Whether `pid` still runs (a zombie, dead but not yet reaped, does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Sends `sig` to every process of session `sid` and waits up to `ms` for
 * them to end. /proc is scanned once per call (a scan reads every process's
 * stat, costly with hundreds of shells); the wait then checks only those pids.
 */
async function signalSession(sid: number, sig: NodeJS.Signals, ms: number): Promise<void> {
  let alive = sessionMembers(sid);
  for (const pid of alive) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + ms;
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    alive = alive.filter(running);
  }
}

export class PtySession {
  readonly key: string;
  readonly spec: ShellSpec;
  private readonly options: TerminalOptions;
  private readonly replay: ReplayBuffer;
  private readonly flow: FlowControl;
  private pty: IPty | undefined;
  private socket: WebSocket | undefined;
  private guard: SocketGuard | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private workspace: Workspace | undefined;
  private tokenPath = '';
  private lastActivity = 0;
  private readPaused = false;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly exitListeners: Array<() => void> = [];

  constructor(key: string, spec: ShellSpec, options: TerminalOptions) {
    this.key = key;
    this.spec = spec;
    this.options = options;
    this.replay = new ReplayBuffer(options.replayBytes);
    this.flow = new FlowControl(
      options.watermarks ?? DEFAULT_WATERMARKS,
      () => this.setReading(false),
      () => this.setReading(true),
    );
  }

  get pid(): number | undefined {
    return this.pty?.pid;
  }

  get attached(): boolean {
    return this.socket !== undefined;
  }

  isAttached(socket: WebSocket): boolean {
    return this.socket === socket;
  }

  /** Bytes sent to the browser and not yet acknowledged. */
  get unacknowledged(): number {
    return this.flow.pending;
  }

  get bufferedBytes(): number {
    return this.replay.bytes;
  }

  onExit(listener: () => void): void {
    this.exitListeners.push(listener);
  }

  async start(size: ShellSize): Promise<void> {
    const { backend, workDir, identity } = this.options;
    const id = this.key.replace(/[^a-z0-9-]/g, '_');
    const dir = join(workDir, id);
    await mkdir(workDir, { recursive: true, mode: 0o700 });
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: 0o700 });
    this.workspace = { id, dir, uid: identity?.uid, gid: identity?.gid };
    // The shell's group may read its workspace (through the sandbox's read-only bind); no one may write it.
    if (identity && process.getuid?.() === 0) {
      await chown(dir, 0, identity.gid);
      await chmod(dir, 0o750);
    }
    const inside = backend.workspaceInside(this.workspace);
    this.tokenPath = `${inside}/${WORKSPACE_FILES.token}`;
    const credentials = await this.credentials();
    await writeWorkspaceFile(dir, WORKSPACE_FILES.kubeconfig, credentials.kubeconfig, identity?.gid);
    if (credentials.token !== undefined) await writeWorkspaceFile(dir, WORKSPACE_FILES.token, credentials.token, identity?.gid);
    await writeWorkspaceFile(dir, WORKSPACE_FILES.bashrc, bashrc(this.spec, backend.homeInside(this.workspace)), identity?.gid);
    await backend.prepare(this.workspace);
    const pty = backend.spawn(this.workspace, size, { KUBECONFIG: `${backend.homeInside(this.workspace)}/.kube/config` });
    this.pty = pty;
    pty.onData((data) => this.output(data as unknown as Buffer));
    pty.onExit(({ exitCode, signal }) => {
      this.sendFrame(encode.exit({ code: exitCode, ...(signal ? { signal } : {}) }));
      this.socket?.close(1000, 'the shell ended');
      void this.close();
    });
    this.renewTimer = setInterval(() => {
      this.renewToken().catch((error: unknown) =>
        this.options.logger.warn({ err: error, terminal: this.key }, 'could not renew the terminal token'),
      );
    }, this.options.renewMs);
    this.renewTimer.unref();
    this.setReading(false);
  }

  private async credentials() {
    const { backend } = this.options;
    return shellCredentials(await this.spec.kubeconfig(), this.tokenPath, (url) => backend.apiServer(url));
  }

  /** A fresh token, into the workspace folder (never into the learner's home). */
  private async renewToken(): Promise<void> {
    if (!this.workspace || this.closed) return;
    const { token } = await this.credentials();
    if (token !== undefined && !this.closed) {
      await writeWorkspaceFile(this.workspace.dir, WORKSPACE_FILES.token, token, this.workspace.gid);
    }
  }

  /**
   * Output goes out at once when the shell has been quiet (a keystroke's
   * echo waits for nothing); while it streams, what arrives within a short
   * window goes out as one frame, so a `cat` of a big file costs a few
   * hundred frames and acknowledgements a second instead of thousands.
   */
  private output(data: Buffer): void {
    this.replay.push(data);
    if (!this.socket) return;
    if (this.batchTimer) {
      this.batch.push(data);
      this.batchBytes += data.length;
      if (this.batchBytes >= BATCH_MAX_BYTES) this.flushBatch();
      return;
    }
    this.sendOutput(data);
    // A keystroke's echo is a few bytes; a full read means output is streaming.
    if (data.length >= STREAMING_CHUNK_BYTES) this.batchTimer = setTimeout(() => this.endBatchWindow(), BATCH_WINDOW_MS);
  }

  private sendOutput(data: Buffer): void {
    this.sendFrame(encode.output(data));
    this.flow.sent(data.length);
  }

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    const data = this.batch.length === 1 ? (this.batch[0] as Buffer) : Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    this.sendOutput(data);
  }

  /** A window closes: send what it gathered and keep batching, or go back to sending at once. */
  private endBatchWindow(): void {
    if (this.batch.length === 0) {
      this.batchTimer = undefined;
      return;
    }
    this.flushBatch();
    this.batchTimer = setTimeout(() => this.endBatchWindow(), BATCH_WINDOW_MS);
  }

  /** Drops a batch (it is in the replay buffer) when the browser changes. */
  private dropBatch(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.batch = [];
    this.batchBytes = 0;
  }

  private sendFrame(frame: Uint8Array): void {
    this.guard?.send(frame);
  }

  /** Reads the pty only while a browser is attached and keeping up. */
  private setReading(on: boolean): void {
    const want = on && this.socket !== undefined && !this.flow.isPaused && !this.guard?.congested;
    if (!this.pty || want === !this.readPaused) return;
    this.readPaused = !want;
    if (want) this.pty.resume();
    else this.pty.pause();
  }

  /** Attaches a browser, replacing any other; replays output from `since`. */
  attach(guard: SocketGuard, since: number | undefined, size: ShellSize | undefined): void {
    const { socket } = guard;
    if (this.closed) {
      socket.close(1011, 'the shell has ended');
      return;
    }
    clearTimeout(this.graceTimer);
    this.dropBatch();
    const previous = this.socket;
    this.socket = socket;
    this.guard = guard;
    previous?.close(4001, 'this terminal was opened in another window');
    // It has a second to say goodbye; a client that does not is cut.
    if (previous) setTimeout(() => previous.terminate(), 1000).unref();
    if (size) this.resize(size.cols, size.rows);
    const resumed = this.replay.end > 0;
    const replayed = this.replay.since(since ?? 0);
    this.flow.reset();
    this.sendFrame(encode.ready({ resumed, replayedBytes: replayed.length, offset: this.replay.end - replayed.length }));
    if (replayed.length > 0) {
      this.sendFrame(encode.output(replayed));
      this.flow.sent(replayed.length);
    }
    this.setReading(true);
  }

  /** The browser went away: keep the shell for the grace period. */
  detach(socket: WebSocket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.guard = undefined;
    this.dropBatch();
    this.setReading(false);
    this.detachIfIdle();
  }

  /** A shell with no browser (one left while it started) waits the grace period, then ends. */
  detachIfIdle(): void {
    if (this.socket || this.closed) return;
    clearTimeout(this.graceTimer);
    this.graceTimer = setTimeout(() => void this.close(), this.options.graceMs);
    this.graceTimer.unref();
  }

  /** The socket's guard says when its congestion starts and ends. */
  congestion(guard: SocketGuard): void {
    if (guard === this.guard) this.setReading(true);
  }

  input(data: Uint8Array): void {
    if (!this.pty) return;
    this.pty.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const pty = this.pty;
    if (ptyBacklog(pty) > MAX_INPUT_BACKLOG) this.guard?.holdInput(() => ptyBacklog(pty) <= MAX_INPUT_BACKLOG / 2);
    const now = Date.now();
    if (now - this.lastActivity > 10_000) {
      this.lastActivity = now;
      this.spec.onActivity?.();
    }
  }

  /** Output the page has processed; false when it claims more than it was sent (a protocol error). */
  acknowledge(bytes: number): boolean {
    return this.flow.acked(bytes);
  }

  resize(cols: number, rows: number): void {
    if (!this.closed) this.pty?.resize(cols, rows);
  }

  /** Ends the shell and everything it started; safe to call twice, and never rejects (what fails is logged). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.graceTimer);
    clearInterval(this.renewTimer);
    this.dropBatch();
    const pid = this.pty?.pid;
    try {
      if (pid !== undefined) {
        await signalSession(pid, 'SIGHUP', 1000);
        // Whatever ignored the hangup, or started meanwhile.
        await signalSession(pid, 'SIGKILL', 2000);
      }
      this.socket?.close(1000, 'the terminal was closed');
      this.socket = undefined;
      this.guard = undefined;
      if (this.workspace) {
        await this.options.backend.release(this.workspace);
        await rm(this.workspace.dir, { recursive: true, force: true });
      }
    } catch (error) {
      this.options.logger.warn({ err: error, terminal: this.key }, 'could not clean up after a terminal');
    } finally {
      for (const listener of this.exitListeners) listener();
    }
  }
}

function bashrc(spec: ShellSpec, home: string): string {
  return `# The workshop shell: your kubeconfig reaches your own sandbox only.
export KUBECONFIG=${home}/.kube/config
if [ -f ${home}/.bashrc ]; then . ${home}/.bashrc; fi
PS1='\\[\\e[1;32m\\]learner\\[\\e[0m\\]@\\[\\e[1;34m\\]${spec.labId}\\[\\e[0m\\] (${spec.namespace}) \\w $ '
alias k=kubectl
if command -v kubectl >/dev/null; then
  source <(kubectl completion bash 2>/dev/null)
  complete -o default -F __start_kubectl k
fi
cd "${home}"
`;
}
