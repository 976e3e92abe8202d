/**
 * A terminal's socket over a load balancer and a server that stops: the
 * server pings every socket, cuts a peer that stopped answering (its shell
 * waits for the browser as after any disconnect), and a server that is
 * stopping refuses new terminals, says so on /healthz, and closes the open
 * ones with 1012 so that the page reconnects at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_RESTART } from '../../contract/protocol.ts';
import { closedWithin, rawUpgrade } from '../support/raw-websocket.ts';
import { Client, startTestServer, type TestServer } from '../support/server.ts';
import { isRefusal, TerminalClient } from '../support/terminal-client.ts';

const KEEPALIVE_MS = 300;

describe('terminal keepalive and a stopping server', () => {
  let server: TestServer;
  let learner: Client;

  beforeAll(async () => {
    server = await startTestServer({}, undefined, undefined, { keepaliveMs: KEEPALIVE_MS });
    learner = new Client(server.origin);
    expect((await learner.post('/api/session', {})).status).toBe(201);
  });

  afterAll(async () => {
    await server?.close();
  });

  const open = async () => {
    const term = await TerminalClient.open(`ws://localhost:${server.port}/api/terminal?lab=palette`, {
      origin: server.origin,
      cookie: learner.cookie,
    });
    if (isRefusal(term)) throw new Error(`terminal refused: ${term.status} ${term.body}`);
    await term.waitFor(/\$ $/m, 20_000);
    return term;
  };

  it('keeps a socket that answers pings, and cuts one that does not', async () => {
    const term = await open();
    // A client that answers pings (as browsers do) outlives many rounds of them.
    await sleep(KEEPALIVE_MS * 6);
    expect(term.closed).toBeUndefined();
    expect((await term.run('echo still-here')).trim()).toBe('still-here');
    await term.close();

    // A peer that never reads (a dead laptop, a cut cable) answers no ping: it is cut within two rounds or so.
    const silent = await rawUpgrade(server.port, '/api/terminal?lab=palette', { origin: server.origin, cookie: learner.cookie });
    silent.on('error', () => undefined);
    silent.pause();
    const started = Date.now();
    expect(await closedWithin(silent, KEEPALIVE_MS * 10)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(KEEPALIVE_MS);
  });

  it('when stopping: closes terminals with 1012, refuses new ones and answers 503 on /healthz', async () => {
    const term = await open();
    expect((await fetch(`${server.origin}/healthz`)).status).toBe(200);
    server.drain();
    await expect.poll(() => term.closed?.code, { timeout: 5000 }).toBe(CLOSE_RESTART);
    expect(term.closed?.reason).toMatch(/restarting/);
    const health = await fetch(`${server.origin}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ ok: false, stopping: true });
    const refused = await TerminalClient.open(`ws://localhost:${server.port}/api/terminal?lab=palette`, {
      origin: server.origin,
      cookie: learner.cookie,
    });
    expect(isRefusal(refused) && refused.status).toBe(503);
    expect(isRefusal(refused) && refused.body).toMatch(/restarting/);
  });
});
