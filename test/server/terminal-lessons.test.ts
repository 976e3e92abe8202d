/**
 * A learner moving from lesson to lesson, as they click through the course:
 * each lesson's terminal connects at once, however many were left behind
 * (the shells of lessons left wait for their learner within the grace
 * period, ten per session at most; the one left longest ago ends first);
 * going back to a lesson left a moment ago finds its shell; and an
 * eleventh terminal while ten are shown is refused with a message that
 * says what to do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { courseCatalog } from '../../checks/catalog.ts';
import { Client, startTestServer, type TestServer } from '../support/server.ts';
import { isRefusal, TerminalClient } from '../support/terminal-client.ts';

const catalog = courseCatalog();
/** Eleven namespace-scope labs without add-ons: one more than a session keeps shells for. */
const LABS = catalog
  .list()
  .filter((lab) => lab.scope === 'namespace' && !lab.needsContainers && !lab.needsKarpenter && !lab.needsAuditLog)
  .slice(0, 11)
  .map((lab) => lab.id);

async function connect(server: TestServer, learner: Client, lab: string, tab?: string): Promise<TerminalClient> {
  const query = tab === undefined ? `lab=${lab}` : `lab=${lab}&tab=${tab}`;
  const result = await TerminalClient.open(`ws://localhost:${server.port}/api/terminal?${query}`, {
    origin: server.origin,
    cookie: learner.cookie,
  });
  if (isRefusal(result)) throw new Error(`terminal of ${lab} refused: ${result.status} ${result.body}`);
  return result;
}

describe('moving between lessons', () => {
  let server: TestServer;
  let me: Client;

  beforeAll(async () => {
    expect(LABS).toHaveLength(11);
    server = await startTestServer({ CDL_MODE: 'single', TERMINAL_GRACE_SECONDS: '300' }, catalog);
    me = new Client(server.origin);
    await me.post('/api/session');
  });

  afterAll(async () => {
    const admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
    const id = (await me.get('/api/session')).body.id;
    if (id) await admin.delete(`/api/admin/sessions/${id}`);
    await server?.close();
  });

  it('connects every lesson in a row, keeps the recent shells, and ends the one left longest ago', { timeout: 240_000 }, async () => {
    for (const lab of LABS) {
      const term = await connect(server, me, lab);
      await term.waitFor(/\$ $/m);
      expect((await term.run(`echo was-in-${lab}`)).trim()).toBe(`was-in-${lab}`);
      await term.close();
    }
    // The second lesson, left nine lessons ago: the same shell, its output replayed.
    const second = await connect(server, me, LABS[1] ?? '');
    try {
      await second.waitFor(/\$ $/m);
      expect(second.ready?.resumed).toBe(true);
      expect(second.text).toContain(`was-in-${LABS[1]}`);
    } finally {
      await second.close();
    }
    // The first, left longest ago, made room for the eleventh: a new shell, at once.
    const first = await connect(server, me, LABS[0] ?? '');
    try {
      await first.waitFor(/\$ $/m);
      expect(first.ready?.resumed).toBe(false);
    } finally {
      await first.close();
    }
    expect(server.terminals.size).toBeLessThanOrEqual(10);
  });

  it('gives a lab a shell per tab, each with its own output, found again by its tab', async () => {
    const lab = LABS[3] ?? '';
    const [main, watch] = await Promise.all([connect(server, me, lab), connect(server, me, lab, 'watch')]);
    try {
      await Promise.all([main.waitFor(/\$ $/m), watch.waitFor(/\$ $/m)]);
      expect(watch.text).toContain(`${lab}:watch`);
      expect(main.text).not.toContain(`${lab}:`);
      const [mainPid, watchPid] = await Promise.all([main.run('echo $$'), watch.run('echo only-in-watch; echo $$')]);
      expect(mainPid.trim()).not.toBe(watchPid.trim().split('\n').at(-1));
      expect(main.text).not.toContain('only-in-watch');
    } finally {
      await Promise.all([main.close(), watch.close()]);
    }
    const again = await connect(server, me, lab, 'watch');
    try {
      await again.waitFor(/\$ $/m);
      expect(again.ready?.resumed).toBe(true);
      expect(again.text).toContain('only-in-watch');
    } finally {
      await again.close();
    }
    const bad = await TerminalClient.open(`ws://localhost:${server.port}/api/terminal?lab=${lab}&tab=Bad%20Tab`, {
      origin: server.origin,
      cookie: me.cookie,
    });
    expect(isRefusal(bad) && bad.status).toBe(400);
  });

  it('refuses an eleventh terminal while ten are shown, saying what to do', { timeout: 120_000 }, async () => {
    // A fresh session (single-user mode has one at a time), whose eleventh lab has no shell yet.
    const admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
    await admin.delete(`/api/admin/sessions/${(await me.get('/api/session')).body.id}`);
    const other = new Client(server.origin);
    expect((await other.post('/api/session')).status).toBeLessThan(300);
    const open = await Promise.all(LABS.slice(0, 10).map((lab) => connect(server, other, lab)));
    try {
      await Promise.all(open.map((term) => term.waitFor(/\$ $/m)));
      const eleventh = await connect(server, other, LABS[10] ?? '');
      await eleventh.until(() => eleventh.closed !== undefined, 10_000, 'the eleventh terminal to be closed');
      expect(eleventh.closed?.code).toBe(1011);
      expect(eleventh.closed?.reason).toBe(
        '10 terminals of yours are open in other tabs, the most one session may have. Close one and reload.',
      );
      // The ten shown carry on.
      expect((await open[0]?.run('echo still-here'))?.trim()).toBe('still-here');
    } finally {
      await Promise.all(open.map((term) => term.close()));
      await admin.delete(`/api/admin/sessions/${(await other.get('/api/session')).body.id}`);
    }
  });
});
