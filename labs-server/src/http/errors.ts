/**
 * Every error a request can meet becomes one JSON answer with a status, a
 * machine-readable code and a sentence for people. One middleware answers,
 * exactly once; the server never crashes on a bad request. A bad request is
 * the client's fault, whoever noticed it (our code, zod, body-parser, the
 * router decoding a path): it gets its 4xx and at most a debug line in the
 * log, so a fuzzer cannot fill the log with errors. Only the server's own
 * failures are 5xx and logged as errors.
 */
import { ApiException } from '@kubernetes/client-node';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly status: number;
  readonly code: string;
  readonly hint: string | undefined;

  constructor(status: number, code: string, message: string, hint?: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} does not exist.`);

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
    if (error instanceof HttpError) {
      res.status(error.status).json({ error: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) });
      return;
    }
    if ((error as Error).name === 'SessionNotFoundError') {
      // The session ended while this request was on its way (another tab left, the instructor ended it).
      // Known by name: the session store imports this module, so this one does not import it back.
      res.status(401).json({ error: 'no_session', message: 'This session has ended.', hint: 'Join again from the home page.' });
      return;
    }
    if (error instanceof ApiException && error.code === 404) {
      // Something the request needed was removed meanwhile (a sandbox ending, a reset).
      res.status(409).json({
        error: 'gone',
        message: 'Something this request needs was removed from the cluster meanwhile.',
        hint: 'Start the lab again.',
      });
      return;
    }
    if (error instanceof ZodError) {
      const problems = error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      res.status(400).json({ error: 'invalid_request', message: `The request is not valid: ${problems}.` });
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
