/**
 * Flow control on the real server against a client that is not the page:
 * it acknowledges only in whole steps of 64 KiB (the documented maximum,
 * docs/terminal.md "Flow control") and never the remainder, and it renders
 * lazily, so the server gets ahead of it and stops reading again and again,
 * while the shell prints megabytes. The server must never wait for an
 * acknowledgement that such a client does not owe: every stream ends with
 * its marker, and the shell answers afterwards. (With the old watermarks,
 * stop above 256 KiB and resume below 32 KiB, this client wedged the
 * terminal in the first or second stream.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeServerFrame, encode, MAX_ACK_STEP } from '../../contract/protocol.ts';
import { DEFAULT_WATERMARKS } from '../../labs-server/src/terminal/flow-control.ts';
import { Client, localShell, startTestServer, type TestServer } from '../support/server.ts';
import { isRefusal, TerminalClient } from '../support/terminal-client.ts';

const STEP = 64 * 1024;
/** The batcher's largest frame: a 64 KiB batch and the read that took it there. */
const MAX_FRAME = 128 * 1024;
const { high } = DEFAULT_WATERMARKS;

/**
 * Turns the client into a lazy renderer that acknowledges in steps. Every
 * 20 ms it looks at what it received: while output streams, it processes
 * nothing until it has more than the high watermark outstanding (the server
 * has stopped reading for it); when output is quiet, it processes what came.
 * What it processed it acknowledges in steps of `step` bytes, one ACK per
 * step, keeping any remainder under a step unacknowledged for good.
 */
function lazyStepper(term: TerminalClient, step: number) {
  let received = 0; // received, not yet processed
  let held = 0; // processed, not yet acknowledged
  let arrived = false; // output came since the last look
  let maxOutstanding = 0; // the server had sent at least this much unacknowledged
  let pauses = 0; // looks that found more than `high` outstanding: the server had stopped reading
  term.acking = false;
  term.ws.on('message', (data: Buffer) => {
    const frame = decodeServerFrame(data);
    if (frame.type !== 'output') return;
    received += frame.data.length;
    arrived = true;
    maxOutstanding = Math.max(maxOutstanding, received + held);
  });
  const timer = setInterval(() => {
    const behind = received + held > high;
    if (behind) pauses += 1;
    if (!behind && arrived) {
      arrived = false;
      return;
    }
    arrived = false;
    held += received;
    received = 0;
    while (held >= step) {
      term.ws.send(encode.ack(step));
      held -= step;
    }
  }, 20);
  return {
    held: () => held,
    maxOutstanding: () => maxOutstanding,
    pauses: () => pauses,
    stop: () => clearInterval(timer),
  };
}

describe('flow control with a client that acknowledges in 64 KiB steps', () => {
  let server: TestServer;
  let ada: Client;

  beforeAll(async () => {
    server = await startTestServer({ CDL_MODE: 'workshop', CDL_ACCESS_CODE: 'FLOW-2026', TERMINAL_GRACE_SECONDS: '30' });
    ada = new Client(server.origin);
    expect((await ada.post('/api/session', { name: 'Ada', accessCode: 'FLOW-2026' })).status).toBe(201);
  });

  afterAll(async () => {
    const admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
    const me = (await ada.get('/api/session')).body.id;
    if (me) await admin.delete(`/api/admin/sessions/${me}`);
    await server?.close();
  });

  it('never wedges: three streams of 4 MB end with their marker, and the shell answers after', async () => {
    expect(STEP).toBeLessThanOrEqual(MAX_ACK_STEP);
    const opened = await TerminalClient.open(`ws://localhost:${server.port}/api/terminal?lab=palette`, {
      origin: server.origin,
      cookie: ada.cookie,
    });
    if (isRefusal(opened)) throw new Error(`terminal refused: ${opened.status} ${opened.body}`);
    const term = opened;
    try {
      await term.waitFor(/\$ $/m, 20_000);
      const terminal = await localShell(server, (await ada.get('/api/session')).body.id, 'palette');
      const client = lazyStepper(term, STEP);
      const arrives = async (pattern: RegExp, timeoutMs: number) => {
        try {
          await term.waitFor(pattern, timeoutMs);
        } catch {
          throw new Error(
            `wedged: no ${pattern} within ${timeoutMs} ms; the server counts ${terminal?.unacknowledged} bytes unacknowledged, ` +
              `the client has processed everything and holds ${client.held()}, less than its step: it owes nothing`,
          );
        }
      };
      try {
        for (let round = 1; round <= 3; round += 1) {
          const started = Date.now();
          const before = term.received;
          // The marker is quoted in two halves, so the echoed command line never contains it whole.
          term.send(`head -c 3000000 /dev/zero | base64; echo "FLOW-""DONE-${round}"\r`);
          await arrives(new RegExp(`FLOW-DONE-${round}`), 6000);
          const streamed = term.received - before;
          process.stderr.write(
            `[flow] stream ${round}: ${streamed} bytes in ${Date.now() - started} ms; the client holds ${client.held()} for good\n`,
          );
          expect(streamed).toBeGreaterThan(4_000_000);
        }
        // The server stopped reading for this client, and sent it no more than its bound, the high watermark and one frame.
        process.stderr.write(
          `[flow] found the server stopped reading ${client.pauses()} times; at most ${client.maxOutstanding()} outstanding\n`,
        );
        expect(client.pauses()).toBeGreaterThan(0);
        expect(client.maxOutstanding()).toBeLessThanOrEqual(high + MAX_FRAME);
        // Left holding a remainder it will never acknowledge, the client still gets the shell's answers.
        expect(client.held()).toBeLessThan(STEP);
        term.send('echo "STILL-""HERE"\r');
        await arrives(/STILL-HERE/, 2000);
      } finally {
        client.stop();
      }
    } finally {
      await term.close();
    }
  });
});
