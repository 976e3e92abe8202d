/**
 * The HTTP side of the lab server: the built site, and the API beside it on
 * the same origin. `/healthz` reports the cluster's state so that an operator
 * (or a load balancer) sees at once when the cluster went away; `/metrics`
 * is for Prometheus (behind METRICS_TOKEN when it is set). Every answer
 * carries the security headers (http/security-headers.ts); the client's
 * address is the socket's unless TRUST_PROXY names the proxies in front.
 * Every error becomes one JSON answer (http/errors.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Express, type RequestHandler, type Router } from 'express';
import type { Logger } from 'pino';
import { projectRoot } from '../../cluster/src/paths.ts';
import type { ClusterProvider } from '../../cluster/src/provider.ts';
import type { Preparation } from '../../contract/api.ts';
import { readConfig, type ServerConfig, secureCookies, trustProxy } from './config.ts';
import { requireMetricsToken, requireOwnPage, requireSameOrigin } from './http/auth.ts';
import { errorHandler, HttpError } from './http/errors.ts';
import { securityHeaders } from './http/security-headers.ts';
import type { Metrics } from './metrics.ts';

export interface AppDeps {
  cluster: ClusterProvider;
  logger: Logger;
  /** The built site; served when it exists. */
  siteDir?: string;
  /** The learner's API, mounted on /api. */
  api?: Router;
  /** The instructor's API, mounted on /api/admin. */
  admin?: Router;
  metrics?: Metrics;
  /** Origins whose pages may change state through the API. */
  origins?: readonly string[];
  mode?: 'single' | 'workshop';
  /** The settings for TRUST_PROXY, METRICS_TOKEN and HTTPS; default: read from the environment. */
  config?: ServerConfig;
  /** While the cluster is prepared: what is being done. /healthz and the API answer 503 with it; the site is served. */
  preparing?: () => Preparation;
  /** True once the server has begun to stop: /healthz answers 503 so that a load balancer sends no one new. */
  stopping?: () => boolean;
}

/** How soon a client is told to ask again while the cluster is prepared. */
export const PREPARING_RETRY_SECONDS = 5;

/** The largest request body the API reads. */
const BODY_LIMIT = 16 * 1024;

/**
 * Refuses a body that says it is too large before reading any of it, and
 * closes the connection: body-parser would read (and wait for) all of it
 * first, so a client claiming 100 MB and sending nothing held a socket.
 */
const refuseLargeBodies: RequestHandler = (req, res, next) => {
  if (Number(req.headers['content-length'] ?? 0) > BODY_LIMIT) {
    res.setHeader('Connection', 'close');
    throw new HttpError(413, 'too_large', 'The request body is too large.', `The API reads at most ${BODY_LIMIT} bytes.`);
  }
  next();
};

export function createApp(deps: AppDeps): Express {
  const config = deps.config ?? readConfig();
  const origins = deps.origins ?? [];
  const siteDir = deps.siteDir ?? join(projectRoot, 'site', 'dist');
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', trustProxy(config));
  app.use(securityHeaders({ siteDir, origins, secure: secureCookies(config) }));

  const { preparing } = deps;
  if (preparing) {
    // Until the cluster is ready: the site is served below, and everything else says what is being prepared.
    app.get('/healthz', (_req, res) => {
      const now = preparing();
      res.status(503).json({
        ok: false,
        mode: deps.mode,
        cluster: { provider: deps.cluster.name, state: 'preparing', detail: now.detail, capabilities: deps.cluster.capabilities },
        preparing: now,
      });
    });
    app.use('/api', (_req, res) => {
      res
        .status(503)
        .set('Retry-After', String(PREPARING_RETRY_SECONDS))
        .json({
          error: 'preparing',
          message: `The cluster is being prepared: ${preparing().detail}.`,
          hint: 'The lessons can be read meanwhile; their terminals connect by themselves once it is ready.',
        });
    });
  }

  app.get('/healthz', async (_req, res) => {
    const status = await deps.cluster.status();
    const stopping = deps.stopping?.() ?? false;
    const ok = status.state === 'running' && !stopping;
    res.status(ok ? 200 : 503).json({
      ok,
      mode: deps.mode,
      cluster: { provider: status.provider, state: status.state, detail: status.detail, capabilities: deps.cluster.capabilities },
      ...(stopping ? { stopping } : {}),
    });
  });

  if (deps.metrics) {
    const { registry } = deps.metrics;
    const guard = config.METRICS_TOKEN ? [requireMetricsToken(config.METRICS_TOKEN)] : [];
    app.get('/metrics', ...guard, async (_req, res) => {
      res.type(registry.contentType).send(await registry.metrics());
    });
  }

  if (deps.api || deps.admin) {
    const api = express.Router();
    api.use(refuseLargeBodies);
    api.use(express.json({ limit: BODY_LIMIT }));
    api.use(requireSameOrigin(origins));
    // Only a page of this server may make a session (a cross-site form or script may not).
    api.post('/session', requireOwnPage(origins));
    if (deps.admin) api.use('/admin', deps.admin);
    if (deps.api) api.use(deps.api);
    api.use((req, _res, next) => {
      next(new HttpError(404, 'not_found', `There is no API endpoint ${req.method} /api${req.path}.`));
    });
    app.use('/api', api);
  }

  if (existsSync(siteDir)) {
    app.use(express.static(siteDir, { index: 'index.html', extensions: ['html'] }));
  } else {
    app.get('/', (_req, res) => {
      res
        .type('html')
        .send(
          '<!doctype html><title>Container Day Labs</title><h1>Container Day Labs</h1><p>The lab server is running; the lesson site has not been built yet.</p>',
        );
    });
  }

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'No such page or API endpoint.' });
  });
  app.use(errorHandler(deps.logger));
  return app;
}
