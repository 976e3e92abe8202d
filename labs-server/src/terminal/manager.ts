/**
 * The terminals of this server: one shell per (session, lab), found again by
 * a browser that reconnects, limited per session and in total, and counted
 * in the metrics, with every gauge brought down in `finally` whatever way a
 * terminal ends. Each shell of a backend with separate users gets a uid no
 * other live shell has. A backend whose shells wait for their learner
 * (workshop sandboxes) has a few of them started ahead (spare-shells.ts).
 *
 * A socket gets its error and close handlers before anything is awaited:
 * `ws` reports a bad frame (invalid UTF-8, an oversized frame, a reserved
 * opcode) as an 'error' event, and an error event with no listener would
 * end the whole process, every learner's shell with it.
 */
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { decodeClientFrame } from '../../../contract/protocol.ts';
import type { Metrics } from '../metrics.ts';
import type { Watermarks } from './flow-control.ts';
import { MAIN_TAB, PtySession, type ShellSpec } from './pty-session.ts';
import type { ShellBackend, ShellSize } from './shell-backend.ts';
import { DEFAULT_GUARD_LIMITS, type GuardLimits, SocketGuard } from './socket-guard.ts';
import { SpareShells } from './spare-shells.ts';
import { SANDBOX_UID_BASE, SANDBOX_UID_COUNT, UidPool } from './uid-pool.ts';

export interface TerminalManagerOptions {
  backend: ShellBackend;
  /** Where each terminal's workspace folder is made (a folder of the server's). */
  workDir: string;
  metrics: Metrics;
  logger: Logger;
  /** How long a shell waits for its browser to come back. */
  graceMs: number;
  /** Output kept for a reconnecting browser. Default 256 KiB. */
  replayBytes?: number;
  /** How often the shell's kubeconfig is renewed. Default 20 minutes. */
  renewMs?: number;
  /**
   * Shells of one session, shown or waiting for their browser to come back;
   * for one more, the one left longest ago ends. Default 10: a learner who
   * clicks through ten lessons finds the first one's shell still there.
   */
  maxPerSession?: number;
  maxTotal?: number;
  watermarks?: Watermarks;
  guard?: GuardLimits;
  /** Sandboxes started ahead for the next learners, with a backend whose shells wait (`waits`). Default 2. */
  spares?: number;
}

/** The terminals of a server, whoever owns their shells: this server (TerminalManager) or agents (agent-relay.ts). */
export interface Terminals {
  /** Terminals open on this server. */
  readonly size: number;
  /** Wires a browser's WebSocket to the shell for `spec` (a new one, or the one it left). */
  attach(socket: WebSocket, spec: ShellSpec, since: number | undefined, size: ShellSize): Promise<void>;
  /** Ends every shell of a session (it ended, or its sandbox was removed). */
  closeSession(sessionName: string): Promise<void>;
  /** This server is stopping. */
  closeAll(): Promise<void>;
}

/** One shell per session, lab and tab; the session's name comes first, so its shells share a prefix. */
function terminalKey(sessionName: string, labId: string, tab: string): string {
  return `${sessionName}/${labId}/${tab}`;
}

export class TerminalLimitError extends Error {
  override readonly name = 'TerminalLimitError';
}

export class TerminalManager implements Terminals {
  private readonly terminals = new Map<string, Promise<PtySession>>();
  private readonly uids = new UidPool(SANDBOX_UID_BASE, SANDBOX_UID_COUNT);
  private readonly options: TerminalManagerOptions;
  private readonly spares: SpareShells | undefined;

  constructor(options: TerminalManagerOptions) {
    this.options = options;
    if (options.backend.waits) {
      this.spares = new SpareShells({
        backend: options.backend,
        workDir: options.workDir,
        uids: this.uids,
        count: options.spares ?? 2,
        logger: options.logger,
      });
      this.spares.fill();
    }
  }

  /** Sandboxes waiting for the next learners. */
  get sparesReady(): number {
    return this.spares?.ready ?? 0;
  }

  get size(): number {
    return this.terminals.size;
  }

  /** The live shell of a session's lab (for tests and the bench). */
  find(sessionName: string, labId: string, tab = MAIN_TAB): Promise<PtySession> | undefined {
    return this.terminals.get(terminalKey(sessionName, labId, tab));
  }

  private async ensure(spec: ShellSpec, size: ShellSize): Promise<PtySession> {
    const key = terminalKey(spec.sessionName, spec.labId, spec.tab ?? MAIN_TAB);
    const existing = this.terminals.get(key);
    if (existing) {
      const session = await existing;
      if (!session.ended) return session;
      // The learner typed `exit` and opens the terminal again: a new shell, once the old one is cleaned up.
      await session.gone;
      return this.ensure(spec, size);
    }
    const { maxPerSession = 10, maxTotal = 500 } = this.options;
    const mine = [...this.terminals.entries()].filter(([k]) => k.startsWith(`${spec.sessionName}/`)).map(([, terminal]) => terminal);
    if (mine.length >= maxPerSession) {
      // Moving on to another lesson never waits for the shells left behind: the one left longest ago ends now.
      const shells = (await Promise.all(mine.map((terminal) => terminal.catch(() => undefined)))).filter((s) => s !== undefined);
      if (await this.endLeastRecentlyUsed(shells)) return this.ensure(spec, size);
      // A WebSocket's close reason carries at most 123 bytes: short, and it says what to do.
      throw new TerminalLimitError(
        `${maxPerSession} terminals of yours are open in other tabs, the most one session may have. Close one and reload.`,
      );
    }
    if (this.terminals.size >= maxTotal) throw new TerminalLimitError('this server has as many terminals as it can take');
    const started = this.open(key, spec, size);
    this.terminals.set(key, started);
    // A shell that never started leaves no entry behind (one that started and failed has removed its own).
    started.catch(() => {
      if (this.terminals.get(key) === started) this.terminals.delete(key);
    });
    return started;
  }

  private async open(key: string, spec: ShellSpec, size: ShellSize): Promise<PtySession> {
    const sandbox = this.spares ? await this.spares.take() : undefined;
    const uid = sandbox ? sandbox.workspace.uid : this.options.backend.separateUsers ? this.uids.take(key) : undefined;
    if (this.options.backend.separateUsers && uid === undefined) throw new TerminalLimitError('this server has no sandbox uid left');
    const session = new PtySession(key, spec, {
      backend: this.options.backend,
      workDir: this.options.workDir,
      ...(uid !== undefined ? { identity: { uid, gid: uid } } : {}),
      ...(sandbox ? { sandbox } : {}),
      logger: this.options.logger,
      graceMs: this.options.graceMs,
      replayBytes: this.options.replayBytes ?? 256 * 1024,
      renewMs: this.options.renewMs ?? 20 * 60_000,
      ...(this.options.watermarks ? { watermarks: this.options.watermarks } : {}),
    });
    this.options.metrics.terminalsOpen.inc();
    session.onExit(() => {
      this.terminals.delete(key);
      if (uid !== undefined) this.uids.release(uid);
      this.options.metrics.terminalsOpen.dec();
    });
    try {
      await session.start(size);
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }

  /**
   * Ends the session's shell that no browser shows and that was left the
   * longest ago (its lab's sandbox stays as it is), and waits until it is
   * gone; false when a browser shows every one of them.
   */
  private async endLeastRecentlyUsed(shells: readonly PtySession[]): Promise<boolean> {
    const idle = shells.filter((shell) => shell.detachedAt !== undefined).sort((a, b) => (a.detachedAt ?? 0) - (b.detachedAt ?? 0))[0];
    if (!idle) return false;
    await idle.close();
    await idle.gone;
    return true;
  }

  /** Wires a WebSocket to the (new or existing) shell for `spec`. */
  async attach(socket: WebSocket, spec: ShellSpec, since: number | undefined, size: ShellSize): Promise<void> {
    // Before anything is awaited: a frame `ws` rejects is an 'error' event on this socket.
    let gone = false;
    const onGone = () => {
      gone = true;
    };
    socket.on('error', (error) => {
      this.options.logger.info({ err: error, session: spec.sessionName, lab: spec.labId }, 'terminal socket error');
      onGone();
    });
    socket.on('close', onGone);
    let session: PtySession | undefined;
    const guard = new SocketGuard(socket, () => session?.congestion(guard), this.options.guard ?? DEFAULT_GUARD_LIMITS);
    // Frames that come while the shell starts wait for it (the socket is paused, so they stay in the kernel).
    socket.pause();
    try {
      session = await this.ensure(spec, size);
    } catch (error) {
      guard.dispose();
      // The caller closes the socket; the close handshake needs its frames read.
      socket.resume();
      throw error;
    }
    if (gone || socket.readyState !== 1) {
      // The browser left while its shell was starting: the shell waits for it as after any detach.
      guard.dispose();
      session.detachIfIdle();
      return;
    }
    const { metrics } = this.options;
    metrics.terminalsAttached.inc();
    let attached = true;
    const started = session;
    const detach = () => {
      if (!attached) return;
      attached = false;
      guard.dispose();
      try {
        started.detach(socket);
      } finally {
        metrics.terminalsAttached.dec();
      }
    };
    socket.on('close', detach);
    socket.on('error', detach);
    socket.on('message', (data, isBinary) => {
      // Whatever one connection's frame does, it cannot end the process.
      try {
        // A window that another one took the terminal from types nothing more.
        if (!started.isAttached(socket)) return;
        if (!isBinary) return guard.refuse('text_frame', 'frames must be binary');
        const frame = decodeClientFrame(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]));
        switch (frame.type) {
          case 'input':
            started.input(frame.data);
            break;
          case 'resize':
            started.resize(frame.cols, frame.rows);
            break;
          case 'ack':
            if (!started.acknowledge(frame.bytes)) guard.violation('acknowledged more output than was sent');
            break;
          case 'invalid':
            guard.refuse('bad_frame', frame.reason);
            break;
        }
      } catch (error) {
        this.options.logger.warn({ err: error, session: spec.sessionName, lab: spec.labId }, 'a terminal frame failed');
        socket.close(1011, 'the frame could not be handled');
      }
    });
    started.attach(guard, since, size);
    socket.resume();
  }

  /** Closes every terminal of a session (it ended, or its sandbox was removed). */
  async closeSession(sessionName: string): Promise<void> {
    const mine = [...this.terminals.entries()].filter(([key]) => key.startsWith(`${sessionName}/`));
    await Promise.all(mine.map(async ([, terminal]) => (await terminal.catch(() => undefined))?.close()));
  }

  async closeAll(): Promise<void> {
    await Promise.all([
      this.spares?.close(),
      ...[...this.terminals.values()].map(async (terminal) => (await terminal.catch(() => undefined))?.close()),
    ]);
  }
}
