/**
 * WebSocket upgrades for terminals, on `/api/terminal?lab=<id>[&since=<offset>&cols=&rows=]`.
 * Before anything is upgraded, in this order: the Origin must be one of the
 * server's own (a page elsewhere cannot open a terminal with the learner's
 * cookie: cross-site WebSocket hijacking), the session cookie must belong to
 * a live session, and the lab must exist and be available to it. A refusal
 * is a plain HTTP answer with a JSON body, and the socket is closed.
 *
 * `authenticate(req)` returns the session's name for a request, or undefined.
 * `shellFor(sessionName, labId)` returns what the shell needs (it may start
 * the lab); it throws a domain error (labs/errors.ts) for an unknown or unavailable lab.
 *
 * Every open terminal socket is pinged every `keepaliveMs` (30 s): a load
 * balancer cuts a socket it sees idle (an ALB after 60 s by default), and a
 * peer that did not answer the previous ping is gone and is cut here, so its
 * shell starts its grace period at once. `drain()` is for a server that is
 * stopping: new terminals are refused (503, Retry-After) and every open one
 * is closed with 1012 (service restart), which tells the page to reconnect
 * at once rather than back off: another replica, or this server once back,
 * takes it.
 */
import type { IncomingMessage, Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { TerminalQuerySchema } from '../../../contract/api.ts';
import { describeIssues, UserError } from '../../../contract/errors.ts';
import { CLOSE_RESTART, MAX_CLIENT_FRAME } from '../../../contract/protocol.ts';
import type { LabSession } from '../../../contract/session.ts';
import { userErrorStatus } from '../http/errors.ts';
import { TerminalLimitError, type Terminals } from './manager.ts';
import type { ShellSpec } from './pty-session.ts';

export const TERMINAL_PATH = '/api/terminal';

export interface AttachTerminalsOptions {
  allowedOrigins: readonly string[];
  /** The live session of the request's cookie, or undefined. */
  authenticate: (req: IncomingMessage) => Promise<LabSession | undefined>;
  /** The shell for a lab of the session just read (no need to read it again). */
  shellFor: (session: LabSession, labId: string) => Promise<ShellSpec>;
  manager: Terminals;
  logger: Logger;
  /** How often each socket is pinged; one that did not answer the last ping is cut. Default 30 s. */
  keepaliveMs?: number;
}

export interface TerminalGateway {
  /** Refuses new terminals and closes the open ones with CLOSE_RESTART. */
  drain(): void;
  readonly draining: boolean;
}

/** Answers an upgrade request with a plain HTTP refusal and a JSON body, and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: code, message });
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n${extra.join('')}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export function attachTerminals(server: Server, options: AttachTerminalsOptions): TerminalGateway {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME, perMessageDeflate: false });
  wss.on('error', (error) => options.logger.warn({ err: error }, 'terminal server error'));
  const keepalive = startKeepalive(wss, options.keepaliveMs ?? 30_000);
  let draining = false;
  const refuseWhileDraining = (socket: Duplex) =>
    refuseUpgrade(socket, 503, 'restarting', 'This server is stopping; connect again in a moment.', { 'Retry-After': '1' });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://server');
      if (url.pathname !== TERMINAL_PATH) return refuseUpgrade(socket, 404, 'not_found', 'No WebSocket endpoint here.');
      if (draining) return refuseWhileDraining(socket);
      const origin = req.headers.origin;
      if (!origin || !options.allowedOrigins.includes(origin)) {
        options.logger.warn({ origin }, 'refused a terminal from another origin');
        return refuseUpgrade(socket, 403, 'bad_origin', 'Terminals open only from pages of this server.');
      }
      const t0 = performance.now();
      const session = await options.authenticate(req);
      const t1 = performance.now();
      if (!session) return refuseUpgrade(socket, 401, 'no_session', 'There is no valid session for this browser.');
      const sessionName = session.metadata.name;
      const query = TerminalQuerySchema.safeParse(Object.fromEntries(url.searchParams));
      if (!query.success) {
        return refuseUpgrade(socket, 400, 'invalid_request', describeIssues(query.error, { root: 'query' }));
      }
      const spec = { ...(await options.shellFor(session, query.data.lab)), tab: query.data.tab };
      const ms = (from: number, to: number) => Math.round((to - from) * 10) / 10;
      options.logger.debug(
        { session: sessionName, lab: spec.labId, sessionMs: ms(t0, t1), labMs: ms(t1, performance.now()) },
        'terminal upgrade',
      );
      // It may have begun to stop while the session and the lab were read.
      if (draining) return refuseWhileDraining(socket);
      wss.handleUpgrade(req, socket, head, (ws) => {
        const { since, cols, rows } = query.data;
        wss.emit('connection', ws, req);
        // attach() gives the socket its error listener before it awaits anything.
        options.manager.attach(ws, spec, since, { cols, rows }).catch((error: unknown) => {
          options.logger.error({ err: error, session: sessionName, lab: spec.labId }, 'terminal failed to start');
          ws.close(1011, error instanceof TerminalLimitError ? closeReason(error.message) : 'the shell could not start');
        });
      });
    })().catch((error: unknown) => {
      if (error instanceof UserError) return refuseUpgrade(socket, userErrorStatus(error), error.code, error.message);
      options.logger.error({ err: error }, 'terminal upgrade failed');
      refuseUpgrade(socket, 503, 'unavailable', 'The terminal could not be opened; try again in a moment.');
    });
  });
  server.once('close', keepalive);
  return {
    get draining() {
      return draining;
    },
    drain() {
      if (draining) return;
      draining = true;
      keepalive();
      for (const ws of wss.clients) ws.close(CLOSE_RESTART, 'the server is restarting; reconnecting');
    },
  };
}

/** Pings every socket each `everyMs`; one that has not answered the previous ping is cut. Returns how to stop. */
function startKeepalive(wss: WebSocketServer, everyMs: number): () => void {
  const answered = new WeakSet<WebSocket>();
  wss.on('connection', (ws: WebSocket) => {
    answered.add(ws);
    ws.on('pong', () => answered.add(ws));
  });
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (!answered.has(ws)) {
        ws.terminate();
        continue;
      }
      answered.delete(ws);
      ws.ping();
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** A close frame's reason holds at most 123 bytes of UTF-8 (RFC 6455); a longer one would throw. */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= 123) return text;
  // Cut on a character boundary: the decoder drops a partial one at the end.
  return `${new TextDecoder().decode(bytes.subarray(0, 120)).replace(/\uFFFD$/, '')}…`;
}
