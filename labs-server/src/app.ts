/**
 * The HTTP side of the lab server: the built site, and the API beside it on
 * the same origin. `/healthz` reports the cluster's state so that an operator
 * (or a load balancer) sees at once when the cluster went away.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type ErrorRequestHandler, type Express } from 'express';
import type { Logger } from 'pino';
import { projectRoot } from '../../cluster/src/paths.ts';
import type { ClusterProvider } from '../../cluster/src/provider.ts';

export interface AppDeps {
  cluster: ClusterProvider;
  logger: Logger;
  /** The built site; served when it exists. */
  siteDir?: string;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', async (_req, res) => {
    const status = await deps.cluster.status();
    res.status(status.state === 'running' ? 200 : 503).json({
      ok: status.state === 'running',
      cluster: { provider: status.provider, state: status.state, detail: status.detail, capabilities: deps.cluster.capabilities },
    });
  });

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

  const onError: ErrorRequestHandler = (error, req, res, _next) => {
    deps.logger.error({ err: error, path: req.path }, 'request failed');
    if (res.headersSent) return;
    res.status(500).json({ error: 'internal', message: 'The server could not answer this request; the error is in its log.' });
  };
  app.use(onError);
  return app;
}
