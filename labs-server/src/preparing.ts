/**
 * What `npm start` serves while its cluster is prepared (the first start's
 * binaries downloaded or built, the control plane started): the lesson
 * site, its search and the instructor's page, all static, so the course can
 * be read at once; `/healthz` answers 503 with what is being prepared and
 * how far it is; every API route and every terminal answers 503
 * `preparing` with the same words, and a lesson's terminal says them and
 * connects by itself once the cluster is ready. The lab server then takes
 * over the same listening server (`startLabServer`'s `server`): there is no
 * moment when nothing answers on the port.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ClusterProvider, UpProgress } from '../../cluster/src/provider.ts';
import type { Preparation } from '../../contract/api.ts';
import { createApp, PREPARING_RETRY_SECONDS } from './app.ts';
import { allowedOrigins, type ServerConfig } from './config.ts';
import { listen } from './listen.ts';
import { refuseUpgrade } from './terminal/ws.ts';

export interface PreparingOptions {
  config: ServerConfig;
  cluster: ClusterProvider;
  logger: Logger;
  siteDir?: string;
}

/** `412 of at most 1404 packages`, `45.1 of 318.0 MB`. */
export function amount(progress: UpProgress): string {
  if (progress.unit === 'bytes') {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    return progress.total ? `${mb(progress.done)} of ${mb(progress.total)} MB` : `${mb(progress.done)} MB`;
  }
  return progress.total ? `${progress.done} of at most ${progress.total} packages` : `${progress.done} packages`;
}

export class PreparingServer {
  readonly server: Server;
  private readonly since = new Date().toISOString();
  /** The parts under way (binaries downloaded or built), by name. */
  private readonly parts = new Map<string, UpProgress>();
  private line = 'starting';

  private constructor(server: Server) {
    this.server = server;
  }

  /** Listens on the configured port at once, serving the site and saying what is being prepared. */
  static async listen(options: PreparingOptions): Promise<PreparingServer> {
    const { config, cluster, logger } = options;
    let self: PreparingServer | undefined;
    const now = () => self?.preparation() ?? { detail: 'starting', since: new Date().toISOString() };
    const app = createApp({
      config,
      cluster,
      logger,
      mode: config.CDL_MODE,
      origins: allowedOrigins(config),
      preparing: now,
      ...(options.siteDir ? { siteDir: options.siteDir } : {}),
    });
    const server = await listen(app, config.PORT, config.HOST);
    server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => socket.destroy());
      refuseUpgrade(socket, 503, 'preparing', `The cluster is being prepared: ${now().detail}.`, {
        'Retry-After': String(PREPARING_RETRY_SECONDS),
      });
    });
    self = new PreparingServer(server);
    return self;
  }

  /** A line of `up`'s progress: shown while no part reports how far it is. */
  say(line: string): void {
    const text = line.trim().replace(/^…\s*/, '');
    if (text) this.line = text.replace(/[.…:]+$/, '');
  }

  /** How far one part (a bundle of binaries) is; a part that reaches its total is done. */
  progress(progress: UpProgress): void {
    this.parts.set(progress.part, progress);
  }

  /** What is being done now: the parts under way, else the last line. */
  preparation(): Preparation {
    const under = [...this.parts.values()].filter((p) => p.total === undefined || p.done < p.total);
    if (under.length === 0) return { detail: this.line, since: this.since };
    // The figures of the largest part; the line names them all.
    const largest = under.reduce((a, b) => ((b.total ?? 0) > (a.total ?? 0) ? b : a));
    return {
      detail: under.map((p) => `${p.action} ${p.part}: ${amount(p)}`).join('; '),
      done: largest.done,
      ...(largest.total ? { total: largest.total } : {}),
      unit: largest.unit,
      since: this.since,
    };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
