/**
 * The terminal agent: the part of the lab server that owns shells, on its
 * own, for shells that run apart from the server (a pod per session and
 * lab). It is the server's own terminal code (terminal/manager.ts: the pty
 * session, its replay buffer, flow control and socket guard) behind a small
 * HTTP server that speaks contract/agent.ts to lab servers only. A server
 * relays a browser's frames to it unchanged (terminal/agent-relay.ts), so a
 * browser that reconnects through another server, or after its server
 * restarted, finds the same shell and what it missed.
 *
 * What it trusts: a request with its secret comes from a lab server, which
 * has checked the browser's Origin and session. It keeps no credentials of
 * its own: the server sends the learner's kubeconfig (PUT
 * /v1/credentials) before the first shell and again while it relays, and
 * the shells' token file is renewed from the latest one it was sent. The
 * files the learner saves in the editor come the same way (PUT
 * /v1/files/{name}) and are kept beside the shells, at ~/files in each.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import {
  AGENT_PATHS,
  type AgentOwner,
  AgentOwnerSchema,
  AgentTerminalQuerySchema,
  MAX_CREDENTIALS_BYTES,
} from '../../../contract/agent.ts';
import { describeIssues } from '../../../contract/errors.ts';
import { FILE_NAME, MAX_FILE_BYTES } from '../../../contract/files.ts';
import { MAX_CLIENT_FRAME } from '../../../contract/protocol.ts';
import { createMetrics } from '../metrics.ts';
import { HostShell } from '../terminal/host-shell.ts';
import { kubectlCompletionFile } from '../terminal/kubectl-completion.ts';
import { LabFiles, TooManyFiles } from '../terminal/lab-files.ts';
import { TerminalLimitError, TerminalManager } from '../terminal/manager.ts';
import { closeReason, refuseUpgrade } from '../terminal/ws.ts';

export interface AgentOptions {
  /** What a lab server proves itself with. */
  secret: string;
  port: number;
  host: string;
  /** Where the shells' folders (and homes) are made. */
  workDir: string;
  /** The kubectl the shells run. */
  kubectl: string | undefined;
  /** The API server as the shells reach it, when not as the lab server does (in a pod: the `kubernetes` Service). */
  apiServer?: string;
  /** How long a shell waits for its browser to come back. */
  graceMs: number;
  logger: Logger;
  /** How often a shell's token file is rewritten from the latest credentials sent. Default 30 s. */
  renewMs?: number;
  /** How long the first shell waits for its credentials. Default 10 s. */
  credentialsWaitMs?: number;
}

export interface Agent {
  server: Server;
  port: number;
  readonly terminals: TerminalManager;
  close(): Promise<void>;
}

/** The learner's latest kubeconfig, and those waiting for the first. */
class Credentials {
  private latest: string | undefined;
  private waiters: Array<(kubeconfig: string) => void> = [];

  set(kubeconfig: string): void {
    this.latest = kubeconfig;
    for (const wake of this.waiters.splice(0)) wake(kubeconfig);
  }

  get(waitMs: number): Promise<string> {
    if (this.latest !== undefined) return Promise.resolve(this.latest);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no credentials were sent for this shell')), waitMs);
      this.waiters.push((kubeconfig) => {
        clearTimeout(timer);
        resolve(kubeconfig);
      });
    });
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * The body as text, or undefined when it is longer than `limit`: the rest is
 * read and dropped (only a server with the secret gets this far), so that
 * the sender reads the answer instead of a reset connection.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) res.writeHead(status).end();
  else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export async function startAgent(options: AgentOptions): Promise<Agent> {
  const { logger } = options;
  const expected = digest(options.secret);
  const authorized = (req: IncomingMessage) => {
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    return given !== '' && timingSafeEqual(digest(given), expected);
  };
  const terminals = new TerminalManager({
    backend: new HostShell(options.kubectl, options.apiServer),
    workDir: options.workDir,
    metrics: createMetrics(),
    logger,
    graceMs: options.graceMs,
    renewMs: options.renewMs ?? 30_000,
  });
  // kubectl's completion is made now, while the agent waits in the pool, not when the learner's first shell starts.
  if (options.kubectl) void kubectlCompletionFile(options.kubectl, options.workDir);
  const credentials = new Credentials();
  // The editor's files, beside the shells' folders; each shell finds its lab's at ~/files.
  const files = new LabFiles(join(options.workDir, 'files'));
  let owner: AgentOwner | undefined;
  /** The owner a request names, once it is this agent's (the first one binds it); a reason when it is not. */
  const claim = (asked: AgentOwner): string | undefined => {
    owner ??= asked;
    return owner.session === asked.session && owner.lab === asked.lab ? undefined : 'this agent serves another session or lab';
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://agent');
      if (url.pathname === AGENT_PATHS.health && req.method === 'GET') {
        return answer(res, 200, { ok: true, shells: terminals.size });
      }
      if (!authorized(req)) return answer(res, 401, { error: 'unauthorized', message: 'This agent answers its lab servers only.' });
      const query = Object.fromEntries(url.searchParams);
      if (url.pathname === AGENT_PATHS.credentials && req.method === 'PUT') {
        const who = AgentOwnerSchema.safeParse(query);
        if (!who.success) return answer(res, 400, { error: 'invalid_request', message: describeIssues(who.error, { root: 'query' }) });
        const refused = claim(who.data);
        if (refused) return answer(res, 409, { error: 'conflict', message: refused });
        const body = await readBody(req, MAX_CREDENTIALS_BYTES);
        if (!body) return answer(res, 413, { error: 'too_large', message: `A kubeconfig of at most ${MAX_CREDENTIALS_BYTES} bytes.` });
        credentials.set(body);
        return answer(res, 204);
      }
      if (url.pathname.startsWith(`${AGENT_PATHS.files}/`) && req.method === 'PUT') {
        const who = AgentOwnerSchema.safeParse(query);
        if (!who.success) return answer(res, 400, { error: 'invalid_request', message: describeIssues(who.error, { root: 'query' }) });
        let name = '';
        try {
          name = decodeURIComponent(url.pathname.slice(AGENT_PATHS.files.length + 1));
        } catch {
          // a malformed escape: not a name either
        }
        if (!FILE_NAME.test(name))
          return answer(res, 400, { error: 'invalid_request', message: `${JSON.stringify(name)} is not a file name.` });
        const refused = claim(who.data);
        if (refused) return answer(res, 409, { error: 'conflict', message: refused });
        const body = await readBody(req, MAX_FILE_BYTES);
        if (body === undefined) return answer(res, 413, { error: 'too_large', message: `A file of at most ${MAX_FILE_BYTES} bytes.` });
        try {
          await files.write(who.data.session, who.data.lab, name, body);
        } catch (error) {
          if (error instanceof TooManyFiles) return answer(res, 409, { error: 'too_many_files', message: error.message });
          throw error;
        }
        return answer(res, 204);
      }
      if (url.pathname === AGENT_PATHS.shells && req.method === 'DELETE') {
        if (owner && url.searchParams.get('session') === owner.session) await terminals.closeSession(owner.session);
        return answer(res, 204);
      }
      answer(res, 404, { error: 'not_found', message: 'No such agent endpoint.' });
    })().catch((error: unknown) => {
      logger.error({ err: error }, 'agent request failed');
      if (!res.headersSent) answer(res, 500, { error: 'internal', message: 'The agent could not answer.' });
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME, perMessageDeflate: false });
  wss.on('error', (error) => logger.warn({ err: error }, 'agent socket server error'));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://agent');
    if (url.pathname !== AGENT_PATHS.terminal) return refuseUpgrade(socket, 404, 'not_found', 'No WebSocket endpoint here.');
    if (!authorized(req)) return refuseUpgrade(socket, 401, 'unauthorized', 'This agent answers its lab servers only.');
    const query = AgentTerminalQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) return refuseUpgrade(socket, 400, 'invalid_request', describeIssues(query.error, { root: 'query' }));
    const { session, lab, tab, namespace, since, cols, rows } = query.data;
    const refused = claim({ session, lab });
    if (refused) return refuseUpgrade(socket, 409, 'conflict', refused);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const spec = {
        sessionName: session,
        labId: lab,
        tab,
        namespace,
        kubeconfig: () => credentials.get(options.credentialsWaitMs ?? 10_000),
        filesDir: files.dir(session, lab),
      };
      terminals.attach(ws, spec, since, { cols, rows }).catch((error: unknown) => {
        logger.error({ err: error, session, lab }, 'shell failed to start');
        ws.close(1011, error instanceof TerminalLimitError ? closeReason(error.message) : 'the shell could not start');
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    server,
    port,
    terminals,
    async close() {
      await terminals.closeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
