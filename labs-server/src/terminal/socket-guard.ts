/**
 * Bounds on what one browser's socket can cost the server, whatever the
 * client does. Flow control (flow-control.ts) keeps an honest page from
 * being flooded; this keeps a hostile client from flooding the server:
 *
 * - Frames queued for a client that does not read (`bufferedAmount`) are
 *   bounded: past the bound the socket is congested: the shell's output
 *   stops being read and the client's input is no longer read either, and a
 *   socket still congested after a grace period is closed. The shell lives
 *   on; the page reconnects and gets what it missed from the replay buffer.
 * - Error replies to bad frames are rate-limited (a token bucket), and a
 *   client that keeps sending bad frames is disconnected.
 * - Input is not read from the socket while the shell has not taken the
 *   input already given to it, so typing into a shell that does not read
 *   (a `sleep`, a stopped job) cannot grow the server's write queue.
 */
import type { WebSocket } from 'ws';
import { encode } from '../../../contract/protocol.ts';

export interface GuardLimits {
  /** Frames queued for the client beyond this make the socket congested. */
  maxBufferedBytes: number;
  /** A socket congested for this long is closed. */
  drainTimeoutMs: number;
  /** Error replies sent at once, then `errorsPerSecond`. */
  errorBurst: number;
  errorsPerSecond: number;
  /** Bad frames beyond the error budget before the socket is closed. */
  maxIgnoredBadFrames: number;
}

export const DEFAULT_GUARD_LIMITS: GuardLimits = {
  maxBufferedBytes: 1024 * 1024,
  drainTimeoutMs: 10_000,
  errorBurst: 20,
  errorsPerSecond: 5,
  maxIgnoredBadFrames: 200,
};

/** WebSocket close code for a client that broke the protocol's rules (RFC 6455: policy violation). */
export const CLOSE_POLICY = 1008;
const OPEN = 1;
const CHECK_MS = 100;
/** How long a client that broke a rule has to answer the close. */
const CLOSE_HANDSHAKE_MS = 1000;

export class SocketGuard {
  readonly socket: WebSocket;
  private readonly limits: GuardLimits;
  private readonly onCongestion: (congested: boolean) => void;
  private congestedSince = 0;
  private congestionTimer: NodeJS.Timeout | undefined;
  private inputHold: NodeJS.Timeout | undefined;
  private tokens: number;
  private refilledAt = Date.now();
  private ignored = 0;

  constructor(socket: WebSocket, onCongestion: (congested: boolean) => void, limits: GuardLimits = DEFAULT_GUARD_LIMITS) {
    this.socket = socket;
    this.limits = limits;
    this.onCongestion = onCongestion;
    this.tokens = limits.errorBurst;
    socket.once('close', () => this.dispose());
  }

  get congested(): boolean {
    return this.congestedSince > 0;
  }

  /** Sends a frame; the socket turns congested when its queue passes the bound. */
  send(frame: Uint8Array): void {
    if (this.socket.readyState !== OPEN) return;
    this.socket.send(frame);
    if (!this.congested && this.socket.bufferedAmount > this.limits.maxBufferedBytes) this.congest();
  }

  private congest(): void {
    this.congestedSince = Date.now();
    this.socket.pause();
    this.onCongestion(true);
    this.congestionTimer = setInterval(() => {
      if (this.socket.readyState !== OPEN) return this.dispose();
      if (this.socket.bufferedAmount <= this.limits.maxBufferedBytes / 2) {
        clearInterval(this.congestionTimer);
        this.congestionTimer = undefined;
        this.congestedSince = 0;
        if (!this.inputHold) this.socket.resume();
        this.onCongestion(false);
      } else if (Date.now() - this.congestedSince > this.limits.drainTimeoutMs) {
        // It cannot be told politely: its queue is full. The shell stays.
        this.socket.terminate();
        this.dispose();
      }
    }, CHECK_MS);
  }

  /** Answers a bad frame, within the error budget; a client that keeps at it is disconnected. */
  refuse(code: string, message: string): void {
    const now = Date.now();
    this.tokens = Math.min(this.limits.errorBurst, this.tokens + ((now - this.refilledAt) / 1000) * this.limits.errorsPerSecond);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.send(encode.error(code, message));
      return;
    }
    this.ignored += 1;
    if (this.ignored > this.limits.maxIgnoredBadFrames) this.violation('too many invalid frames');
  }

  /**
   * Ends the connection for a broken rule; the shell stays for the next one.
   * A client that breaks rules may not answer the closing handshake either
   * (it may not read at all), so the connection is cut soon after.
   */
  violation(reason: string): void {
    if (this.socket.readyState !== OPEN) return;
    // Nothing more it sends is read (a flood would otherwise still be parsed until the connection goes).
    this.socket.pause();
    this.send(encode.error('protocol_violation', reason));
    this.socket.close(CLOSE_POLICY, reason);
    setTimeout(() => this.socket.terminate(), CLOSE_HANDSHAKE_MS).unref();
  }

  /** Stops reading the client's input until `ready()` says the shell has taken what it was given. */
  holdInput(ready: () => boolean): void {
    if (this.inputHold) return;
    this.socket.pause();
    this.inputHold = setInterval(() => {
      if (this.socket.readyState !== OPEN) return this.dispose();
      if (!ready()) return;
      clearInterval(this.inputHold);
      this.inputHold = undefined;
      if (!this.congested) this.socket.resume();
    }, 20);
  }

  dispose(): void {
    clearInterval(this.congestionTimer);
    clearInterval(this.inputHold);
    this.congestionTimer = undefined;
    this.inputHold = undefined;
  }
}
