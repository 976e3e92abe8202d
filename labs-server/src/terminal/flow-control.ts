/**
 * End-to-end flow control. The page acknowledges output as xterm.js finishes
 * parsing it; the server counts bytes sent and not yet acknowledged, and
 * stops reading the pty above the high watermark, resuming below the low
 * one. A runaway `yes` then blocks in its own write() instead of filling the
 * server's memory or the browser's; Ctrl-C still reaches the shell at once,
 * because input never waits on output.
 */
export interface Watermarks {
  high: number;
  low: number;
}

export const DEFAULT_WATERMARKS: Watermarks = { high: 256 * 1024, low: 32 * 1024 };

export class FlowControl {
  private unacked = 0;
  private paused = false;
  private readonly marks: Watermarks;
  private readonly pause: () => void;
  private readonly resume: () => void;

  constructor(marks: Watermarks, pause: () => void, resume: () => void) {
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
