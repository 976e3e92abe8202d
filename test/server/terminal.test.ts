/**
 * The browser terminal end to end on the real cluster: a real WebSocket, a
 * real shell (in bubblewrap in workshop mode), kubectl with the learner's own
 * token. Origin and session are checked before the upgrade; a reconnect gets
 * the same shell and its output back; `yes` cannot exhaust memory and Ctrl-C
 * stops it; bad frames are refused while the shell lives on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode, MAX_CLIENT_FRAME } from '../../contract/protocol.ts';
import { sessionMembers } from '../../labs-server/src/terminal/process-group.ts';
import { Client, localShell, openTerminal, startTestServer, type TestServer } from '../support/server.ts';
import { isRefusal, type Refusal, TerminalClient } from '../support/terminal-client.ts';

async function refusal(server: TestServer, headers: Record<string, string>, query = 'lab=palette'): Promise<Refusal> {
  const result = await TerminalClient.open(`ws://localhost:${server.port}/api/terminal?${query}`, headers);
  if (!isRefusal(result)) {
    await result.close();
    throw new Error('the upgrade was accepted');
  }
  return result;
}

describe('in workshop mode (bubblewrap)', () => {
  let server: TestServer;
  let ada: Client;
  let admin: Client;

  beforeAll(async () => {
    server = await startTestServer({ CDL_MODE: 'workshop', CDL_ACCESS_CODE: 'TERM-2026', TERMINAL_GRACE_SECONDS: '30' });
    expect(server.shell).toBe('bubblewrap');
    ada = new Client(server.origin);
    expect((await ada.post('/api/session', { name: 'Ada', accessCode: 'TERM-2026' })).status).toBe(201);
    admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
  });

  afterAll(async () => {
    const me = (await ada.get('/api/session')).body.id;
    if (me) await admin.delete(`/api/admin/sessions/${me}`);
    await server?.close();
  });

  it('refuses an upgrade from another origin, without a session, or for an unknown lab', async () => {
    const crossSite = await refusal(server, { origin: 'https://evil.example', cookie: ada.cookie });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body).toMatch(/bad_origin/);
    expect((await refusal(server, { origin: server.origin, cookie: ada.cookie.replace(/=.*/, '=forged') })).status).toBe(401);
    expect((await refusal(server, { origin: server.origin })).status).toBe(401);
    expect((await refusal(server, { cookie: ada.cookie })).status).toBe(403);
    expect((await refusal(server, { origin: server.origin, cookie: ada.cookie }, 'lab=no-such-lab')).status).toBe(404);
    expect((await refusal(server, { origin: server.origin, cookie: ada.cookie }, 'lab=palette&cols=99999')).status).toBe(400);
  });

  it("runs kubectl with the learner's own rights: no pods in kube-system, yes in the sandbox", async () => {
    const term = await openTerminal(server, ada);
    try {
      expect((await term.run('kubectl auth can-i create pods --namespace kube-system')).trim()).toBe('no');
      expect((await term.run('kubectl auth can-i create configmaps')).trim()).toBe('yes');
      expect(await term.run('kubectl get configmap palette -o jsonpath={.data.colour}')).toMatch(/blue/);
    } finally {
      await term.close();
    }
  });

  it('keeps the shell away from the host: its own uid, no host files, no host processes, only the API server on the network', async () => {
    const term = await openTerminal(server, ada);
    try {
      expect(Number((await term.run('id -u')).trim())).toBeGreaterThanOrEqual(200_000);
      expect(await term.run('ls /root /work 2>&1 | head -2')).toMatch(/No such file/);
      expect(await term.run('cat /proc/1/cmdline | tr "\\0" " "')).toMatch(/bash|bwrap|socat/);
      expect(Number((await term.run('ls /proc | grep -c "^[0-9]"')).trim())).toBeLessThan(15);
      const port = server.port;
      expect(await term.run(`(exec 3<>/dev/tcp/127.0.0.1/${port}) 2>&1 || echo unreachable`)).toMatch(/unreachable/);
      expect(await term.run('touch /usr/x 2>&1; echo hi > ~/note && cat ~/note')).toMatch(/Read-only file system[\s\S]*hi/);
    } finally {
      await term.close();
    }
  });

  it('gives a browser that reconnects within the grace period the same shell and its earlier output', async () => {
    const first = await openTerminal(server, ada);
    const pid = (await first.run('echo $$')).trim();
    first.send('echo remember-$((6*7))\r');
    await first.waitFor(/remember-42/);
    await first.close();

    const again = await openTerminal(server, ada);
    try {
      expect(again.ready?.resumed).toBe(true);
      expect(again.text).toMatch(/remember-42/);
      expect((await again.run('echo $$')).trim()).toBe(pid);
    } finally {
      await again.close();
    }
  });

  it('gives a new shell at once to a browser that comes back after typing `exit`', async () => {
    const first = await openTerminal(server, ada);
    await first.run('touch /tmp/the-old-shell');
    first.send('exit\r');
    await first.until(() => first.exit !== undefined && first.closed !== undefined, 10_000, 'the shell to end');
    expect(first.exit?.code).toBe(0);
    // At once, while the old shell is still being cleaned up.
    const again = await openTerminal(server, ada);
    try {
      expect(again.ready?.resumed).toBe(false);
      // Each shell has a /tmp of its own: the new one does not have the old one's file.
      expect((await again.run('ls /tmp/the-old-shell 2>&1')).trim()).toMatch(/No such file/);
    } finally {
      await again.close();
    }
  });

  it('refuses malformed frames and absurd sizes with an error frame, and the shell carries on', async () => {
    const term = await openTerminal(server, ada);
    try {
      term.ws.send(Buffer.of(0x7f, 1, 2));
      term.ws.send(encode.resize(0, 0));
      term.ws.send(encode.resize(60000, 60000));
      term.ws.send(Buffer.of(0x02, 1));
      term.ws.send('text is not a frame');
      await expect.poll(() => term.errors.length).toBe(5);
      expect(term.errors.join('\n')).toMatch(/unknown frame type 0x7f[\s\S]*out of range[\s\S]*out of range[\s\S]*4 bytes[\s\S]*binary/);
      term.ws.send(encode.resize(100, 30));
      expect((await term.run('stty size')).trim()).toBe('30 100');
    } finally {
      await term.close();
    }
  });

  it('closes the socket on an oversize frame and keeps the shell for the next one', async () => {
    const term = await openTerminal(server, ada);
    const pid = (await term.run('echo $$')).trim();
    term.ws.send(Buffer.concat([Buffer.of(0x00), Buffer.alloc(MAX_CLIENT_FRAME + 10, 0x61)]));
    await expect.poll(() => term.closed?.code, { timeout: 5000 }).toBe(1009);
    const next = await openTerminal(server, ada);
    try {
      expect((await next.run('echo $$')).trim()).toBe(pid);
    } finally {
      await next.close();
    }
  });

  it('keeps memory bounded through ten seconds of `yes`, and Ctrl-C stops it at once', async () => {
    const term = await openTerminal(server, ada);
    try {
      const terminal = await localShell(server, (await ada.get('/api/session')).body.id, 'palette');
      const before = process.memoryUsage().rss;
      term.send('yes\r');
      let maxUnacked = 0;
      let maxBuffered = 0;
      const until = Date.now() + 10_000;
      let stalledAt = 0;
      while (Date.now() < until) {
        await sleep(100);
        maxUnacked = Math.max(maxUnacked, terminal?.unacknowledged ?? 0);
        maxBuffered = Math.max(maxBuffered, term.ws.bufferedAmount, terminal?.bufferedBytes ?? 0);
        // For the last three seconds, act as a browser that fell behind: no acknowledgements.
        if (!stalledAt && until - Date.now() < 3000) {
          term.acking = false;
          stalledAt = term.received;
        }
      }
      const receivedWhileStalled = term.received - stalledAt;
      const grown = process.memoryUsage().rss - before;
      expect(term.received).toBeGreaterThan(1_000_000);
      expect(maxUnacked).toBeLessThan(1024 * 1024);
      expect(receivedWhileStalled).toBeLessThan(1024 * 1024);
      expect(maxBuffered).toBeLessThanOrEqual(512 * 1024);
      expect(grown).toBeLessThan(100 * 1024 * 1024);

      term.ackAll();
      const stopped = Date.now();
      term.send('\x03');
      term.text = '';
      await term.waitFor(/\^C[\s\S]*\$ $/, 3000);
      expect(Date.now() - stopped).toBeLessThan(2000);
      expect((await term.run('echo alive')).trim()).toBe('alive');
    } finally {
      await term.close();
    }
  });

  it('ends every process of the shell when the session ends, even one that ignores the hangup', async () => {
    const bo = new Client(server.origin);
    await bo.post('/api/session', { name: 'Bo', accessCode: 'TERM-2026' });
    const term = await openTerminal(server, bo);
    term.send('sleep 300 & nohup sleep 301 >/dev/null 2>&1 &\r');
    await term.waitFor(/\[2\] \d+/);
    const id = (await bo.get('/api/session')).body.id;
    const pid = (await localShell(server, id, 'palette'))?.pid ?? 0;
    expect(sessionMembers(pid).length).toBeGreaterThanOrEqual(3);
    const gauge = async () => (await server.metrics.terminalsOpen.get()).values[0]?.value ?? 0;
    const openBefore = await gauge();
    expect((await admin.delete(`/api/admin/sessions/${id}`)).status).toBe(204);
    await expect.poll(() => sessionMembers(pid).length, { timeout: 5000 }).toBe(0);
    await expect.poll(gauge, { timeout: 5000 }).toBe(openBefore - 1);
    expect(localShell(server, id, 'palette')).toBeUndefined();
  });
});

describe('in single-user mode (a plain shell)', () => {
  let server: TestServer;
  let me: Client;

  beforeAll(async () => {
    server = await startTestServer({ CDL_MODE: 'single' });
    me = new Client(server.origin);
    await me.post('/api/session');
  });
  afterAll(async () => {
    const admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
    await admin.delete(`/api/admin/sessions/${(await me.get('/api/session')).body.id}`);
    await server?.close();
  });

  it("still gives a namespace lab's terminal only the sandbox's rights", async () => {
    expect(server.shell).toBe('host');
    const term = await openTerminal(server, me);
    try {
      expect((await term.run('kubectl auth can-i create pods --namespace kube-system')).trim()).toBe('no');
      expect((await term.run('kubectl auth whoami -o jsonpath={.status.userInfo.username}')).trim()).toMatch(
        /^system:serviceaccount:cdl-system:learner-s-/,
      );
      // Its own pty's descriptors only, as in workshop mode (the launcher closes what it inherits).
      expect((await term.run('ls /proc/$$/fd > ~/.fds; sort -n ~/.fds | tr "\\n" " "')).trim()).toBe('0 1 2 255');
    } finally {
      await term.close();
    }
  });
});
