/**
 * The HTTP side of the lab server: the built site, and the API beside it on
 * the same origin. `/healthz` reports the cluster's state so that an operator
 * (or a load balancer) sees at once when the cluster went away; `/metrics`
 * is for Prometheus. Every error becomes one JSON answer (http/errors.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Express, type Router } from 'express';
import type { Logger } from 'pino';
import { projectRoot } from '../../cluster/src/paths.ts';
import type { ClusterProvider } from '../../cluster/src/provider.ts';
import { requireSameOrigin } from './http/auth.ts';
import { errorHandler, HttpError } from './http/errors.ts';
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
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', async (_req, res) => {
    const status = await deps.cluster.status();
    res.status(status.state === 'running' ? 200 : 503).json({
      ok: status.state === 'running',
      mode: deps.mode,
      cluster: { provider: status.provider, state: status.state, detail: status.detail, capabilities: deps.cluster.capabilities },
    });
  });

  if (deps.metrics) {
    const { registry } = deps.metrics;
    app.get('/metrics', async (_req, res) => {
      res.type(registry.contentType).send(await registry.metrics());
    });
  }

  if (deps.api || deps.admin) {
    const api = express.Router();
    api.use(express.json({ limit: '16kb' }));
    api.use(requireSameOrigin(deps.origins ?? []));
    if (deps.admin) api.use('/admin', deps.admin);
    if (deps.api) api.use(deps.api);
    api.use((req, _res, next) => {
      next(new HttpError(404, 'not_found', `There is no API endpoint ${req.method} /api${req.path}.`));
    });
    app.use('/api', api);
  }

  const siteDir = deps.siteDir ?? join(projectRoot, 'site', 'dist');
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
