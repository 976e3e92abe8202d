/**
 * Errors a person can act on. Every failure the cluster tooling expects ends up
 * as a `ClusterError`: one line saying what is wrong, one saying what to do.
 * The CLI prints those two lines instead of a stack trace.
 */
export class ClusterError extends Error {
  override readonly name = 'ClusterError';
  /** What the user can do about it, as one short sentence. */
  readonly hint: string;

  constructor(message: string, hint: string, options?: ErrorOptions) {
    super(message, options);
    this.hint = hint;
  }
}
