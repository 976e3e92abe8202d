/**
 * One learner's shell for one lab, outliving any single WebSocket: output
 * goes to the attached browser (under flow control, cut into frames by the
 * output batcher) and into a byte-capped replay buffer; a browser that
 * comes back within the grace period gets the same shell and what it
 * missed. While no browser is attached the pty is not read, so a runaway
 * command blocks instead of spinning.
 *
 * This module is the session's life and nothing else; its parts are their
 * own modules: the terminal's folder, rc file, kubeconfig and token renewal
 * (shell-home.ts), where the shell runs (shell-backend.ts), how output is
 * batched (output-batcher.ts), how input waits for the shell
 * (pty-backlog.ts), and how every process of the shell is ended
 * (process-group.ts: SIGHUP, then SIGKILL, not just bash). Everything sent
 * to the browser goes through the socket's guard (socket-guard.ts), which
 * bounds what a client that does not read can cost.
 */
import { join } from 'node:path';
import type { IPty } from 'node-pty';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { encode } from '../../../contract/protocol.ts';
import { DEFAULT_WATERMARKS, FlowControl, type Watermarks } from './flow-control.ts';
import { type BatchLimits, DEFAULT_BATCH_LIMITS, OutputBatcher } from './output-batcher.ts';
import { endSession, linuxProcesses, type ProcessTable } from './process-group.ts';
import { MAX_INPUT_BACKLOG, ptyBacklog } from './pty-backlog.ts';
import { ReplayBuffer } from './replay-buffer.ts';
import { type ShellBackend, type ShellSize, WORKSPACE_FILES } from './shell-backend.ts';
import { ShellHome } from './shell-home.ts';
import type { SocketGuard } from './socket-guard.ts';
import type { SpareShell } from './spare-shells.ts';

// The server tests find a shell's processes through this module; the scan itself is process-group.ts's.

/** Activity is reported at most this often while the learner types. */
const ACTIVITY_EVERY_MS = 10_000;
/** A window that lost its terminal to another has this long to say goodbye before it is cut. */
const TAKEOVER_GOODBYE_MS = 1000;

/** The terminal a lab has when its lesson names no other. */
export const MAIN_TAB = 'main';

/** What the server knows about the shell to start. */
export interface ShellSpec {
  sessionName: string;
  labId: string;
  /** Which of the lab's terminals (`main` unless the lesson names others). */
  tab?: string;
  /** The learner's default namespace for this lab, shown in the prompt. */
  namespace: string;
  /** A fresh kubeconfig; called at start and again before each token expires. */
  kubeconfig: () => Promise<string>;
  /** Called (at most every few seconds) while the learner types. */
  onActivity?: () => void;
  /**
   * For a lab that reads the API server's audit log: starts writing the
   * learner's share of it into `file` (audit-log.ts) and returns how to stop.
   * The shell finds the file in `$AUDIT_LOG`.
   */
  auditLog?: (file: string) => Promise<() => void>;
  /** The lab's saved files (lab-files.ts): the shell sees them read-only at ~/files. */
  filesDir?: string;
  /**
   * For a sandbox made before its learner came: keeps `into` (its own
   * folder) holding the lab's saved files (LabFiles.mirror) until the
   * returned function is called.
   */
  mirrorFiles?: (into: string) => Promise<() => void>;
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
  batch?: BatchLimits;
  /** The host's processes (a fake one in unit tests). */
  processes?: ProcessTable;
  /** A sandbox started before the learner came (spare-shells.ts): its workspace and pty become this shell's. */
  sandbox?: SpareShell;
}

/** The browser's end of a session: a socket guard, as far as the session uses one. */
export type BrowserLink = Pick<SocketGuard, 'send' | 'congested' | 'holdInput'> & { readonly socket: BrowserSocket };
export type BrowserSocket = Pick<WebSocket, 'close' | 'terminate'>;

export class PtySession {
  readonly key: string;
  readonly spec: ShellSpec;
  private readonly options: TerminalOptions;
  private readonly home: ShellHome;
  private readonly replay: ReplayBuffer;
  private readonly flow: FlowControl;
  private readonly batcher: OutputBatcher;
  private pty: IPty | undefined;
  private socket: BrowserSocket | undefined;
  private guard: BrowserLink | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private lastActivity = 0;
  /** When the shell was last without a browser: since its start, until one attaches. */
  private leftAt = Date.now();
  private readPaused = false;
  private closed = false;
  private readonly exitListeners: Array<() => void> = [];
  private markGone: () => void = () => undefined;
  private stopAuditLog: () => void = () => undefined;
  private stopMirror: () => void = () => undefined;
  /** Resolves once the shell has ended and everything it left is cleaned up. */
  readonly gone = new Promise<void>((resolve) => {
    this.markGone = resolve;
  });

  constructor(key: string, spec: ShellSpec, options: TerminalOptions) {
    this.key = key;
    this.spec = spec;
    this.options = options;
    this.home = new ShellHome({
      backend: options.backend,
      workDir: options.workDir,
      key,
      ...(options.identity ? { identity: options.identity } : {}),
      kubeconfig: spec.kubeconfig,
      prompt: { labId: spec.labId, namespace: spec.namespace, ...(spec.tab && spec.tab !== MAIN_TAB ? { tab: spec.tab } : {}) },
      auditLog: spec.auditLog !== undefined,
      ...(spec.filesDir ? { filesDir: spec.filesDir } : {}),
      ...(options.sandbox ? { workspace: options.sandbox.workspace } : {}),
    });
    this.replay = new ReplayBuffer(options.replayBytes);
    this.flow = new FlowControl(
      options.watermarks ?? DEFAULT_WATERMARKS,
      () => this.setReading(false),
      () => this.setReading(true),
    );
    this.batcher = new OutputBatcher((reads, bytes) => this.sendOutput(reads, bytes), options.batch ?? DEFAULT_BATCH_LIMITS);
  }

  get pid(): number | undefined {
    return this.pty?.pid;
  }

  get attached(): boolean {
    return this.socket !== undefined;
  }

  /** When the last browser left this shell (or it ended); undefined while one shows it. */
  get detachedAt(): number | undefined {
    return this.socket === undefined || this.closed ? this.leftAt : undefined;
  }

  /** The shell has ended (or is being ended): a browser gets a new one, once this one is `gone`. */
  get ended(): boolean {
    return this.closed;
  }

  isAttached(socket: BrowserSocket): boolean {
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
    const { backend, sandbox } = this.options;
    const t0 = performance.now();
    const { workspace } = this.home;
    // Before anything is awaited, a waiting sandbox is this session's: its end and what it prints reach this
    // session whenever they come, and if the start fails, close() ends the sandbox too.
    if (sandbox) this.listen(sandbox.pty);
    const env: Record<string, string> = { KUBECONFIG: this.home.kubeconfigInside };
    // The sandbox's own folder holds the lab's saved files before it starts, and each save after it once answered.
    const [, stopMirror] = await Promise.all([
      sandbox ? this.home.fill() : this.home.create(),
      sandbox && this.spec.mirrorFiles ? this.mirror(this.spec.mirrorFiles, join(workspace.dir, WORKSPACE_FILES.files)) : undefined,
    ]);
    if (stopMirror) this.stopMirror = stopMirror;
    if (this.spec.auditLog) {
      this.stopAuditLog = await this.spec.auditLog(this.home.auditLogFile);
      env.AUDIT_LOG = this.home.auditLogInside;
    }
    const t1 = performance.now();
    if (!sandbox) await backend.prepare(workspace);
    const t2 = performance.now();
    // Ended meanwhile (the sandbox died, or the terminal was closed): nothing may start after close() has run.
    if (this.closed) {
      this.stopMirror();
      this.stopAuditLog();
      throw new Error('the shell ended before it started');
    }
    if (sandbox) sandbox.pty.resize(size.cols, size.rows);
    else this.listen(backend.spawn(workspace, size, env));
    const ms = (from: number, to: number) => Math.round((to - from) * 10) / 10;
    this.options.logger.debug(
      {
        terminal: this.key,
        sandboxAhead: sandbox !== undefined,
        folderMs: ms(t0, t1),
        prepareMs: ms(t1, t2),
        spawnMs: ms(t2, performance.now()),
      },
      'shell started',
    );
    this.home.renewEvery(this.options.renewMs, (error) =>
      this.options.logger.warn({ err: error, terminal: this.key }, 'could not renew the terminal token'),
    );
    this.setReading(false);
    // Everything the sandbox reads is in its workspace: it may go on.
    sandbox?.start();
  }

  /** The shell's pty: its output and its end are this session's. */
  private listen(pty: IPty): void {
    this.pty = pty;
    // node-pty hands out Buffers when spawned with `encoding: null`, whatever its typings say.
    pty.onData((data) => this.output(data as unknown as Buffer));
    pty.onExit(({ exitCode, signal }) => {
      this.sendFrame(encode.exit({ code: exitCode, ...(signal ? { signal } : {}) }));
      this.socket?.close(1000, 'the shell ended');
      void this.close();
    });
  }

  /** Mirrors the lab's saved files into `into`; a failure is logged, and the shell starts without them. */
  private mirror(mirrorFiles: (into: string) => Promise<() => void>, into: string): Promise<(() => void) | undefined> {
    return mirrorFiles(into).catch((error: unknown) => {
      this.options.logger.warn({ err: error, terminal: this.key }, "could not put the lab's saved files in the shell");
      return undefined;
    });
  }

  /** A read from the pty: kept for replay, and sent when a browser is attached. */
  private output(data: Buffer): void {
    this.replay.push(data);
    if (this.socket) this.batcher.push(data);
  }

  /** One output frame of these reads: one allocation, one copy of each byte. */
  private sendOutput(reads: readonly Uint8Array[], bytes: number): void {
    this.sendFrame(encode.outputOf(reads, bytes));
    this.flow.sent(bytes);
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
  attach(guard: BrowserLink, since: number | undefined, size: ShellSize | undefined): void {
    const { socket } = guard;
    if (this.closed) {
      socket.close(1011, 'the shell has ended');
      return;
    }
    clearTimeout(this.graceTimer);
    // What was gathered for the old browser is in the replay buffer.
    this.batcher.drop();
    const previous = this.socket;
    this.socket = socket;
    this.guard = guard;
    previous?.close(4001, 'this terminal was opened in another window');
    // It has a moment to say goodbye; a client that does not is cut.
    if (previous) setTimeout(() => previous.terminate(), TAKEOVER_GOODBYE_MS).unref();
    if (size) this.resize(size.cols, size.rows);
    const resumed = this.replay.end > 0;
    const replayed = this.replay.since(since ?? 0);
    this.flow.reset();
    this.sendFrame(encode.ready({ resumed, replayedBytes: replayed.length, offset: this.replay.end - replayed.length }));
    if (replayed.length > 0) this.sendOutput([replayed], replayed.length);
    this.setReading(true);
  }

  /** The browser went away: keep the shell for the grace period. */
  detach(socket: BrowserSocket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.leftAt = Date.now();
    this.guard = undefined;
    this.batcher.drop();
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
  congestion(guard: BrowserLink): void {
    if (guard === this.guard) this.setReading(true);
  }

  input(data: Uint8Array): void {
    if (!this.pty) return;
    this.pty.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const pty = this.pty;
    if (ptyBacklog(pty) > MAX_INPUT_BACKLOG) this.guard?.holdInput(() => ptyBacklog(pty) <= MAX_INPUT_BACKLOG / 2);
    const now = Date.now();
    if (now - this.lastActivity > ACTIVITY_EVERY_MS) {
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
    this.home.stop();
    this.stopAuditLog();
    this.stopMirror();
    this.batcher.drop();
    const pid = this.pty?.pid;
    try {
      if (pid !== undefined) await endSession(pid, this.options.processes ?? linuxProcesses);
      this.socket?.close(1000, 'the terminal was closed');
      this.socket = undefined;
      this.guard = undefined;
      await this.options.backend.release(this.home.workspace);
      await this.home.remove();
    } catch (error) {
      this.options.logger.warn({ err: error, terminal: this.key }, 'could not clean up after a terminal');
    } finally {
      for (const listener of this.exitListeners) listener();
      this.markGone();
    }
  }
}
