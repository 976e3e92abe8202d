/**
 * How much input a shell has not taken yet. The socket's input waits while
 * this is high (socket-guard.ts `holdInput`), so typing into a shell that
 * does not read cannot grow the server's memory. node-pty keeps the bytes
 * written and not yet taken by the pty in its write stream's queue and has
 * no public way to tell; this is the one place that reads that private
 * field, and a unit test pins it to the node-pty version in the lockfile.
 */
import type { IPty } from 'node-pty';

/** Input given to the pty and not yet taken by the shell, beyond which the socket's input waits. */
export const MAX_INPUT_BACKLOG = 256 * 1024;

/** node-pty's queue of writes not yet taken by the pty (its one private field this module reads). */
export function ptyWriteQueue(pty: IPty): Array<{ buffer: Buffer; offset: number }> | undefined {
  const queue = (pty as unknown as { _writeStream?: { _writeQueue?: unknown } })._writeStream?._writeQueue;
  return Array.isArray(queue) ? queue : undefined;
}

/** Bytes written to the pty and not yet taken by the shell. */
export function ptyBacklog(pty: IPty): number {
  return (ptyWriteQueue(pty) ?? []).reduce((sum, task) => sum + task.buffer.length - task.offset, 0);
}
