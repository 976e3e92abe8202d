/**
 * Karpenter for the labs that need it: started beside the cluster when such
 * a lab starts, not before (the first time it is built, which takes minutes,
 * and a learner who never opens the lab should not pay for it). The start
 * that finds it not ready yet is refused with how far its preparation is,
 * and the preparation goes on in the background; a later start finds it
 * running. Each start asks again, so a Karpenter that stopped is started anew.
 */
import type { Logger } from 'pino';
import type { Log, UpProgress } from '../../../cluster/src/provider.ts';
import { amount } from '../preparing.ts';

/** How long a start waits for Karpenter before it answers "still being prepared". */
const WAIT_MS = 5_000;

export class KarpenterAddOn {
  private task: Promise<void> | undefined;
  private running = false;
  private detail = 'starting';
  private readonly add: (log: Log, progress: (progress: UpProgress) => void) => Promise<void>;
  private readonly logger: Logger;

  constructor(add: (log: Log, progress: (progress: UpProgress) => void) => Promise<void>, logger: Logger) {
    this.add = add;
    this.logger = logger;
  }

  /** Whether Karpenter runs now; starts (or builds) it in the background when it does not. */
  async ready(waitMs = WAIT_MS): Promise<boolean> {
    this.task ??= this.prepare();
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
    });
    await Promise.race([this.task, waited]).finally(() => clearTimeout(timer));
    return this.running;
  }

  /** What a learner is told while it is not ready: how far its preparation is, or why it failed. */
  status(): string {
    return this.detail;
  }

  private async prepare(): Promise<void> {
    this.running = false;
    try {
      await this.add(
        (line) => {
          this.detail = line.trim();
          this.logger.info({ addOn: 'karpenter' }, line.trim());
        },
        (progress) => {
          this.detail = `${progress.action} ${progress.part}: ${amount(progress)}`;
        },
      );
      this.running = true;
      this.detail = 'running';
    } catch (error) {
      this.detail = `it could not be started: ${error instanceof Error ? error.message : String(error)}`;
      this.logger.error({ err: error, addOn: 'karpenter' }, 'Karpenter could not be started');
    } finally {
      this.task = undefined;
    }
  }
}
