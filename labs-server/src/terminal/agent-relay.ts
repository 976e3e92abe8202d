/**
 * Terminals whose shells a terminal agent owns (agent/agent.ts: in a pod per
 * session and lab), with this server as a stateless, authenticating proxy:
 * ws.ts has checked the browser's Origin and session; here the browser's
 * frames are checked as the local terminals check them (a text frame, a
 * malformed or unknown one is refused here and never reaches the agent) and
 * relayed unchanged, and the agent's frames come back unchanged. Flow
 * control stays end to end: the agent counts what it sent on this
 * connection and the browser acknowledges it through here, so an
 * acknowledgement of more than was sent still ends the connection (the
 * agent's rule); this server holds at most what is in flight.
 *
 * The learner's kubeconfig goes to the agent before the socket opens and
 * again every `renewMs` while this server relays for it; the agent keeps no
 * credentials of its own. Nothing here outlives a connection: a browser that
 * comes back through another server (a replica that died, a load balancer's
 * choice) gets the same shell and what it missed, from the agent.
 */
import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import { AGENT_PATHS } from '../../../contract/agent.ts';
import { ErrorBodySchema } from '../../../contract/api.ts';
import { CLOSE_RESTART, decodeClientFrame } from '../../../contract/protocol.ts';
import type { Metrics } from '../metrics.ts';
import { type SavedFiles, TooManyFiles } from './lab-files.ts';
import type { Terminals } from './manager.ts';
import type { ShellSpec } from './pty-session.ts';
import type { ShellSize } from './shell-backend.ts';
import { DEFAULT_GUARD_LIMITS, type GuardLimits, SocketGuard } from './socket-guard.ts';

/** Where an agent answers, and the secret it expects. */
export interface AgentAddress {
  /** http://host:port */
  url: string;
  secret: string;
}

/** Finds (or makes) the agent of a session's lab, and ends a session's agents. */
export interface AgentLocator {
  locate(sessionName: string, labId: string): Promise<AgentAddress>;
  /** Ends the shells of a session (and whatever holds them). */
  release(sessionName: string): Promise<void>;
}

export interface AgentRelayOptions {
  locator: AgentLocator;
  metrics: Metrics;
  logger: Logger;
  /** How often the learner's kubeconfig is sent again while a browser is relayed. Default 20 minutes. */
  renewMs?: number;
  /** How often the agent's socket is pinged; one that did not answer is cut. Default 30 s. */
  keepaliveMs?: number;
  guard?: GuardLimits;
}

/** An agent's socket as `connect` hands it over. */
interface AgentLink {
  socket: WebSocket;
  /** Frames that came before the relay listened. */
  early: Buffer[];
  /** How it closed, if it did before the relay listened. */
  closed: { code: number; reason: string } | undefined;
  /** Stops keeping frames aside. */
  release?: () => void;
}

/** Activity is reported at most this often while the learner types. */
const ACTIVITY_EVERY_MS = 10_000;
/** Input queued for an agent beyond this stops the browser's input being read until half of it is gone. */
const MAX_QUEUED_INPUT = 256 * 1024;
/** Close codes an endpoint may not send (RFC 6455 7.4.1): the connection was lost rather than closed. */
const NOT_SENDABLE = new Set([1005, 1006, 1015]);
/** What is read of an agent's refusal: its error body is small, and a pod's answer is not trusted to be. */
const MAX_AGENT_ANSWER = 4096;

/** An agent's answer as text, at most MAX_AGENT_ANSWER bytes of it; the rest is not read. */
async function agentAnswer(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < MAX_AGENT_ANSWER) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, MAX_AGENT_ANSWER).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class AgentRelay implements Terminals {
  private readonly options: AgentRelayOptions;
  private readonly open = new Set<{ browser: WebSocket; agent: WebSocket }>();

  constructor(options: AgentRelayOptions) {
    this.options = options;
  }

  /** Browsers relayed right now. */
  get size(): number {
    return this.open.size;
  }

  /** Where the editor's saves go with shells in agents: the lab's agent, which keeps them beside its shells. */
  files(): SavedFiles {
    const { locator } = this.options;
    return {
      async write(session, lab, name, content) {
        const address = await locator.locate(session, lab);
        const query = new URLSearchParams({ session, lab });
        const response = await fetch(`${address.url}${AGENT_PATHS.files}/${encodeURIComponent(name)}?${query}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${address.secret}`, 'content-type': 'application/yaml' },
          body: content,
          signal: AbortSignal.timeout(10_000),
        });
        if (response.status === 204) return;
        const answer = await agentAnswer(response);
        if (response.status === 409) {
          const refusal = ErrorBodySchema.safeParse(parseJson(answer));
          if (refusal.success && refusal.data.error === 'too_many_files') throw new TooManyFiles(refusal.data.message);
        }
        throw new Error(`the terminal agent refused the file: ${response.status} ${answer}`);
      },
      // They live in the session's shell pods, which go with it (AgentLocator.release).
      removeSession: async () => undefined,
    };
  }

  private async sendCredentials(address: AgentAddress, spec: ShellSpec): Promise<void> {
    const query = new URLSearchParams({ session: spec.sessionName, lab: spec.labId });
    const response = await fetch(`${address.url}${AGENT_PATHS.credentials}?${query}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${address.secret}`, 'content-type': 'application/yaml' },
      body: await spec.kubeconfig(),
      signal: AbortSignal.timeout(10_000),
    });
    if (response.status !== 204)
      throw new Error(`the terminal agent refused the credentials: ${response.status} ${await agentAnswer(response)}`);
  }

  /**
   * The agent's socket for a terminal, open, with the frames that came with
   * or right after the upgrade (a resumed shell's READY and replay arrive at
   * once) and its close, if it closed meanwhile: kept until the relay takes them.
   */
  private connect(address: AgentAddress, spec: ShellSpec, since: number | undefined, size: ShellSize): Promise<AgentLink> {
    const query = new URLSearchParams({
      session: spec.sessionName,
      lab: spec.labId,
      tab: spec.tab ?? 'main',
      namespace: spec.namespace,
      cols: String(size.cols),
      rows: String(size.rows),
      ...(since !== undefined ? { since: String(since) } : {}),
    });
    const url = `${address.url.replace(/^http/, 'ws')}${AGENT_PATHS.terminal}?${query}`;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, {
        headers: { authorization: `Bearer ${address.secret}` },
        perMessageDeflate: false,
        handshakeTimeout: 10_000,
      });
      const link: AgentLink = { socket, early: [], closed: undefined };
      const keep = (data: Buffer) => link.early.push(data);
      socket.on('message', keep);
      socket.once('close', (code, reason) => {
        link.closed ??= { code, reason: reason.toString() };
      });
      link.release = () => socket.off('message', keep);
      socket.once('open', () => {
        // From here the relay reports errors; until it does, one must not end the process.
        socket.off('error', reject);
        socket.on('error', () => undefined);
        resolve(link);
      });
      socket.once('unexpected-response', (_req, res) => {
        reject(new Error(`the terminal agent refused the terminal: ${res.statusCode}`));
        socket.terminate();
      });
      socket.once('error', reject);
    });
  }

  async attach(browser: WebSocket, spec: ShellSpec, since: number | undefined, size: ShellSize): Promise<void> {
    const { logger, metrics } = this.options;
    const where = { session: spec.sessionName, lab: spec.labId, tab: spec.tab };
    // Before anything is awaited: a frame `ws` rejects is an 'error' event on this socket.
    let gone = false;
    browser.on('error', (error) => {
      logger.info({ err: error, ...where }, 'terminal socket error');
      gone = true;
    });
    browser.on('close', () => {
      gone = true;
    });
    browser.pause();
    let agent: WebSocket | undefined;
    const guard = new SocketGuard(
      browser,
      (congested) => (congested ? agent?.pause() : agent?.resume()),
      this.options.guard ?? DEFAULT_GUARD_LIMITS,
    );
    let address: AgentAddress;
    let link: AgentLink;
    try {
      address = await this.options.locator.locate(spec.sessionName, spec.labId);
      await this.sendCredentials(address, spec);
      link = await this.connect(address, spec, since, size);
    } catch (error) {
      guard.dispose();
      browser.resume();
      throw error;
    }
    const linked = link.socket;
    agent = linked;
    if (gone || browser.readyState !== WebSocket.OPEN) {
      guard.dispose();
      linked.close(1000, 'the browser left');
      return;
    }
    const pair = { browser, agent: linked };
    this.open.add(pair);
    metrics.terminalsAttached.inc();

    const renewal = setInterval(
      () => {
        this.sendCredentials(address, spec).catch((error: unknown) =>
          logger.warn({ err: error, ...where }, 'could not renew the credentials of a shell'),
        );
      },
      this.options.renewMs ?? 20 * 60_000,
    );
    renewal.unref();
    let answered = true;
    const keepalive = setInterval(() => {
      if (!answered) return linked.terminate();
      answered = false;
      linked.ping();
    }, this.options.keepaliveMs ?? 30_000);
    keepalive.unref();
    linked.on('pong', () => {
      answered = true;
    });

    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(renewal);
      clearInterval(keepalive);
      guard.dispose();
      this.open.delete(pair);
      metrics.terminalsAttached.dec();
    };
    const agentClosed = (code: number, reason: string) => {
      end();
      // The agent closed on purpose (the shell ended, another window took it, a broken rule): the browser is told the same.
      // A lost connection (the agent's pod went away) tells the page to come back at once: it gets the shell, or a new one.
      if (NOT_SENDABLE.has(code)) browser.close(CLOSE_RESTART, 'the shell connection was lost; reconnecting');
      else browser.close(code, reason);
    };
    // What came before this listened goes first, in order.
    link.release?.();
    for (const frame of link.early) guard.send(frame);
    linked.on('message', (data: Buffer) => guard.send(data));
    linked.on('error', (error) => logger.info({ err: error, ...where }, 'terminal agent socket error'));
    if (link.closed) agentClosed(link.closed.code, link.closed.reason);
    else linked.on('close', (code, reason) => agentClosed(code, reason.toString()));
    browser.on('close', () => {
      end();
      linked.close(1000, 'the browser left');
    });

    let lastActivity = 0;
    browser.on('message', (data, isBinary) => {
      if (!isBinary) return guard.refuse('text_frame', 'frames must be binary');
      const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      const frame = decodeClientFrame(bytes);
      if (frame.type === 'invalid') return guard.refuse('bad_frame', frame.reason);
      if (linked.readyState !== WebSocket.OPEN) return;
      linked.send(bytes);
      // An agent whose shell takes no input stops reading it; so, then, does this server.
      if (linked.bufferedAmount > MAX_QUEUED_INPUT) guard.holdInput(() => linked.bufferedAmount <= MAX_QUEUED_INPUT / 2);
      if (frame.type === 'input' && Date.now() - lastActivity > ACTIVITY_EVERY_MS) {
        lastActivity = Date.now();
        spec.onActivity?.();
      }
    });
    browser.resume();
  }

  async closeSession(sessionName: string): Promise<void> {
    await this.options.locator.release(sessionName);
  }

  /** Ends the relays of this server; the shells stay with their agents, for the browsers to find again. */
  async closeAll(): Promise<void> {
    for (const { browser, agent } of this.open) {
      agent.close(1000, 'the server is stopping');
      if (browser.readyState === WebSocket.OPEN) browser.close(CLOSE_RESTART, 'the server is restarting; reconnecting');
    }
  }
}
