/**
 * Shells owned by a terminal agent, with lab servers as stateless proxies:
 * a learner's shell outlives the replica that opened it, and comes back,
 * with its output, through another; bad frames stop at the proxy; flow
 * control holds end to end (an acknowledgement of more than was sent still
 * ends the connection); the agent answers its servers only, and serves one
 * session's lab; ending the session ends its shells.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_PATHS } from '../../contract/agent.ts';
import { encode } from '../../contract/protocol.ts';
import { oneAgent, startTestAgent, type TestAgent } from '../support/agent.ts';
import { freePort } from '../support/ports.ts';
import { Client, startTestServer, type TestServer } from '../support/server.ts';
import { isRefusal, TerminalClient } from '../support/terminal-client.ts';

const CODE = 'AGENT-2026-ROOM';

describe('terminals relayed to a terminal agent', () => {
  let agent: TestAgent;
  let origin: string;
  let origins: string;
  const replicas: TestServer[] = [];
  let learner: Client;
  let sessionId: string;

  const startReplica = async (port: number) => {
    const env = {
      PORT: String(port),
      CDL_MODE: 'workshop',
      CDL_ACCESS_CODE: CODE,
      SHARED_ADDRESSES: '127.0.0.1,::1',
      // The page's origin is the first replica's (the room's address); the instructor uses the second.
      PUBLIC_ORIGINS: origins,
    };
    const server = await startTestServer(env, undefined, undefined, { agents: oneAgent(agent) });
    replicas.push(server);
    return server;
  };

  const open = async (server: TestServer, since?: number) => {
    const query = new URLSearchParams({ lab: 'palette', ...(since !== undefined ? { since: String(since) } : {}) });
    const term = await TerminalClient.open(`ws://localhost:${server.port}/api/terminal?${query}`, { origin, cookie: learner.cookie });
    if (isRefusal(term)) throw new Error(`terminal refused: ${term.status} ${term.body}`);
    return term;
  };

  beforeAll(async () => {
    agent = await startTestAgent({ CDL_AGENT_GRACE_SECONDS: '60' });
    const ports = [await freePort(), await freePort()];
    origin = `http://localhost:${ports[0]}`;
    origins = ports.map((port) => `http://localhost:${port}`).join(',');
    for (const port of ports) await startReplica(port);
    learner = new Client(origin);
    const joined = await learner.post('/api/session', { name: 'Relayed', accessCode: CODE });
    expect(joined.status).toBe(201);
    sessionId = (await learner.get('/api/session')).body.id;
  });

  afterAll(async () => {
    for (const server of replicas) await server.close().catch(() => undefined);
    await agent?.stop();
  });

  it("gives the learner a shell of the agent's with their own credentials, which outlives the replica that opened it", async () => {
    const [a, b] = replicas as [TestServer, TestServer];
    expect(a.shell).toBe('agent');
    const term = await open(a);
    await term.waitFor(/\$ $/m, 20_000);
    expect((await term.run('kubectl auth whoami -o jsonpath="{.status.userInfo.username}"; echo')).trim()).toBe(
      `system:serviceaccount:cdl-system:learner-${sessionId}`,
    );
    const pid = (await term.run('echo $$')).trim();
    expect(pid).toMatch(/^\d+$/);
    await term.run('echo marker-before-the-crash');
    expect(await agent.shells()).toBe(1);

    // The replica goes away (its pod is deleted, say): the page is told to come back at once.
    await a.close();
    await expect.poll(() => term.closed?.code, { timeout: 5000 }).toBe(1012);

    // Through the other replica: the same shell, and what it showed.
    const again = await open(b, 0);
    await expect.poll(() => again.ready, { timeout: 10_000 }).toBeDefined();
    expect(again.ready?.resumed).toBe(true);
    await again.waitFor(/marker-before-the-crash/, 10_000);
    expect((await again.run('echo $$')).trim()).toBe(pid);
    await again.close();
  });

  it('refuses bad frames at the proxy and keeps the shell; an acknowledgement of more than was sent ends the connection', async () => {
    const b = replicas[1] as TestServer;
    const term = await open(b);
    await expect.poll(() => term.ready, { timeout: 10_000 }).toBeDefined();
    term.ws.send('text, not binary');
    term.ws.send(Uint8Array.of(0x03, 1, 2, 3));
    await expect.poll(() => term.errors.length, { timeout: 5000 }).toBe(2);
    expect(term.errors[0]).toMatch(/^text_frame:/);
    expect(term.errors[1]).toMatch(/^bad_frame: unknown frame type 0x03/);
    expect((await term.run('echo alive')).trim()).toBe('alive');

    // Flow control is the agent's, end to end: a client that stops acknowledging stops getting output.
    term.acking = false;
    term.send('yes\r');
    await expect.poll(() => term.received, { timeout: 10_000 }).toBeGreaterThan(64 * 1024);
    // Output stops: what was in flight arrives, then nothing more for a second.
    let held = -1;
    await expect
      .poll(
        async () => {
          const before = term.unacked;
          await new Promise((resolve) => setTimeout(resolve, 1000));
          held = term.unacked;
          return held === before;
        },
        { timeout: 20_000, interval: 0 },
      )
      .toBe(true);
    expect(held, 'no more than the window (256 KiB) and a batch, held unacknowledged').toBeLessThan(1024 * 1024);
    term.ackAll();
    await expect.poll(() => term.received, { timeout: 10_000 }).toBeGreaterThan(held + 1024 * 1024);
    await term.interrupt();

    term.ws.send(encode.ack(0xffffffff));
    await expect.poll(() => term.closed?.code, { timeout: 5000 }).toBe(1008);
    expect(term.errors.join('\n')).toMatch(/acknowledged more output than was sent/);
    // The shell lives on.
    const back = await open(b);
    await expect.poll(() => back.ready, { timeout: 10_000 }).toBeDefined();
    await back.interrupt();
    expect((await back.run('echo back')).trim()).toBe('back');
    await back.close();
  });

  it('shows the instructor, on the other replica, a learner who joined on the first', async () => {
    const b = replicas[1] as TestServer;
    const admin = new Client(`http://localhost:${b.port}`, { authorization: `Bearer ${b.secrets.adminToken}` });
    const progress = await admin.get('/api/admin/progress');
    expect(progress.status).toBe(200);
    expect(progress.body.learners.map((l: { id: string }) => l.id)).toContain(sessionId);
  });

  it('answers its servers only, and serves one session and lab', async () => {
    const put = (headers: Record<string, string>, query: string) =>
      fetch(`${agent.url}${AGENT_PATHS.credentials}?${query}`, { method: 'PUT', headers, body: 'apiVersion: v1\nkind: Config\n' });
    const mine = `session=${sessionId}&lab=palette`;
    expect((await put({}, mine)).status).toBe(401);
    expect((await put({ authorization: 'Bearer not-the-secret' }, mine)).status).toBe(401);
    expect((await put({ authorization: `Bearer ${agent.secret}` }, 'session=s-000000000000&lab=palette')).status).toBe(409);
    expect((await put({ authorization: `Bearer ${agent.secret}` }, `session=${sessionId}&lab=other-lab`)).status).toBe(409);
    expect((await put({ authorization: `Bearer ${agent.secret}` }, 'session=../../etc&lab=palette')).status).toBe(400);
    const upgrade = await TerminalClient.open(
      `ws://127.0.0.1:${agent.port}${AGENT_PATHS.terminal}?session=${sessionId}&lab=palette&namespace=default`,
      { authorization: 'Bearer wrong' },
    );
    expect(isRefusal(upgrade) && upgrade.status).toBe(401);
  });

  it("keeps the editor's saves in the agent, where the lab's shell finds them at ~/files, whichever replica took the save", async () => {
    // The first replica was stopped above; a replica started now stands in for another one behind the load balancer.
    const b = replicas[1] as TestServer;
    const c = await startReplica(await freePort());
    const through = (server: TestServer) => {
      const client = new Client(`http://localhost:${server.port}`, { origin });
      client.cookie = learner.cookie;
      return client;
    };
    const saved = await through(c).post('/api/labs/palette/files/web.yaml', { content: 'kind: ConfigMap\nmetadata: { name: from-c }\n' });
    expect(saved.status, JSON.stringify(saved.body)).toBe(200);
    expect(saved.body.path).toBe('~/files/web.yaml');
    const term = await open(b);
    await expect.poll(() => term.ready, { timeout: 10_000 }).toBeDefined();
    expect(await term.run('cat ~/files/web.yaml')).toContain('name: from-c');
    // Saved again through the other replica: the same file, replaced.
    expect((await through(b).post('/api/labs/palette/files/web.yaml', { content: 'metadata: { name: from-b }\n' })).status).toBe(200);
    expect(await term.run('cat ~/files/web.yaml')).toContain('name: from-b');
    await term.close();

    // The agent takes files from its servers only, by names the editor allows, for its own session and lab, of a bounded size.
    const put = (headers: Record<string, string>, name: string, query: string, body = 'a: 1\n') =>
      fetch(`${agent.url}${AGENT_PATHS.files}/${name}?${query}`, { method: 'PUT', headers, body });
    const secret = { authorization: `Bearer ${agent.secret}` };
    const mine = `session=${sessionId}&lab=palette`;
    expect((await put({}, 'web.yaml', mine)).status).toBe(401);
    expect((await put(secret, '..%2F..%2Fetc%2Fpasswd', mine)).status).toBe(400);
    expect((await put(secret, '.bashrc', mine)).status).toBe(400);
    expect((await put(secret, 'web%E0%A4%A.yaml', mine)).status).toBe(400);
    expect((await put(secret, 'web.yaml', `session=${sessionId}&lab=other-lab`)).status).toBe(409);
    expect((await put(secret, 'big.yaml', mine, 'x'.repeat(13 * 1024))).status).toBe(413);
    // The lab's limit, as the server says it: a 409 the page shows.
    let status = 0;
    for (let i = 0; i < 25 && status !== 409; i += 1) {
      status = (await through(b).post(`/api/labs/palette/files/f${i}.yaml`, { content: 'a: 1\n' })).status;
    }
    expect(status).toBe(409);
  });

  it("ends the session's shells on the agent when the session ends", async () => {
    const b = replicas[1] as TestServer;
    expect(await agent.shells()).toBeGreaterThan(0);
    const admin = new Client(`http://localhost:${b.port}`, { authorization: `Bearer ${b.secrets.adminToken}` });
    expect((await admin.delete(`/api/admin/sessions/${sessionId}`)).status).toBe(204);
    await expect.poll(() => agent.shells(), { timeout: 10_000 }).toBe(0);
  });
});
