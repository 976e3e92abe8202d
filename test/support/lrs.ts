/**
 * A small learning record store for the tests: it takes xAPI statements
 * with PUT /xapi/statements?statementId=…, checks the version header and
 * the credentials as a store would, keeps each statement once by its id
 * (a second PUT of the same id is a 204 and counts nothing), and records
 * every request. It can be told to refuse for a while (503), as a store
 * that is down.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LrsRequest {
  method: string;
  path: string;
  status: number;
  /** The statement's actor's account name (the session), when the body had one. */
  account?: string;
}

export class Lrs {
  readonly statements = new Map<string, Record<string, unknown>>();

  /** The statements stored for one session (the actor's account name). */
  of(session: string): Array<Record<string, unknown>> {
    return [...this.statements.values()].filter((s) => (s.actor as { account?: { name?: string } }).account?.name === session);
  }
  readonly requests: LrsRequest[] = [];
  refusing = false;
  private server: Server | undefined;
  private readonly authorization: string;

  constructor(username: string, password: string) {
    this.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://lrs');
        const account = /"account":\{[^}]*"name":"([^"]+)"/.exec(Buffer.concat(chunks).toString('utf8'))?.[1];
        const answer = (status: number, body = '') => {
          this.requests.push({ method: req.method ?? '', path: url.pathname, status, ...(account ? { account } : {}) });
          res.writeHead(status, { 'content-type': 'application/json' }).end(body);
        };
        if (this.refusing) return answer(503, '{"message":"down for maintenance"}');
        if (req.headers.authorization !== this.authorization) return answer(401);
        if (req.headers['x-experience-api-version'] !== '1.0.3') return answer(400, '{"message":"X-Experience-API-Version"}');
        const id = url.searchParams.get('statementId');
        if (req.method !== 'PUT' || url.pathname !== '/xapi/statements' || !id) return answer(400);
        let statement: Record<string, unknown>;
        try {
          statement = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return answer(400);
        }
        if (statement.id !== id) return answer(400, '{"message":"the id in the body differs"}');
        const known = this.statements.get(id);
        if (known && JSON.stringify(known) !== JSON.stringify(statement)) return answer(409);
        this.statements.set(id, statement);
        return answer(204);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/xapi/`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
