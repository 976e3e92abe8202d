/**
 * Workshop sandboxes made before anyone needs them. Starting a sandbox is
 * most of a workshop shell's way to its first prompt (the launcher,
 * `setpriv`, bubblewrap's namespaces, mounts and seccomp filter: about
 * 20 ms on a 2-core machine), and none of it depends on who the learner is.
 * So a few sandboxes wait, each with its own uid, workspace folder, control
 * group, relay and pty, its bash blocked reading the workspace's `start`
 * pipe (bubblewrap-args.ts). A learner who opens a terminal takes one: the
 * server writes their rc file, kubeconfig and token into its workspace and a
 * line into the pipe, and the sandbox copies the kubeconfig into its home
 * and becomes their bash, a few milliseconds later. Another is then made in
 * the background. When none is waiting (a burst of joins, or
 * `TERMINAL_SPARE_SHELLS=0`), one is made on the spot the same way: there is
 * one way a workshop shell starts.
 *
 * A sandbox holds nothing of a learner's before it is theirs, is taken out
 * of the pool before anything of theirs is written into it, and ends with
 * its shell: it never serves a second learner. One that ends while it waits
 * (its launcher failed) is cleaned up, and the pool waits longer after each
 * such failure before it makes another.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, closeSync, constants, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { IPty } from 'node-pty';
import type { Logger } from 'pino';
import { endSession } from './process-group.ts';
import { type ShellBackend, WORKSPACE_FILES, type Workspace } from './shell-backend.ts';
import { makeWorkspaceFolder } from './shell-home.ts';
import type { UidPool } from './uid-pool.ts';

const run = promisify(execFile);

/** The size a sandbox waits at; its learner's is set before it goes on. */
const WAITING_SIZE = { cols: 80, rows: 24 };
/** A taken sandbox is replaced this long after, so that making the next one does not compete with the shell just handed out. */
const REFILL_AFTER_MS = 250;
/** After a sandbox fails to start, the next try waits this long, doubled for each failure in a row up to a minute. */
const RETRY_BASE_MS = 1000;
/** What a sandbox that ended while it waited printed, kept for the log. */
const KEPT_OUTPUT = 2048;
/**
 * Pipes are made this many at a time, by one `mkfifo` (Node has no call
 * for it): each program started forks the server's large process on its
 * event loop, which a room of learners joining at once would feel.
 */
const PIPES_AT_ONCE = 32;

/** A sandbox handed to a learner: their files go into `workspace`, then `start()`. */
export interface SpareShell {
  readonly workspace: Workspace;
  readonly pty: IPty;
  /** Lets the sandbox go on: call once the learner's files are in its workspace and the pty listens. */
  start(): void;
}

export interface SpareShellsOptions {
  /** A backend whose shells wait for their learner (`waits`). */
  backend: ShellBackend;
  /** Where the workspace folders are made. */
  workDir: string;
  /** The manager's uids: a waiting sandbox holds one, as a live shell does. */
  uids: UidPool;
  /** Sandboxes kept waiting. */
  count: number;
  logger: Logger;
}

class Spare implements SpareShell {
  readonly workspace: Workspace;
  readonly pty: IPty;
  ended = false;
  discarded = false;
  private output = '';
  private readonly listeners: Array<{ dispose(): void }>;

  constructor(workspace: Workspace, pty: IPty, onEnd: (spare: Spare) => void) {
    this.workspace = workspace;
    this.pty = pty;
    this.listeners = [
      // A waiting sandbox prints nothing; what it does print says why it failed.
      pty.onData((data) => {
        if (this.output.length < KEPT_OUTPUT) this.output += String(data).slice(0, KEPT_OUTPUT);
      }),
      pty.onExit(() => {
        this.ended = true;
        onEnd(this);
      }),
    ];
  }

  get printed(): string {
    return this.output.trim();
  }

  /** The pool lets go of the sandbox: from now on, whoever took it owns it. */
  detach(): void {
    for (const listener of this.listeners) listener.dispose();
  }

  start(): void {
    // Read-write, so that opening never blocks and the line waits in the pipe
    // until the sandbox reads it, however late it opens the pipe. Held until
    // the shell ends: a pipe that no one holds open loses what is in it.
    const fd = openSync(join(this.workspace.dir, WORKSPACE_FILES.start), constants.O_RDWR | constants.O_NONBLOCK);
    try {
      writeSync(fd, '\n');
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    const exited = this.pty.onExit(() => {
      exited.dispose();
      closeSync(fd);
    });
  }
}

export class SpareShells {
  private readonly options: SpareShellsOptions;
  private readonly waiting: Spare[] = [];
  private making = 0;
  /** Sandboxes being made, awaited by `close`. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private serial = 0;
  private pipeSerial = 0;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Pipes made ahead, each moved into a workspace as its `start`. */
  private readonly pipes: string[] = [];
  private pipesMade: Promise<void> | undefined;

  constructor(options: SpareShellsOptions) {
    this.options = options;
  }

  /** Sandboxes waiting now. */
  get ready(): number {
    return this.waiting.length;
  }

  /** Makes sandboxes (in the background) until `count` wait or are on their way. */
  fill(): void {
    if (this.closed || this.retryTimer) return;
    while (this.waiting.length + this.making < this.options.count) {
      this.making += 1;
      this.track(this.make()).then(
        (spare) => {
          this.making -= 1;
          if (spare === undefined) return;
          if (this.closed || spare.ended) {
            void this.track(this.discard(spare));
            return;
          }
          this.waiting.push(spare);
        },
        (error: unknown) => {
          this.making -= 1;
          this.failed(error);
        },
      );
    }
  }

  /** A waiting sandbox, or one made now; undefined when no uid is left. */
  async take(): Promise<SpareShell | undefined> {
    if (this.closed) throw new Error('the server is stopping');
    const spare = this.waiting.shift();
    setTimeout(() => this.fill(), REFILL_AFTER_MS).unref();
    if (spare) {
      spare.detach();
      // It started and waited: the failures before it are over.
      this.failures = 0;
      return spare;
    }
    const made = await this.track(this.make());
    made?.detach();
    return made;
  }

  private track<T>(making: Promise<T>): Promise<T> {
    this.inFlight.add(making);
    void making.catch(() => undefined).finally(() => this.inFlight.delete(making));
    return making;
  }

  /** Ends every waiting sandbox; none is made after. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    // Those being made see `closed` and undo themselves (or are discarded by `fill`).
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    const waiting = this.waiting.splice(0);
    await Promise.all(waiting.map((spare) => this.discard(spare)));
    await this.pipesMade?.catch(() => undefined);
    await rm(this.pipesDir, { recursive: true, force: true });
  }

  private get pipesDir(): string {
    return join(this.options.workDir, '.pipes');
  }

  /** A new pipe, only the server's, in the workspaces' folder (so it can be renamed into one). */
  private async pipe(): Promise<string> {
    for (;;) {
      const pipe = this.pipes.pop();
      if (pipe) return pipe;
      this.pipesMade ??= this.makePipes().finally(() => {
        this.pipesMade = undefined;
      });
      await this.pipesMade;
    }
  }

  private async makePipes(): Promise<void> {
    // Names count from 1 in each server: none left by one before it (a crash, a folder kept) may be in the way.
    if (this.pipeSerial === 0) rmSync(this.pipesDir, { recursive: true, force: true });
    mkdirSync(this.pipesDir, { recursive: true, mode: 0o700 });
    const names = Array.from({ length: PIPES_AT_ONCE }, () => {
      this.pipeSerial += 1;
      return join(this.pipesDir, String(this.pipeSerial));
    });
    await run('mkfifo', ['-m', '0600', ...names]);
    this.pipes.push(...names);
  }

  private failed(error: unknown): void {
    if (this.closed) return;
    this.failures += 1;
    const ms = Math.min(60_000, RETRY_BASE_MS * 2 ** (this.failures - 1));
    this.options.logger.warn({ err: error, retryInMs: ms }, 'could not start a workshop sandbox ahead of time');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.fill();
    }, ms);
    this.retryTimer.unref();
  }

  /** A sandbox that ended while it waited: gone from the pool, cleaned up, and counted as a failure. */
  private ended(spare: Spare): void {
    const at = this.waiting.indexOf(spare);
    if (at >= 0) this.waiting.splice(at, 1);
    void this.discard(spare);
    this.failed(new Error(`the sandbox ended while it waited${spare.printed ? `: ${spare.printed}` : ''}`));
  }

  /**
   * A new waiting sandbox: a uid, a workspace folder (empty but for its
   * /etc files, its `start` pipe and the folder its lab's files are mirrored
   * into), what the backend prepares (control group, relay) and the spawned
   * sandbox itself.
   */
  private async make(): Promise<Spare | undefined> {
    const { backend, workDir, uids } = this.options;
    this.serial += 1;
    const id = `sandbox-${this.serial}`;
    const uid = uids.take(id);
    if (uid === undefined) return undefined;
    const workspace: Workspace = { id, dir: join(workDir, id), uid, gid: uid };
    try {
      makeWorkspaceFolder(workDir, workspace);
      const files = join(workspace.dir, WORKSPACE_FILES.files);
      mkdirSync(files, { mode: 0o750 });
      const pipe = join(workspace.dir, WORKSPACE_FILES.start);
      renameSync(await this.pipe(), pipe);
      if (process.getuid?.() === 0) {
        for (const path of [files, pipe]) chownSync(path, 0, uid);
      }
      chmodSync(files, 0o750);
      chmodSync(pipe, 0o640);
      await backend.prepare(workspace);
      if (this.closed) throw new Error('the server is stopping');
      const pty = backend.spawn(workspace, WAITING_SIZE, {});
      return new Spare(workspace, pty, (spare) => this.ended(spare));
    } catch (error) {
      try {
        await backend.release(workspace).catch(() => undefined);
        rmSync(workspace.dir, { recursive: true, force: true });
      } finally {
        uids.release(uid);
      }
      throw error;
    }
  }

  /** Ends a sandbox no learner has, and everything it held. */
  private async discard(spare: Spare): Promise<void> {
    if (spare.discarded) return;
    spare.discarded = true;
    spare.detach();
    try {
      if (!spare.ended) await endSession(spare.pty.pid);
      await this.options.backend.release(spare.workspace);
      await rm(spare.workspace.dir, { recursive: true, force: true });
    } catch (error) {
      this.options.logger.warn({ err: error, sandbox: spare.workspace.id }, 'could not clean up a waiting sandbox');
    } finally {
      if (spare.workspace.uid !== undefined) this.options.uids.release(spare.workspace.uid);
    }
  }
}
