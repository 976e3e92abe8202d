/**
 * The output batcher's timing and copies, on fake timers: a quiet shell's
 * output goes out at once, a stream is gathered per window, a full batch
 * does not wait for its window, and a batch is handed out as the very reads
 * it gathered (the frame around them is their one copy).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeServerFrame, encode } from '../../contract/protocol.ts';
import { type BatchLimits, DEFAULT_BATCH_LIMITS, OutputBatcher } from '../../labs-server/src/terminal/output-batcher.ts';

const LIMITS: BatchLimits = { windowMs: 2, streamingBytes: 1024, maxBatchBytes: 4096 };

function bytes(length: number, fill = 0x61): Buffer {
  return Buffer.alloc(length, fill);
}

function recorder(limits = LIMITS) {
  const sent: Uint8Array[] = [];
  const batches: Array<readonly Uint8Array[]> = [];
  const batcher = new OutputBatcher((reads, total) => {
    expect(total).toBe(reads.reduce((sum, read) => sum + read.length, 0));
    batches.push(reads);
    sent.push(reads.length === 1 ? (reads[0] as Uint8Array) : Buffer.concat(reads, total));
  }, limits);
  return { sent, batches, batcher };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('the output batcher', () => {
  it('has the documented defaults: 2 ms windows, streaming from 1 KiB reads, 64 KiB batches', () => {
    expect(DEFAULT_BATCH_LIMITS).toEqual({ windowMs: 2, streamingBytes: 1024, maxBatchBytes: 64 * 1024 });
  });

  it("sends a quiet shell's output at once, the very buffer it was given, and opens no window", () => {
    const { sent, batcher } = recorder();
    const echo = Buffer.from('k');
    batcher.push(echo);
    batcher.push(bytes(LIMITS.streamingBytes - 1));
    expect(sent).toHaveLength(2);
    expect(sent[0]).toBe(echo);
    expect(batcher.batching).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sends the first big read at once, then gathers what comes within the window into one frame', () => {
    const { sent, batcher } = recorder();
    batcher.push(bytes(LIMITS.streamingBytes, 0x31));
    expect(sent).toHaveLength(1);
    expect(batcher.batching).toBe(true);
    batcher.push(bytes(100, 0x32));
    batcher.push(bytes(200, 0x33));
    expect(sent).toHaveLength(1);
    expect(batcher.pendingBytes).toBe(300);
    vi.advanceTimersByTime(LIMITS.windowMs - 1);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sent).toHaveLength(2);
    expect(Buffer.from(sent[1] as Uint8Array)).toEqual(Buffer.concat([bytes(100, 0x32), bytes(200, 0x33)]));
    expect(batcher.pendingBytes).toBe(0);
    // A window that gathered something opens the next one.
    expect(batcher.batching).toBe(true);
  });

  it('goes back to sending at once after a window with nothing in it', () => {
    const { sent, batcher } = recorder();
    batcher.push(bytes(LIMITS.streamingBytes));
    batcher.push(bytes(10));
    vi.advanceTimersByTime(LIMITS.windowMs);
    expect(sent).toHaveLength(2);
    vi.advanceTimersByTime(LIMITS.windowMs);
    expect(batcher.batching).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    const echo = Buffer.from('x');
    batcher.push(echo);
    expect(sent).toHaveLength(3);
    expect(sent[2]).toBe(echo);
  });

  it('sends a batch as soon as it reaches its size bound, without waiting for the window', () => {
    const { sent, batcher } = recorder();
    batcher.push(bytes(LIMITS.streamingBytes));
    batcher.push(bytes(LIMITS.maxBatchBytes - 1));
    expect(sent).toHaveLength(1);
    batcher.push(bytes(1));
    expect(sent).toHaveLength(2);
    expect(sent[1]?.length).toBe(LIMITS.maxBatchBytes);
    // The window still runs: what comes next waits for it.
    batcher.push(bytes(5));
    expect(sent).toHaveLength(2);
    vi.advanceTimersByTime(LIMITS.windowMs);
    expect(sent.map((s) => s.length)).toEqual([LIMITS.streamingBytes, LIMITS.maxBatchBytes, 5]);
  });

  it('hands out a batch as the very reads it gathered, and its frame holds them in one copy', () => {
    const { batches, batcher } = recorder();
    batcher.push(bytes(LIMITS.streamingBytes));
    const parts = [bytes(10, 0x41), bytes(20, 0x42), bytes(30, 0x43)];
    for (const part of parts) batcher.push(part);
    vi.advanceTimersByTime(LIMITS.windowMs);
    const batch = batches[1] ?? [];
    expect(batch).toHaveLength(3);
    for (const [i, read] of batch.entries()) expect(read).toBe(parts[i]);
    const frame = encode.outputOf(batch, 60);
    expect(frame.byteLength).toBe(61);
    expect(decodeServerFrame(frame)).toEqual({ type: 'output', data: new Uint8Array(Buffer.concat(parts)) });
    for (const part of parts) expect(frame.buffer).not.toBe(part.buffer);
  });

  it('drops what it gathered and its window (the replay buffer keeps the output)', () => {
    const { sent, batcher } = recorder();
    batcher.push(bytes(LIMITS.streamingBytes));
    batcher.push(bytes(50));
    batcher.drop();
    expect(batcher.batching).toBe(false);
    expect(batcher.pendingBytes).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(100);
    expect(sent).toHaveLength(1);
  });

  it('keeps every byte, in order, across a long stream', () => {
    const { sent, batcher } = recorder();
    const reads: Buffer[] = [];
    for (let i = 0; i < 200; i += 1) {
      const read = bytes(1 + ((i * 977) % 3000), 0x20 + (i % 90));
      reads.push(read);
      batcher.push(read);
      if (i % 7 === 0) vi.advanceTimersByTime(1);
    }
    vi.advanceTimersByTime(10);
    expect(Buffer.concat(sent)).toEqual(Buffer.concat(reads));
    expect(sent.length).toBeLessThan(reads.length);
    for (const frame of sent) expect(frame.length).toBeLessThan(LIMITS.maxBatchBytes + 3000);
  });
});
