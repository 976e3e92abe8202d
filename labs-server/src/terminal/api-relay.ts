/**
 * A workshop shell's one way out: a Unix socket in the terminal's workspace
 * (which only that shell's group can reach) that the server relays to the
 * Kubernetes API server and nowhere else; inside the sandbox, `socat`
 * forwards 127.0.0.1:6443 to it, so TLS and the learner's token go end to
 * end. One relay per shell, so that what a shell can cost the server is
 * bounded per shell: at most `maxConnections` at once (each costs the
 * server two descriptors and an upstream connection), and a connection idle
 * for `idleMs` is closed. Every error of a connection or of the relay
 * itself ends only that connection, never the server.
 */
import { chmod, chown, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';

export interface RelayLimits {
  maxConnections: number;
  idleMs: number;
}

/** kubectl holds a connection or two; a watch holds one for as long as it runs. */
export const DEFAULT_RELAY_LIMITS: RelayLimits = { maxConnections: 64, idleMs: 60 * 60_000 };

export class ApiRelay {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  readonly path: string;

  private constructor(path: string, target: URL, limits: RelayLimits, logger: Logger | undefined) {
    this.path = path;
    const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
    this.server = createServer((socket) => {
      const upstream = connect(port, target.hostname);
      this.sockets.add(socket).add(upstream);
      const done = () => {
        socket.destroy();
        upstream.destroy();
        this.sockets.delete(socket);
        this.sockets.delete(upstream);
      };
      socket.setTimeout(limits.idleMs, done);
      socket.on('error', done).on('close', done);
      upstream.on('error', done).on('close', done);
      socket.pipe(upstream).pipe(socket);
    });
    this.server.maxConnections = limits.maxConnections;
    this.server.on('error', (error) => logger?.warn({ err: error, relay: path }, 'terminal API relay error'));
  }

  /** Listens on `path`, reachable by group `gid` only (and the server). */
  static async open(
    path: string,
    apiServer: string,
    gid: number | undefined,
    limits = DEFAULT_RELAY_LIMITS,
    logger?: Logger,
  ): Promise<ApiRelay> {
    const relay = new ApiRelay(path, new URL(apiServer), limits, logger);
    await rm(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      relay.server.once('error', reject);
      relay.server.listen(path, () => {
        relay.server.off('error', reject);
        resolve();
      });
    });
    if (gid !== undefined && process.getuid?.() === 0) await chown(path, 0, gid);
    await chmod(path, gid !== undefined ? 0o660 : 0o600);
    return relay;
  }

  get connections(): number {
    return this.sockets.size / 2;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}
