/**
 * How much of the server one session's checks may use at once. A check
 * reads the cluster, and a step verified by a script starts bash and kubectl
 * on the server's host, so a learner (or a script with their cookie) that
 * fires hundreds of checks at once must not get hundreds of them running: a
 * session runs `concurrency` at a time, the next `queue` wait their turn (so
 * a burst of clicks is still answered and recorded), and beyond that the
 * answer is 429.
 */
import { TooManyChecks } from './errors.ts';

export class PerSessionLimit {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  private readonly concurrency: number;
  private readonly queue: number;

  constructor(concurrency: number, queue: number) {
    this.concurrency = concurrency;
    this.queue = queue;
  }

  async run<T>(session: string, work: () => Promise<T>): Promise<T> {
    const running = this.running.get(session) ?? 0;
    if (running >= this.concurrency) {
      const waiting = this.waiting.get(session) ?? [];
      if (waiting.length >= this.queue) {
        throw new TooManyChecks();
      }
      this.waiting.set(session, waiting);
      // The slot of a check that ends is handed over as it is, so no newcomer slips in between.
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      this.running.set(session, running + 1);
    }
    try {
      return await work();
    } finally {
      const waiting = this.waiting.get(session);
      const next = waiting?.shift();
      if (waiting?.length === 0) this.waiting.delete(session);
      if (next) next();
      else {
        const left = (this.running.get(session) ?? 1) - 1;
        if (left > 0) this.running.set(session, left);
        else this.running.delete(session);
      }
    }
  }
}
