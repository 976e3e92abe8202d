/**
 * The pool of sandboxes started ahead (spare-shells.ts), with real ptys and
 * a backend that starts a plain process in place of bubblewrap: the pool
 * fills itself, a take comes from it (or is made on the spot when it is
 * empty), a sandbox that ends while it waits is cleaned up and the pool
 * waits longer after each failure instead of starting sandboxes in a loop,
 * and closing ends the waiting ones and gives their uids back.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type IPty, spawn } from 'node-pty';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { ShellBackend, Workspace } from '../../labs-server/src/terminal/shell-backend.ts';
import { SpareShells } from '../../labs-server/src/terminal/spare-shells.ts';
import { UidPool } from '../../labs-server/src/terminal/uid-pool.ts';

const root = mkdtempSync(join(tmpdir(), 'cdl-spares-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Starts `command` for each sandbox; records what it was asked. */
class ProcessBackend implements ShellBackend {
  readonly name = 'bubblewrap' as const;
  readonly separateUsers = true;
  readonly waits = true;
  readonly kubectl = undefined;
  readonly spawned: Workspace[] = [];
  readonly released: string[] = [];
  command: string;

  constructor(command: string) {
    this.command = command;
  }

  apiServer(url: string) {
    return { server: url };
  }
  workspaceInside(workspace: Workspace) {
    return workspace.dir;
  }
  homeInside(workspace: Workspace) {
    return workspace.dir;
  }
  async prepare(): Promise<void> {}
  spawn(workspace: Workspace): IPty {
    this.spawned.push(workspace);
    return spawn('/bin/sh', ['-c', this.command], { cwd: workspace.dir, env: {} });
  }
  async release(workspace: Workspace): Promise<void> {
    this.released.push(workspace.id);
  }
  async close(): Promise<void> {}
}

function pool(backend: ProcessBackend, dir: string, count: number, uids = new UidPool(300_000, 10)) {
  return { uids, spares: new SpareShells({ backend, workDir: join(root, dir), uids, count, logger: pino({ level: 'silent' }) }) };
}

describe('sandboxes started ahead', () => {
  it('fills itself, hands one out (made on the spot when none waits), and ends the waiting ones on close', async () => {
    const backend = new ProcessBackend('read -r _ < start; echo started; sleep 30');
    const { uids, spares } = pool(backend, 'a', 2);
    spares.fill();
    await expect.poll(() => spares.ready, { timeout: 5000 }).toBe(2);
    expect(uids.size).toBe(2);
    const [first] = backend.spawned as [Workspace];
    // A waiting sandbox's workspace: its pipe and the folder for the lab's files, nothing else.
    expect(readdirSync(first.dir).sort()).toEqual(['files', 'start']);
    expect(statSync(join(first.dir, 'start')).isFIFO()).toBe(true);

    const taken = await spares.take();
    expect(taken?.workspace.id).toBe(first.id);
    expect(spares.ready).toBe(1);
    let output = '';
    taken?.pty.onData((data) => {
      output += data;
    });
    taken?.start();
    await expect.poll(() => output, { timeout: 5000 }).toContain('started');
    // Replaced in the background.
    await expect.poll(() => spares.ready, { timeout: 5000 }).toBe(2);

    // Three more at once: two from the pool, one made on the spot.
    const more = await Promise.all([spares.take(), spares.take(), spares.take()]);
    expect(new Set(more.map((s) => s?.workspace.uid)).size).toBe(3);
    for (const spare of [taken, ...more]) spare?.pty.kill('SIGKILL');

    await expect.poll(() => spares.ready, { timeout: 5000 }).toBe(2);
    const waiting = backend.spawned.slice(-2);
    await spares.close();
    for (const workspace of waiting) expect(existsSync(workspace.dir)).toBe(false);
    expect(backend.released).toEqual(expect.arrayContaining(waiting.map((w) => w.id)));
    // The four handed out are their takers' to give back; the waiting ones' uids are free again.
    expect(uids.size).toBe(4);
    await expect(spares.take()).rejects.toThrow(/stopping/);
  });

  it('cleans up a sandbox that ends while it waits, and waits longer after each failure instead of looping', async () => {
    const backend = new ProcessBackend('echo cannot start >&2; exit 1');
    const { uids, spares } = pool(backend, 'b', 1);
    spares.fill();
    await sleep(3500);
    // At 0 s, then after 1 s and 2 s more: three tries, not hundreds.
    expect(backend.spawned.length).toBeGreaterThanOrEqual(2);
    expect(backend.spawned.length).toBeLessThanOrEqual(3);
    expect(spares.ready).toBe(0);
    for (const workspace of backend.spawned.slice(0, -1)) expect(existsSync(workspace.dir)).toBe(false);
    await spares.close();
    await expect.poll(() => uids.size, { timeout: 5000 }).toBe(0);
  });

  it('keeps the start line until the sandbox reads it, however late it opens its pipe and whatever it prints first', async () => {
    const backend = new ProcessBackend('sleep 0.5; read -r _ < start; echo started; sleep 30');
    const { spares } = pool(backend, 'd', 0);
    const spare = await spares.take();
    let output = '';
    spare?.pty.onData((data) => {
      output += data;
    });
    spare?.start();
    // The terminal echoes what is typed at once, long before the sandbox opens its pipe.
    spare?.pty.write('typed early\r');
    await expect.poll(() => output, { timeout: 5000 }).toContain('typed early');
    await expect.poll(() => output, { timeout: 5000 }).toContain('started');
    spare?.pty.kill('SIGKILL');
    await spares.close();
  });

  it('says so when no uid is left', async () => {
    const backend = new ProcessBackend('sleep 30');
    const { spares } = pool(backend, 'c', 0, new UidPool(300_000, 1));
    const one = await spares.take();
    expect(one).toBeDefined();
    expect(await spares.take()).toBeUndefined();
    one?.pty.kill('SIGKILL');
    await spares.close();
  });
});
