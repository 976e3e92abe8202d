/**
 * A lab server in the test process, on a free port, on the shared test
 * cluster (the local provider's, as `npm start` would use it), with a small cookie-keeping
 * client per learner.
 */

import { pino } from 'pino';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import { routeAnswers, routeFor } from '../../contract/api.ts';
import type { LabCatalog } from '../../contract/catalog.ts';
import { describeIssues } from '../../contract/errors.ts';
import { readConfig } from '../../labs-server/src/config.ts';
import { type LabServer, type LabServerOptions, startLabServer } from '../../labs-server/src/server.ts';
import { TerminalManager } from '../../labs-server/src/terminal/manager.ts';
import { TEST_CLUSTER } from './cluster-setup.ts';
import { fixtureCatalog } from './fixture-catalog.ts';
import { freePort } from './ports.ts';
import { isRefusal, TerminalClient } from './terminal-client.ts';

export interface TestServer extends LabServer {
  origin: string;
  port: number;
}

export async function startTestServer(
  env: Record<string, string> = {},
  catalog: LabCatalog = fixtureCatalog,
  siteDir = '/nonexistent',
  extra: Partial<Pick<LabServerOptions, 'terminals' | 'terminalDir' | 'keepaliveMs' | 'agents' | 'cluster'>> = {},
): Promise<TestServer> {
  // A test may choose the port (to know the origins of several replicas before they start).
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const config = readConfig({ LOG_LEVEL: 'silent', ...env, PORT: String(port) });
  // The test cluster as `npm start` uses it, unless the test reaches it otherwise (another identity, say).
  const cluster = extra.cluster ?? new LocalProvider({ clusterName: TEST_CLUSTER });
  const server = await startLabServer({ config, catalog, logger: pino({ level: 'silent' }), siteDir, ...extra, cluster });
  return { ...server, origin: `http://localhost:${port}`, port };
}

export interface ApiAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers by path and assert on each value
  body: any;
  headers: Headers;
}

/**
 * Every answer of a route in the contract must be one the contract lists
 * for it, with a body its schema accepts: the API tests check the contract
 * with every request they make.
 */
function checkAnswer(method: string, path: string, status: number, body: unknown): void {
  const route = routeFor(method, path);
  if (!route) return;
  const answer = routeAnswers(route)[status];
  if (!answer)
    throw new Error(`${method} ${path} answered ${status}, which the contract (contract/api.ts) does not list for ${route.path}`);
  const parsed = answer.schema?.safeParse(body);
  if (parsed && !parsed.success) {
    throw new Error(
      `${method} ${path} answered ${status} with a body the contract refuses: ${describeIssues(parsed.error, { root: 'body' })}`,
    );
  }
}

/** A browser-like client: keeps the session cookie, sends the page's Origin on writes, checks each answer against the contract. */
export class Client {
  cookie = '';
  readonly base: string;
  readonly headers: Record<string, string>;

  constructor(base: string, headers: Record<string, string> = {}) {
    this.base = base;
    this.headers = headers;
  }

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(this.cookie ? { cookie: this.cookie } : {}),
        origin: this.base,
        ...this.headers,
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const setCookie = response.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0] ?? '';
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (a kubeconfig, metrics): keep the text
    }
    checkAnswer(method, path, response.status, parsed);
    return { status: response.status, body: parsed, headers: response.headers };
  }

  get(path: string) {
    return this.call('GET', path);
  }
  post(path: string, body?: unknown) {
    return this.call('POST', path, body ?? {});
  }
  put(path: string, body?: unknown) {
    return this.call('PUT', path, body ?? {});
  }
  delete(path: string) {
    return this.call('DELETE', path);
  }
}

/** The terminals of a server whose shells are its own (not an agent's). */
export function localTerminals(server: TestServer): TerminalManager {
  if (!(server.terminals instanceof TerminalManager)) throw new Error(`the server's shells are not its own (${server.shell})`);
  return server.terminals;
}

/** The shell of a session's lab on a server whose shells are its own (not an agent's). */
export function localShell(server: TestServer, sessionName: string, labId: string) {
  return localTerminals(server).find(sessionName, labId);
}

/** A learner's terminal on `server`, opened as their page opens it, once its prompt shows. */
export async function openTerminal(server: TestServer, learner: Client, query = 'lab=palette'): Promise<TerminalClient> {
  const term = await TerminalClient.open(`ws://localhost:${server.port}/api/terminal?${query}`, {
    origin: server.origin,
    cookie: learner.cookie,
  });
  if (isRefusal(term)) throw new Error(`terminal refused: ${term.status} ${term.body}`);
  await term.waitFor(/\$ $/m);
  return term;
}
