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
 * Copies: each batch is handed out as one contiguous Uint8Array. A batch of
 * one read is that read itself (node-pty's own buffer, not copied); a batch
 * of several is copied once, into a buffer of exactly its size. The frame
 * around it (encode.output) is the only other copy.
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
  private readonly send: (data: Uint8Array) => void;
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  private window: NodeJS.Timeout | undefined;

  constructor(send: (data: Uint8Array) => void, limits: BatchLimits = DEFAULT_BATCH_LIMITS) {
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
    this.send(data);
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
    const data = this.chunks.length === 1 ? (this.chunks[0] as Uint8Array) : Buffer.concat(this.chunks, this.bytes);
    this.chunks = [];
    this.bytes = 0;
    this.send(data);
  }
}
