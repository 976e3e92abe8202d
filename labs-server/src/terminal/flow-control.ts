/**
 * End-to-end flow control. The page acknowledges output as xterm.js finishes
 * parsing it; the server counts bytes sent and not yet acknowledged, and
 * stops reading the pty above the high watermark, resuming below the low
 * one. A runaway `yes` then blocks in its own write() instead of filling the
 * server's memory or the browser's; Ctrl-C still reaches the shell at once,
 * because input never waits on output.
 *
 * The rule for clients (docs/terminal.md, "Flow control"): never hold
 * MAX_ACK_STEP bytes or more of processed output unacknowledged. A client
 * that keeps it, once it has processed all it was sent, holds less than
 * MAX_ACK_STEP, and that is all the server counts (nothing else is in
 * flight). The server reads again below `low`, which is at least
 * MAX_ACK_STEP: so whatever its step (1 byte or MAX_ACK_STEP), such a client
 * can never be left waiting for output while the server waits for an
 * acknowledgement it will never send. A client with a larger step breaks
 * the rule and may stall itself; the server still never holds more than
 * `high` plus one frame for it.
 */
import { MAX_ACK_STEP } from '../../../contract/protocol.ts';
export interface Watermarks {
  /** Reading stops once more than this is unacknowledged. */
  high: number;
  /**
   * Reading starts again once less than this is unacknowledged. No client
   * acknowledging in steps of at most `low` bytes can wedge; the default is
   * high − MAX_ACK_STEP, which is more than MAX_ACK_STEP.
   */
  low: number;
}

/** Reading stops above 256 KiB unacknowledged and starts again below 192 KiB (256 − MAX_ACK_STEP). */
export const DEFAULT_WATERMARKS: Watermarks = { high: 256 * 1024, low: 256 * 1024 - MAX_ACK_STEP };

export class FlowControl {
  private unacked = 0;
  private paused = false;
  private readonly marks: Watermarks;
  private readonly pause: () => void;
  private readonly resume: () => void;

  constructor(marks: Watermarks, pause: () => void, resume: () => void) {
    const { high, low } = marks;
    // A low watermark of 0 or less would never be reached: the first pause would be for good.
    if (!Number.isSafeInteger(high) || !Number.isSafeInteger(low) || low < 1 || low > high) {
      throw new Error(`flow control needs whole watermarks with 1 ≤ low ≤ high (got high ${high}, low ${low})`);
    }
    this.marks = marks;
    this.pause = pause;
    this.resume = resume;
  }

  get pending(): number {
    return this.unacked;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  sent(bytes: number): void {
    this.unacked += bytes;
    if (!this.paused && this.unacked > this.marks.high) {
      this.paused = true;
      this.pause();
    }
  }

  /**
   * An acknowledgement of `bytes`. Only bytes actually sent can be
   * acknowledged: a claim of more is refused (false) and changes nothing, so
   * a client cannot switch flow control off by acknowledging what it never got.
   */
  acked(bytes: number): boolean {
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > this.unacked) return false;
    this.unacked -= bytes;
    if (this.paused && this.unacked < this.marks.low) {
      this.paused = false;
      this.resume();
    }
    return true;
  }

  /** A new browser starts with nothing outstanding. */
  reset(): void {
    this.acked(this.unacked);
  }
}
