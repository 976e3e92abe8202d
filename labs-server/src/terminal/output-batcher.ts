/**
 * How a shell's output is cut into frames. Output goes out at once when the
 * shell has been quiet, so a keystroke's echo waits for nothing. A big read
 * means output is streaming (a `cat` of a big file, a `kubectl get -A`):
 * from then on, what arrives within a short window goes out as one frame,
 * so a stream costs a few hundred frames and acknowledgements a second
 * instead of thousands. The window is renewed while output keeps coming and
 * ends at the first window with nothing in it; a batch that reaches its
 * size bound goes out before its window ends.
 *
 * Copies: a batch is handed out as the reads it gathered (node-pty's own
 * buffers, not copied) and their total size, so the frame around them is
 * made in one allocation with one copy of each byte (`encode.outputOf`).
 * Every byte from the pty to the socket is copied once.
 *
 * The batcher knows nothing of sockets or ptys: it is given reads and a
 * function to send with, so its timing can be tested with fake timers.
 */

export interface BatchLimits {
  /** While output streams, what arrives within this window goes out as one frame. */
  windowMs: number;
  /** A read at least this big means output is streaming, and batching starts. */
  streamingBytes: number;
  /** A batch this big goes out at once. */
  maxBatchBytes: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { windowMs: 2, streamingBytes: 1024, maxBatchBytes: 64 * 1024 };

export class OutputBatcher {
  private readonly limits: BatchLimits;
  private readonly send: (reads: readonly Uint8Array[], bytes: number) => void;
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  private window: NodeJS.Timeout | undefined;

  constructor(send: (reads: readonly Uint8Array[], bytes: number) => void, limits: BatchLimits = DEFAULT_BATCH_LIMITS) {
    this.send = send;
    this.limits = limits;
  }

  /** Whether output is being gathered (a window is open). */
  get batching(): boolean {
    return this.window !== undefined;
  }

  /** Bytes gathered and not yet sent. */
  get pendingBytes(): number {
    return this.bytes;
  }

  /** One read from the shell. */
  push(data: Uint8Array): void {
    if (this.window) {
      this.chunks.push(data);
      this.bytes += data.length;
      if (this.bytes >= this.limits.maxBatchBytes) this.flush();
      return;
    }
    this.send([data], data.length);
    // A keystroke's echo is a few bytes; a full read means output is streaming.
    if (data.length >= this.limits.streamingBytes) this.openWindow();
  }

  /** Forgets what was gathered and ends the window (the output is kept elsewhere, e.g. for replay). */
  drop(): void {
    clearTimeout(this.window);
    this.window = undefined;
    this.chunks = [];
    this.bytes = 0;
  }

  private openWindow(): void {
    this.window = setTimeout(() => this.endWindow(), this.limits.windowMs);
  }

  /** A window closes: send what it gathered and keep batching, or go back to sending at once. */
  private endWindow(): void {
    if (this.chunks.length === 0) {
      this.window = undefined;
      return;
    }
    this.flush();
    this.openWindow();
  }

  private flush(): void {
    if (this.chunks.length === 0) return;
    const { chunks, bytes } = this;
    this.chunks = [];
    this.bytes = 0;
    this.send(chunks, bytes);
  }
}
