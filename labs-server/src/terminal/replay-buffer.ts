/**
 * The recent output of a shell, for a browser that comes back: a list of
 * chunks as the pty produced them, capped in bytes by dropping whole chunks
 * from the front. Every byte has an offset (bytes ever written before it),
 * so a client that kept its screen asks only for what it missed.
 */
export class ReplayBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Offset of the first byte still held. */
  private start = 0;
  private readonly capBytes: number;

  constructor(capBytes: number) {
    this.capBytes = capBytes;
  }

  /** Offset just past the last byte written. */
  get end(): number {
    return this.start + this.size;
  }

  get bytes(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.capBytes && this.chunks.length > 1) {
      const dropped = this.chunks.shift() as Buffer;
      this.size -= dropped.length;
      this.start += dropped.length;
    }
  }

  /** The bytes from `offset` on (or from the oldest held, if that is later). */
  since(offset = 0): Buffer {
    const from = Math.max(offset, this.start);
    if (from >= this.end) return Buffer.alloc(0);
    const all = Buffer.concat(this.chunks, this.size);
    return all.subarray(from - this.start);
  }
}
