/**
 * The lab server assembled: on a running cluster, make sure the LabSession
 * type and the platform's namespace exist, read (or create) the admin token
 * and access code, then serve the site, the API and the terminals on one
 * port and keep the sessions tidy. Nothing lives only in this process: a
 * restarted server picks up every session from the cluster.
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { loadKubeConfig } from '../../cluster/src/kube.ts';
import type { ClusterProvider } from '../../cluster/src/provider.ts';
import { createApp } from './app.ts';
import { allowedOrigins, type ServerConfig, secureCookies } from './config.ts';
import { adminApi } from './http/admin-api.ts';
import { learnerApi } from './http/learner-api.ts';
import type { LabCatalog } from './labs/catalog.ts';
import { LabService } from './labs/service.ts';
import { listen } from './listen.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { type PlatformSecrets, platformSecrets } from './platform-secrets.ts';
import { startReaper } from './reaper.ts';
import { Sandboxes } from './sandbox/provision.ts';
import { ensureCrd } from './sessions/crd.ts';
import { SessionStore } from './sessions/store.ts';

export interface LabServerOptions {
  config: ServerConfig;
  cluster: ClusterProvider;
  catalog: LabCatalog;
  logger: Logger;
  siteDir?: string;
}

export interface LabServer {
  server: Server;
  /** The address people open. */
  url: string;
  secrets: PlatformSecrets;
  metrics: Metrics;
  close(): Promise<void>;
}

export async function startLabServer(options: LabServerOptions): Promise<LabServer> {
  const { config, cluster, catalog, logger } = options;
  const kc = loadKubeConfig(cluster.kubeconfig);
  await ensureCrd(kc);
  const sandboxes = new Sandboxes(kc);
  await sandboxes.ensureSystemNamespace();
  const secrets = await platformSecrets(kc, { adminToken: config.CDL_ADMIN_TOKEN, accessCode: config.CDL_ACCESS_CODE });

  const ttlMs = config.SESSION_TTL_MINUTES * 60_000;
  const store = new SessionStore(kc, { ttlMs });
  const metrics = createMetrics();
  const mode = config.CDL_MODE;
  const labs = new LabService({ kc, catalog, store, sandboxes, metrics, capabilities: cluster.capabilities, mode });
  const origins = allowedOrigins(config);
  const app = createApp({
    cluster,
    logger,
    metrics,
    origins,
    mode,
    ...(options.siteDir ? { siteDir: options.siteDir } : {}),
    api: learnerApi({
      mode,
      store,
      labs,
      metrics,
      ttlMs,
      secureCookies: secureCookies(config),
      accessCode: () => secrets.accessCode,
    }),
    admin: adminApi({ store, labs, adminToken: () => secrets.adminToken }),
  });
  const server = await listen(app, config.PORT, config.HOST);
  const stopReaper = startReaper({ store, sandboxes, labs, metrics, logger, idleMs: config.SESSION_IDLE_MINUTES * 60_000 });

  const host = config.HOST === '0.0.0.0' || config.HOST === '127.0.0.1' ? 'localhost' : config.HOST;
  return {
    server,
    url: `http://${host}:${config.PORT}/`,
    secrets,
    metrics,
    async close() {
      stopReaper();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
