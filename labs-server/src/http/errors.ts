/**
 * Every error a request can meet becomes one JSON answer with a status, a
 * machine-readable code and a sentence for people. One middleware answers,
 * exactly once; the server never crashes on a bad request.
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
    if (error instanceof ZodError) {
      const problems = error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      res.status(400).json({ error: 'invalid_request', message: `The request is not valid: ${problems}.` });
      return;
    }
    if ((error as { type?: string }).type === 'entity.parse.failed' || (error as { type?: string }).type === 'entity.too.large') {
      res.status(400).json({ error: 'invalid_request', message: 'The request body is not valid JSON or is too large.' });
      return;
    }
    if (clusterUnreachable(error) || (error instanceof ApiException && error.code >= 500)) {
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
