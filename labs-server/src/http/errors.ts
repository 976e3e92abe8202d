/**
 * Every error a request can meet becomes one JSON answer with a status, a
 * machine-readable code and a sentence for people. One middleware answers,
 * exactly once; the server never crashes on a bad request. A bad request is
 * the client's fault, whoever noticed it (our code, zod, body-parser, the
 * router decoding a path): it gets its 4xx and at most a debug line in the
 * log, so a fuzzer cannot fill the log with errors. Only the server's own
 * failures are 5xx and logged as errors.
 *
 * Domain errors (labs/errors.ts) get their status here, at the edge;
 * `HttpError` is for what only the HTTP layer knows (a missing cookie, a
 * wrong access code, an origin refused).
 */
import { ApiException } from '@kubernetes/client-node';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { isStatus } from '../../../cluster/src/kube.ts';
import { describeIssues, UserError } from '../../../contract/errors.ts';
import { statusOf } from '../labs/errors.ts';

export class HttpError extends UserError {
  readonly status: number;

  constructor(status: number, code: string, message: string, hint?: string, options?: ErrorOptions) {
    super(code, message, hint, options);
    this.status = status;
  }
}

export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} does not exist.`);

/** The answer to a user error: its status, or (for a domain error) the one the domain's edge mapping gives it. */
export function userErrorStatus(error: UserError): number {
  return error instanceof HttpError ? error.status : (statusOf(error) ?? 400);
}

/** The JSON body of an error answer. */
export function errorBody(error: UserError): { error: string; message: string; hint?: string } {
  return { error: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
}

/** Network-level failures reaching the API server: the cluster went away. */
function clusterUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown; cause?: { code?: unknown } }).cause?.code ?? (error as { code?: unknown }).code;
  return typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|UND_ERR_\w+)$/.test(code);
}

/** What body-parser's error types mean, for a learner or a program to read. */
const CLIENT_ERRORS: Record<string, { code: string; message: string }> = {
  'entity.parse.failed': { code: 'invalid_request', message: 'The request body is not valid JSON.' },
  'entity.too.large': { code: 'too_large', message: 'The request body is too large.' },
  'charset.unsupported': { code: 'unsupported_charset', message: 'The request body must be UTF-8 encoded.' },
  'encoding.unsupported': {
    code: 'unsupported_encoding',
    message: 'The request body is in a content encoding this server does not accept.',
  },
  'request.aborted': { code: 'request_aborted', message: 'The request ended before its body did.' },
  'request.size.invalid': { code: 'invalid_request', message: 'The request body is not as long as its Content-Length says.' },
  'parameters.too.many': { code: 'too_large', message: 'The request has too many parameters.' },
};

/**
 * An error that Express, the router or body-parser raised for a bad request:
 * it carries a 4xx `status` or `statusCode` (a malformed `%` escape in a path
 * is a URIError with status 400; an unsupported charset is 415).
 */
function clientError(error: unknown): { status: number; code: string; message: string; type?: string } | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode, type } = error as { status?: unknown; statusCode?: unknown; type?: unknown };
  const given = typeof status === 'number' ? status : statusCode;
  if (typeof given !== 'number' || !Number.isInteger(given) || given < 400 || given > 499) return undefined;
  const known = typeof type === 'string' ? CLIENT_ERRORS[type] : undefined;
  if (known) return { status: given, ...known, type: type as string };
  if (error instanceof URIError) return { status: given, code: 'invalid_request', message: 'The address has a malformed % escape.' };
  return { status: given, code: 'invalid_request', message: 'The request is not valid.' };
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    if (res.headersSent) {
      logger.warn({ err: error, path: req.path }, 'error after the response started');
      return;
    }
    if (error instanceof UserError) {
      res.status(userErrorStatus(error)).json(errorBody(error));
      return;
    }
    if (isStatus(error, 404)) {
      // Something the request needed was removed meanwhile (a sandbox ending, a reset).
      res.status(409).json({
        error: 'gone',
        message: 'Something this request needs was removed from the cluster meanwhile.',
        hint: 'Start the lab again.',
      });
      return;
    }
    if (error instanceof ZodError) {
      res.status(400).json({ error: 'invalid_request', message: `The request is not valid: ${describeIssues(error, { root: 'body' })}.` });
      return;
    }
    const client = clientError(error);
    if (client) {
      logger.debug({ status: client.status, type: client.type, method: req.method }, 'bad request');
      res.status(client.status).json({ error: client.code, message: client.message });
      return;
    }
    // 429 too: the API server sheds load (or is still starting its caches).
    if (clusterUnreachable(error) || (error instanceof ApiException && (error.code >= 500 || error.code === 429))) {
      logger.error({ err: error, path: req.path }, 'cluster unavailable');
      res.status(503).json({
        error: 'cluster_unavailable',
        message: 'The Kubernetes cluster does not answer right now.',
        hint: 'Try again in a moment; the instructor can check /healthz.',
      });
      return;
    }
    logger.error({ err: error, path: req.path }, 'request failed');
    res.status(500).json({ error: 'internal', message: 'The server could not answer this request; the error is in its log.' });
  };
}
