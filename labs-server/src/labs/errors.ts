/**
 * What can go wrong with a learner's lab, in the domain's words. The service
 * throws these; the edges decide what they mean on the wire (the HTTP API in
 * http/errors.ts, the terminal's upgrade in terminal/ws.ts, both through
 * `statusOf`), so the domain never speaks HTTP.
 */
import { UserError } from '../../../contract/errors.ts';

/** No lab (or no step of a lab) by that id. */
export class LabNotFound extends UserError {
  constructor(labId: string, stepId?: string) {
    super('not_found', stepId ? `The step "${stepId}" of the lab "${labId}" does not exist.` : `The lab "${labId}" does not exist.`);
  }
}

/** The cluster serves no such kind (the editor asked for its schema). */
export class KindNotFound extends UserError {
  constructor(apiVersion: string, kind: string) {
    super('kind_not_found', `The cluster serves no kind ${kind} in ${apiVersion}.`, '`kubectl api-resources` lists the kinds it serves.');
  }
}

/** The lab cannot run here (no real containers, a shared cluster, a cluster not the platform's own). */
export class LabUnavailable extends UserError {
  constructor(reason: string) {
    super('lab_unavailable', reason);
  }
}

export class LabNotStarted extends UserError {
  constructor(labId: string) {
    super('lab_not_started', `The lab "${labId}" has not been started in this session.`, 'Start the lab first.');
  }
}

/** Another server (or request) is building the lab's sandbox right now. */
export class LabBusy extends UserError {
  constructor(labId: string, doing: 'set up' | 'reset') {
    super('lab_busy', `The lab "${labId}" is being ${doing} right now.`, 'Try again in a moment.');
  }
}

/** The session already runs as many checks as it may, with as many waiting. */
export class TooManyChecks extends UserError {
  constructor() {
    super('too_many_checks', 'This session is already running as many checks as it may.', 'Wait for the answers, then check again.');
  }
}

/** The session ended while a request for it was on its way (another tab left, the instructor ended it). */
export class SessionNotFound extends UserError {
  readonly sessionName: string;
  constructor(sessionName: string) {
    super('no_session', 'This session has ended.', 'Join again from the home page.');
    this.sessionName = sessionName;
  }
}

/** Another writer kept changing the session: this change was not applied. */
export class SessionConflict extends UserError {
  readonly sessionName: string;
  constructor(sessionName: string, options?: ErrorOptions) {
    super(
      'conflict',
      'Your session was being changed by several requests at once, and this change could not be saved.',
      'Try again in a moment.',
      options,
    );
    this.sessionName = sessionName;
  }
}

/** The HTTP status each domain error answers with; undefined for an error that is not the client's to read. */
export function statusOf(error: unknown): number | undefined {
  if (error instanceof LabNotFound || error instanceof KindNotFound) return 404;
  if (error instanceof SessionNotFound) return 401;
  if (error instanceof TooManyChecks) return 429;
  if (error instanceof LabUnavailable || error instanceof LabNotStarted || error instanceof LabBusy || error instanceof SessionConflict) {
    return 409;
  }
  return undefined;
}
