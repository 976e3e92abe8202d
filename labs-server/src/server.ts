/**
 * The lab server assembled: on a running cluster, make sure the LabSession
 * type and the platform's namespace exist, read (or create) the admin token
 * and access code, then serve the site, the API and the terminals on one
 * port and keep the sessions tidy. Nothing lives only in this process: a
 * restarted server picks up every session from the cluster.
 */
import { rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ClusterError } from '../../cluster/src/errors.ts';
import { loadKubeConfig } from '../../cluster/src/kube.ts';
import { findKubectl } from '../../cluster/src/kubectl.ts';
import type { ClusterProvider } from '../../cluster/src/provider.ts';
import type { LabCatalog } from '../../contract/catalog.ts';
import { defaultNamespace, realNamespaces, type SandboxNamespaces } from '../../contract/sandbox.ts';
import { createApp } from './app.ts';
import { AuditLog } from './audit-log.ts';
import { allowedOrigins, type ServerConfig, secureCookies } from './config.ts';
import { adminApi } from './http/admin-api.ts';
import { sessionToken } from './http/auth.ts';
import { learnerApi } from './http/learner-api.ts';
import { KarpenterAddOn } from './labs/karpenter.ts';
import { LabService } from './labs/service.ts';
import { listen } from './listen.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { type PlatformSecrets, platformSecrets } from './platform-secrets.ts';
import { startReaper } from './reaper.ts';
import { Sandboxes } from './sandbox/provision.ts';
import { ensureCrd } from './sessions/crd.ts';
import { SessionStore } from './sessions/store.ts';
import { type AgentLocator, AgentRelay } from './terminal/agent-relay.ts';
import { BubblewrapShell } from './terminal/bubblewrap-shell.ts';
import { HostShell } from './terminal/host-shell.ts';
import { kubectlCompletionFile } from './terminal/kubectl-completion.ts';
import { LabFiles, type SavedFiles } from './terminal/lab-files.ts';
import { TerminalManager, type TerminalManagerOptions, type Terminals } from './terminal/manager.ts';
import type { ShellBackend } from './terminal/shell-backend.ts';
import { DEFAULT_SHELL_LIMITS } from './terminal/shell-limits.ts';
import { ShellPods } from './terminal/shell-pods.ts';
import { createStateDir, sweepStaleStateDirs, verifyStateDir } from './terminal/state-dir.ts';
import { attachTerminals } from './terminal/ws.ts';
import { XapiDelivery } from './xapi.ts';

export interface LabServerOptions {
  config: ServerConfig;
  cluster: ClusterProvider;
  catalog: LabCatalog;
  logger: Logger;
  siteDir?: string;
  /**
   * Where terminals keep their workspaces and the API relay: a folder of the
   * server's own. Default: a fresh private folder in the temporary folder,
   * removed when the server stops (and by the next server after a crash).
   */
  terminalDir?: string;
  /**
   * A server already listening on the port (the one that served the site
   * while the cluster was prepared): the lab server takes it over once it is
   * ready to answer, in one step, so no request finds nothing answering;
   * whatever answered on it before no longer does.
   */
  server?: Server;
  /** Terminal settings beyond the config's (the tests shorten the token renewal, say). */
  terminals?: Partial<Pick<TerminalManagerOptions, 'renewMs' | 'maxPerSession' | 'maxTotal' | 'guard' | 'watermarks'>>;
  /** How often terminal sockets are pinged (ws.ts). Default 30 s. */
  keepaliveMs?: number;
  /** Shells owned by terminal agents (agent-relay.ts) rather than by this server. */
  agents?: AgentLocator;
}

export interface LabServer {
  server: Server;
  /** The address people open. */
  url: string;
  secrets: PlatformSecrets;
  metrics: Metrics;
  terminals: Terminals;
  /** Where the shells run: a backend of this host, or terminal agents (`agent`). */
  shell: ShellBackend['name'] | 'agent';
  /**
   * The first step of stopping, on its own: /healthz answers 503, new
   * terminals are refused and open ones are closed with 1012 (reconnect at
   * once). The rest of the server still answers, so that a replica can go on
   * serving while its load balancer stops sending it anyone.
   */
  drain(): void;
  close(): Promise<void>;
}

/**
 * Workshop shells run in bubblewrap, each as a uid of its own, which takes
 * root (without it every learner would share the server's uid and its
 * process limit); a learner alone on their laptop gets a plain shell.
 */
async function shellBackend(config: ServerConfig, apiServer: string, dir: string, logger: Logger): Promise<ShellBackend> {
  const kubectl = findKubectl();
  if (config.CDL_MODE === 'single') return new HostShell(kubectl);
  if (process.getuid && process.getuid() !== 0) {
    throw new ClusterError(
      "Workshop mode runs every learner's shell as a user of its own, and that needs the server to run as root.",
      'Start it as root (the Docker image does), or use CDL_MODE=single for one learner on their own machine.',
    );
  }
  if (!kubectl) {
    throw new ClusterError(
      "Workshop mode needs kubectl for the learners' shells, and none was found.",
      'Run `npm run cluster -- up` once (it builds kubectl), or put kubectl on the PATH.',
    );
  }
  const limits = {
    ...DEFAULT_SHELL_LIMITS,
    memoryBytes: config.TERMINAL_MEMORY_MIB * 1024 * 1024,
    pids: config.TERMINAL_PROCESSES,
    cpus: config.TERMINAL_CPUS,
  };
  const shell = await BubblewrapShell.create({ stateDir: dir, kubectl, apiServer, limits });
  if (shell.cgroupVersion === undefined) {
    logger.warn(
      'no control groups for the shells here: each has its process, file and address-space limits, but no memory or CPU limit of its own',
    );
  }
  return shell;
}

/**
 * Shell pods (TERMINAL_SHELLS=pods): their namespace, their image where the
 * cluster takes it without a registry (the local real node), and the pool
 * filled in the background.
 */
async function shellPods(config: ServerConfig, kc: KubeConfig, cluster: ClusterProvider, logger: Logger): Promise<ShellPods> {
  await cluster.importImages?.(['shell'], (line) => logger.info(line));
  const pods = new ShellPods({
    kc,
    image: config.TERMINAL_SHELL_IMAGE,
    poolSize: config.TERMINAL_POOL_SIZE,
    memoryMiB: config.TERMINAL_MEMORY_MIB,
    cpus: config.TERMINAL_CPUS,
    ...(cluster.containerNodes ? { containerNodes: cluster.containerNodes } : {}),
    ...(config.TERMINAL_POD_PLACEMENT ? { placement: config.TERMINAL_POD_PLACEMENT } : {}),
    logger,
  });
  await pods.ensureNamespace();
  pods.topUp();
  return pods;
}

/** The address people open for a server with these settings. */
export function serverUrl(config: Pick<ServerConfig, 'HOST' | 'PORT'>): string {
  const host = config.HOST === '0.0.0.0' || config.HOST === '127.0.0.1' ? 'localhost' : config.HOST;
  return `http://${host}:${config.PORT}/`;
}

export async function startLabServer(options: LabServerOptions): Promise<LabServer> {
  const { config, cluster, catalog, logger } = options;
  const kc = loadKubeConfig(cluster.kubeconfig);
  // What the cluster can do is read from it (a real node that runs, for one): the labs' availability follows it.
  await Promise.all([ensureCrd(kc), cluster.status()]);
  // Where only some nodes run containers (the local provider's real node), a lab that needs them is bound there.
  const sandboxes = new Sandboxes(kc, undefined, cluster.containerNodes);
  await sandboxes.ensureSystemNamespace();
  const secrets = await platformSecrets(kc, { adminToken: config.CDL_ADMIN_TOKEN, accessCode: config.CDL_ACCESS_CODE });

  const ttlMs = config.SESSION_TTL_MINUTES * 60_000;
  const maxMs = config.SESSION_MAX_MINUTES * 60_000;
  const store = new SessionStore(kc, { ttlMs, maxMs });
  const metrics = createMetrics();
  const mode = config.CDL_MODE;
  let terminalDir: string;
  if (options.terminalDir) {
    terminalDir = await verifyStateDir(options.terminalDir);
  } else {
    const stale = await sweepStaleStateDirs();
    if (stale.length > 0) logger.info({ folders: stale }, 'removed the terminal folders of servers that stopped without cleaning up');
    terminalDir = await createStateDir();
  }
  // The editor's files: in a folder of the server's beside its own shells (each lab's terminals see theirs at ~/files), or in the lab's agent.
  let localFiles: LabFiles | undefined;
  let files: SavedFiles;
  // Shells here (a backend of this host), or with terminal agents that this server relays to.
  let backend: ShellBackend | undefined;
  let completion: Promise<string | undefined> | undefined;
  let terminals: Terminals;
  const agents = options.agents ?? (config.TERMINAL_SHELLS === 'pods' ? await shellPods(config, kc, cluster, logger) : undefined);
  if (agents) {
    const relay = new AgentRelay({
      locator: agents,
      metrics,
      logger,
      ...(options.terminals?.renewMs ? { renewMs: options.terminals.renewMs } : {}),
      ...(options.keepaliveMs ? { keepaliveMs: options.keepaliveMs } : {}),
    });
    terminals = relay;
    files = relay.files();
  } else {
    localFiles = new LabFiles(join(terminalDir, 'files'));
    files = localFiles;
    backend = await shellBackend(config, kc.getCurrentCluster()?.server ?? '', terminalDir, logger);
    const workDir = backend instanceof BubblewrapShell ? backend.workspaceRoot() : join(terminalDir, 'terminals');
    // Made now, in the background, so that the first shell does not wait for kubectl to say its completion.
    completion = backend.kubectl ? kubectlCompletionFile(backend.kubectl, workDir) : undefined;
    terminals = new TerminalManager({
      ...options.terminals,
      backend,
      workDir,
      metrics,
      logger,
      graceMs: config.TERMINAL_GRACE_SECONDS * 1000,
      spares: config.TERMINAL_SPARE_SHELLS,
    });
  }
  // Each terminal of a lab that reads the audit log gets its namespaces' share of it.
  const auditLog = cluster.capabilities.auditLog && cluster.auditLog ? new AuditLog(cluster.auditLog, logger) : undefined;
  const origins = allowedOrigins(config);
  const xapi = config.CDL_XAPI_ENDPOINT
    ? new XapiDelivery({
        store,
        labs: catalog.list(),
        target: {
          endpoint: config.CDL_XAPI_ENDPOINT,
          ...(config.CDL_XAPI_USERNAME !== undefined ? { username: config.CDL_XAPI_USERNAME, password: config.CDL_XAPI_PASSWORD } : {}),
        },
        platform: origins[0] ?? serverUrl(config).replace(/\/$/, ''),
        logger,
      })
    : undefined;
  const labs = new LabService({
    kc,
    catalog,
    store,
    sandboxes,
    metrics,
    capabilities: cluster.capabilities,
    mode,
    // A Karpenter lab changes cluster-wide objects: only a learner with the cluster to themselves starts one.
    ...(cluster.addKarpenter && mode === 'single'
      ? { karpenter: new KarpenterAddOn((log, progress) => cluster.addKarpenter?.(log, progress) ?? Promise.resolve(), logger) }
      : {}),
    ...(auditLog ? { auditLog } : {}),
    ...(config.CDL_PUBLIC_API_SERVER ? { publicApiServer: config.CDL_PUBLIC_API_SERVER } : {}),
    ...(xapi ? { onStepPassed: () => xapi.wake() } : {}),
    onSessionEnd: (name) => {
      files
        .removeSession(name)
        .catch((error: unknown) => logger.warn({ err: error, session: name }, 'could not remove the files of a session'));
      terminals
        .closeSession(name)
        .catch((error: unknown) => logger.warn({ err: error, session: name }, 'could not close the terminals of a session'));
    },
  });
  let stopping = false;
  const app = createApp({
    config,
    cluster,
    stopping: () => stopping,
    logger,
    metrics,
    origins,
    mode,
    ...(options.siteDir ? { siteDir: options.siteDir } : {}),
    api: learnerApi({
      config,
      mode,
      store,
      labs,
      metrics,
      // The cookie lives as long as activity can keep the session alive; the cluster decides when it ends.
      ttlMs: maxMs,
      secureCookies: secureCookies(config),
      accessCode: () => secrets.accessCode,
      files,
    }),
    admin: adminApi({ store, labs, adminToken: () => secrets.adminToken, ...(agents instanceof ShellPods ? { pool: agents } : {}) }),
  });
  const releaseTerminals = async () => {
    await terminals.closeAll();
    auditLog?.close();
    // The completion is written into the terminals' folder: not while that folder is being removed.
    await completion;
    await backend?.close();
    if (!options.terminalDir) await rm(terminalDir, { recursive: true, force: true });
  };
  let server: Server;
  try {
    if (options.server) {
      server = options.server;
      server.removeAllListeners('request');
      server.removeAllListeners('upgrade');
      server.on('request', app);
    } else {
      server = await listen(app, config.PORT, config.HOST);
    }
  } catch (error) {
    await releaseTerminals();
    throw error;
  }

  const gateway = attachTerminals(server, {
    ...(options.keepaliveMs ? { keepaliveMs: options.keepaliveMs } : {}),
    allowedOrigins: origins,
    manager: terminals,
    logger,
    authenticate: (req) => store.byToken(sessionToken(req.headers.cookie, secureCookies(config))),
    shellFor: async (session, labId) => {
      const sessionName = session.metadata.name;
      const started = await labs.start(session, labId);
      // The first kubeconfig is for the sandbox just seen to be ready; each renewal looks afresh.
      let first: SandboxNamespaces | undefined = started.namespaces;
      return {
        sessionName,
        labId,
        namespace: defaultNamespace(started.namespaces) ?? 'default',
        kubeconfig: async () => {
          const known = first;
          first = undefined;
          if (known) return labs.kubeconfigFor(started.session, labId, known, true);
          return labs.kubeconfig(await store.require(sessionName), labId);
        },
        onActivity: () => void store.touch(sessionName).catch(() => undefined),
        ...(localFiles
          ? {
              filesDir: await localFiles.ensure(sessionName, labId),
              mirrorFiles: (into: string) => localFiles.mirror(sessionName, labId, into),
            }
          : {}),
        ...(auditLog && labs.lab(labId).needsAuditLog
          ? { auditLog: (file: string) => auditLog.follow(realNamespaces(started.namespaces), file) }
          : {}),
      };
    },
  });

  const drain = () => {
    stopping = true;
    gateway.drain();
  };
  const stopReaper = startReaper({ store, labs, metrics, logger, idleMs: config.SESSION_IDLE_MINUTES * 60_000 });
  const stopPolicy = agents instanceof ShellPods ? agents.keepPolicyCurrent() : () => undefined;
  const stopXapi = xapi?.start();

  return {
    server,
    url: serverUrl(config),
    secrets,
    metrics,
    terminals,
    shell: backend?.name ?? 'agent',
    drain,
    async close() {
      // Browsers are told to reconnect at once (to another replica, or to this server once back).
      drain();
      stopReaper();
      stopPolicy();
      await stopXapi?.();
      await releaseTerminals();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
