/**
 * The terminals of this server: one shell per (session, lab), found again by
 * a browser that reconnects, limited per session and in total, and counted
 * in the metrics, with every gauge brought down in `finally` whatever way a
 * terminal ends.
 */
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Metrics } from '../metrics.ts';
import type { Watermarks } from './flow-control.ts';
import { decodeClientFrame, encode } from './protocol.ts';
import { PtySession, type ShellSpec } from './pty-session.ts';
import type { ShellBackend, ShellSize } from './shell.ts';

export interface TerminalManagerOptions {
  backend: ShellBackend;
  homesDir: string;
  metrics: Metrics;
  logger: Logger;
  /** How long a shell waits for its browser to come back. */
  graceMs: number;
  /** Output kept for a reconnecting browser. Default 256 KiB. */
  replayBytes?: number;
  /** How often the shell's kubeconfig is renewed. Default 20 minutes. */
  renewMs?: number;
  maxPerSession?: number;
  maxTotal?: number;
  watermarks?: Watermarks;
}

export class TerminalLimitError extends Error {
  override readonly name = 'TerminalLimitError';
}

export class TerminalManager {
  private readonly terminals = new Map<string, Promise<PtySession>>();
  private readonly options: TerminalManagerOptions;

  constructor(options: TerminalManagerOptions) {
    this.options = options;
  }

  get size(): number {
    return this.terminals.size;
  }

  /** The live shell of a session's lab (for tests and the bench). */
  find(sessionName: string, labId: string): Promise<PtySession> | undefined {
    return this.terminals.get(`${sessionName}/${labId}`);
  }

  private ensure(spec: ShellSpec, size: ShellSize): Promise<PtySession> {
    const key = `${spec.sessionName}/${spec.labId}`;
    const existing = this.terminals.get(key);
    if (existing) return existing;
    const { maxPerSession = 4, maxTotal = 500 } = this.options;
    const mine = [...this.terminals.keys()].filter((k) => k.startsWith(`${spec.sessionName}/`)).length;
    if (mine >= maxPerSession) throw new TerminalLimitError(`at most ${maxPerSession} terminals per session`);
    if (this.terminals.size >= maxTotal) throw new TerminalLimitError('this server has as many terminals as it can take');
    const session = new PtySession(key, spec, {
      backend: this.options.backend,
      homesDir: this.options.homesDir,
      logger: this.options.logger,
      graceMs: this.options.graceMs,
      replayBytes: this.options.replayBytes ?? 256 * 1024,
      renewMs: this.options.renewMs ?? 20 * 60_000,
      ...(this.options.watermarks ? { watermarks: this.options.watermarks } : {}),
    });
    const started = (async () => {
      this.options.metrics.terminalsOpen.inc();
      session.onExit(() => {
        this.terminals.delete(key);
        this.options.metrics.terminalsOpen.dec();
      });
      try {
        await session.start(size);
      } catch (error) {
        await session.close();
        throw error;
      }
      return session;
    })();
    this.terminals.set(key, started);
    return started;
  }

  /** Wires a WebSocket to the (new or existing) shell for `spec`. */
  async attach(socket: WebSocket, spec: ShellSpec, since: number | undefined, size: ShellSize): Promise<void> {
    const session = await this.ensure(spec, size);
    const { metrics } = this.options;
    metrics.terminalsAttached.inc();
    let attached = true;
    const detach = () => {
      if (!attached) return;
      attached = false;
      try {
        session.detach(socket);
      } finally {
        metrics.terminalsAttached.dec();
      }
    };
    socket.on('close', detach);
    socket.on('error', detach);
    socket.on('message', (data, isBinary) => {
      if (!isBinary) {
        socket.send(encode.error('text_frame', 'frames must be binary'));
        return;
      }
      const frame = decodeClientFrame(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]));
      switch (frame.type) {
        case 'input':
          session.input(frame.data);
          break;
        case 'resize':
          session.resize(frame.cols, frame.rows);
          break;
        case 'ack':
          session.acknowledge(frame.bytes);
          break;
        case 'invalid':
          socket.send(encode.error('bad_frame', frame.reason));
          break;
      }
    });
    session.attach(socket, since, size);
  }

  /** Closes every terminal of a session (it ended, or its sandbox was removed). */
  async closeSession(sessionName: string): Promise<void> {
    const mine = [...this.terminals.entries()].filter(([key]) => key.startsWith(`${sessionName}/`));
    await Promise.all(mine.map(async ([, terminal]) => (await terminal.catch(() => undefined))?.close()));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.terminals.values()].map(async (terminal) => (await terminal.catch(() => undefined))?.close()));
  }
}
