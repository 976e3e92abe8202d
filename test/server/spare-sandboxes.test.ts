/**
 * Workshop sandboxes started ahead (spare-shells.ts), on the real cluster:
 * they wait holding nothing of anyone's, each is handed to one learner only
 * and ends with their shell, the pool fills itself again (also after a
 * sandbox that died while it waited), the lab's saved files reach a sandbox
 * made before its learner was known, and the server's end takes the waiting
 * ones with it. Without sandboxes ahead (TERMINAL_SPARE_SHELLS=0), shells
 * start the same way, on the spot.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TerminalManager } from '../../labs-server/src/terminal/manager.ts';
import { SANDBOX_UID_BASE, SANDBOX_UID_COUNT } from '../../labs-server/src/terminal/uid-pool.ts';
import { Client, localTerminals, openTerminal, startTestServer, type TestServer } from '../support/server.ts';

const CODE = 'SPARE-2026';

/** Host processes running as a sandbox uid, by uid. */
function sandboxProcesses(): Map<number, number[]> {
  const found = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue;
    }
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    if (uid >= SANDBOX_UID_BASE && uid < SANDBOX_UID_BASE + SANDBOX_UID_COUNT) found.set(uid, [...(found.get(uid) ?? []), Number(name)]);
  }
  return found;
}

/** What a process's command line says, its arguments joined by spaces. */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** The sandbox's first bash, before it becomes the learner's: blocked reading the workspace's start pipe. */
const WAITING = '/bin/bash --noprofile --norc -c read -r _ < /run/cdl/terminal/start';

/** The uids of the sandboxes waiting now. */
function waitingUids(): number[] {
  return [...sandboxProcesses().entries()]
    .filter(([, pids]) => pids.some((pid) => commandLine(pid).startsWith(WAITING)))
    .map(([uid]) => uid)
    .sort();
}

/** Every learner joins from this machine's address, as a room behind one NAT does. */
const ENV = { CDL_MODE: 'workshop', CDL_ACCESS_CODE: CODE, SHARED_ADDRESSES: '127.0.0.1,::1' };

/** The sessions made here, ended when each server's tests are done. */
const joined: Array<{ server: TestServer; id: string }> = [];

async function learner(server: TestServer, name: string): Promise<Client> {
  const client = new Client(server.origin);
  expect((await client.post('/api/session', { name, accessCode: CODE })).status).toBe(201);
  joined.push({ server, id: (await client.get('/api/session')).body.id });
  return client;
}

/** Ends the sessions made through `server` (its shells and sandboxes go with them). */
async function endSessions(server: TestServer): Promise<void> {
  const admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
  for (const { id } of joined.filter((j) => j.server === server)) await admin.delete(`/api/admin/sessions/${id}`);
}

describe('workshop sandboxes started ahead', () => {
  let server: TestServer;
  let manager: TerminalManager;
  let closed = false;

  beforeAll(async () => {
    server = await startTestServer({ ...ENV, TERMINAL_SPARE_SHELLS: '2' });
    expect(server.shell).toBe('bubblewrap');
    manager = localTerminals(server);
  });

  afterAll(async () => {
    if (!closed) await server?.close();
  });

  it("wait holding nothing of anyone's, and each becomes one learner's shell only", async () => {
    await expect.poll(() => manager.sparesReady, { timeout: 15_000 }).toBe(2);
    await expect.poll(() => waitingUids().length, { timeout: 5000 }).toBe(2);
    const waiting = waitingUids();
    for (const uid of waiting) {
      const pid = (sandboxProcesses().get(uid) ?? []).find((p) => commandLine(p).startsWith(WAITING)) as number;
      // The workspace as the sandbox sees it: its /etc files, its pipe and the folder for the lab's files; no credentials, no rc file.
      expect(readdirSync(`/proc/${pid}/root/run/cdl/terminal`).sort()).toEqual(['files', 'group', 'passwd', 'start']);
      expect(existsSync(`/proc/${pid}/root/home/learner/.kube/config`)).toBe(false);
      expect(readdirSync(`/proc/${pid}/root/home/learner/files`)).toEqual([]);
    }

    const ada = await learner(server, 'Ada');
    const first = await openTerminal(server, ada);
    const adaUid = Number((await first.run('id -u')).trim());
    expect(waiting).toContain(adaUid);
    expect((await first.run('kubectl auth can-i create configmaps')).trim()).toBe('yes');
    expect((await first.run('stat -c %a ~/.kube/config')).trim()).toBe('600');
    // The pool is filled again, with sandboxes of other uids.
    await expect.poll(() => waitingUids().length, { timeout: 5000 }).toBe(2);
    expect(waitingUids()).not.toContain(adaUid);

    // Ada's shell ends: its sandbox goes with it, and her next shell is another sandbox.
    const sandboxPids = sandboxProcesses().get(adaUid) ?? [];
    expect(sandboxPids.length).toBeGreaterThan(0);
    first.send('exit\r');
    await expect.poll(() => first.exit, { timeout: 10_000 }).toBeDefined();
    await first.close();
    await expect.poll(() => sandboxPids.filter((pid) => existsSync(`/proc/${pid}`)), { timeout: 10_000 }).toEqual([]);
    const again = await openTerminal(server, ada);
    const bob = await learner(server, 'Bob');
    const bobs = await openTerminal(server, bob);
    const bobUid = Number((await bobs.run('id -u')).trim());
    const adaAgain = Number((await again.run('id -u')).trim());
    expect(bobUid).not.toBe(adaAgain);
    // Bob's shell sees its own processes only: none of Ada's, none of the waiting sandboxes'.
    expect((await bobs.run('ps -e -o uid= | sort -u')).trim()).toBe(String(bobUid));
    await Promise.all([again.close(), bobs.close()]);
  });

  it("gives a sandbox made before its learner came the lab's saved files: those saved before, and each save after, read-only", async () => {
    const ada = await learner(server, 'Ada Files');
    expect((await ada.post('/api/labs/palette/start', {})).status).toBeLessThan(300);
    const before = await ada.post('/api/labs/palette/files/web.yaml', { content: 'metadata: { name: before }\n' });
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    const term = await openTerminal(server, ada);
    try {
      await expect.poll(() => term.run('cat ~/files/web.yaml'), { timeout: 5000 }).toContain('name: before');
      // A save is in the shell's folder once it is answered: the very next command finds it.
      expect((await ada.post('/api/labs/palette/files/web.yaml', { content: 'metadata: { name: after }\n' })).status).toBe(200);
      expect(await term.run('cat ~/files/web.yaml')).toContain('name: after');
      expect((await ada.post('/api/labs/palette/files/db.yaml', { content: 'metadata: { name: db }\n' })).status).toBe(200);
      expect(await term.run('cat ~/files/db.yaml')).toContain('name: db');
      expect(await term.run('echo hacked > ~/files/web.yaml; rm -f ~/files/db.yaml; ls ~/files')).toMatch(/Read-only file system/);
      expect(await term.run('cat ~/files/web.yaml ~/files/db.yaml')).toMatch(/name: after[\s\S]*name: db/);
    } finally {
      await term.close();
    }
  });

  it('replaces a sandbox that died while it waited, and terminals still open', async () => {
    await expect.poll(() => waitingUids().length, { timeout: 10_000 }).toBe(2);
    const [victim] = waitingUids();
    for (const pid of sandboxProcesses().get(victim as number) ?? []) process.kill(pid, 'SIGKILL');
    // Cleaned up, and after a short wait another one is made.
    await expect.poll(() => sandboxProcesses().has(victim as number), { timeout: 10_000 }).toBe(false);
    await expect.poll(() => manager.sparesReady, { timeout: 15_000 }).toBe(2);
    const cy = await learner(server, 'Cy');
    const term = await openTerminal(server, cy);
    expect((await term.run('kubectl auth can-i create configmaps')).trim()).toBe('yes');
    await term.close();
  });

  it('ends the waiting sandboxes with the server', async () => {
    await expect.poll(() => waitingUids().length, { timeout: 10_000 }).toBe(2);
    const waiting = waitingUids();
    await endSessions(server);
    closed = true;
    await server.close();
    await expect.poll(() => waiting.filter((uid) => sandboxProcesses().has(uid)), { timeout: 10_000 }).toEqual([]);
  });
});

describe('workshop shells with no sandbox started ahead', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ ...ENV, TERMINAL_SPARE_SHELLS: '0' });
  });

  afterAll(async () => {
    if (server) await endSessions(server);
    await server?.close();
  });

  it('start the same way, on the spot', async () => {
    expect(localTerminals(server).sparesReady).toBe(0);
    expect(waitingUids()).toEqual([]);
    const dee = await learner(server, 'Dee');
    const term = await openTerminal(server, dee);
    try {
      expect((await term.run('kubectl auth can-i create configmaps')).trim()).toBe('yes');
      expect(Number((await term.run('id -u')).trim())).toBeGreaterThanOrEqual(SANDBOX_UID_BASE);
      expect(waitingUids()).toEqual([]);
    } finally {
      await term.close();
    }
  });
});
