/**
 * Errors a person can act on. Every failure the cluster tooling expects ends up
 * as a `ClusterError`: one line saying what is wrong, one saying what to do.
 * The CLI prints those two lines instead of a stack trace.
 */
import { UserError } from '../../contract/errors.ts';

export class ClusterError extends UserError {
  /** What the user can do about it, as one short sentence. */
  declare readonly hint: string;

  constructor(message: string, hint: string, options?: ErrorOptions) {
    super('cluster', message, hint, options);
  }
}
