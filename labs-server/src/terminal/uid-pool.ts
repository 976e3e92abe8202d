/**
 * The uids of workshop shells. Each live shell has a uid of its own: the
 * uid is what keeps one learner's processes, files and limits (processes
 * per user) apart from another's, so two live shells must never share one.
 * A key's hash picks where to start looking, so a shell that comes back
 * after its old one ended often gets the same uid; taken uids are skipped.
 */
import { createHash } from 'node:crypto';

/** Sandbox uids: 200000–299999, one per live terminal, none of them a host account. */
export const SANDBOX_UID_BASE = 200_000;
export const SANDBOX_UID_COUNT = 100_000;

export class UidPool {
  private readonly taken = new Set<number>();
  readonly base: number;
  readonly count: number;

  constructor(base: number, count: number) {
    this.base = base;
    this.count = count;
  }

  get size(): number {
    return this.taken.size;
  }

  /** A uid no live shell has, or undefined when every one is taken. */
  take(key: string): number | undefined {
    if (this.taken.size >= this.count) return undefined;
    const start = Number.parseInt(createHash('sha256').update(key).digest('hex').slice(0, 8), 16) % this.count;
    for (let i = 0; i < this.count; i += 1) {
      const uid = this.base + ((start + i) % this.count);
      if (!this.taken.has(uid)) {
        this.taken.add(uid);
        return uid;
      }
    }
    return undefined;
  }

  release(uid: number): void {
    this.taken.delete(uid);
  }
}
