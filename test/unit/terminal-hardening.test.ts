/**
 * The pieces that keep one workshop shell from reaching another, in
 * isolation: the launcher closes inherited descriptors, the seccomp program
 * has the shape the kernel expects, uids are never shared, the terminals'
 * folder cannot be squatted, and node-pty still keeps its write queue where
 * the input backpressure reads it (acknowledgements: terminal-flow-control).
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { launchCommand, launcherScript, shellQuote } from '../../labs-server/src/terminal/launch.ts';
import { ptyBacklog, ptyWriteQueue } from '../../labs-server/src/terminal/pty-backlog.ts';
import { CLONE_NEW_FLAGS, refusedSyscalls, seccompProgram } from '../../labs-server/src/terminal/seccomp.ts';
import { SocketGuard } from '../../labs-server/src/terminal/socket-guard.ts';
import { createStateDir, StateDirError, sweepStaleStateDirs, verifyStateDir } from '../../labs-server/src/terminal/state-dir.ts';
import { UidPool } from '../../labs-server/src/terminal/uid-pool.ts';
import { rawUpgrade } from '../support/raw-websocket.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cdl-unit-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * bash's own descriptors, listed by a child that writes to a file: in a
 * pipeline the child could run before bash has closed its ends of the pipe.
 */
const LIST_FDS = 'ls /proc/$$/fd > "$0"; true';

function fdsListed(file: string): string {
  return readFileSync(file, 'utf8').trim().split('\n').join(' ');
}

describe('the launcher', () => {
  it('closes every inherited descriptor but 0, 1 and 2 before the command runs', () => {
    const out = join(scratch, 'fds');
    const { file, args } = launchCommand({ command: ['/bin/bash', '-c', LIST_FDS, out] });
    // Two extra pipes on descriptors 3 and 4, inherited without close-on-exec, as node-pty's masters are.
    spawnSync('/bin/bash', ['-c', LIST_FDS, out], { stdio: ['ignore', 'pipe', 'inherit', 'pipe', 'pipe'] });
    expect(fdsListed(out).split(' ')).toEqual(expect.arrayContaining(['0', '1', '2', '3', '4']));
    const launched = spawnSync(file, args, { stdio: ['ignore', 'pipe', 'inherit', 'pipe', 'pipe'] });
    expect(launched.status).toBe(0);
    expect(fdsListed(out)).toBe('0 1 2');
  });

  it('opens the files it is told on their descriptors, sets hard limits, and quotes every path', () => {
    const file = join(scratch, "it's a file");
    writeFileSync(file, 'seen\n');
    const { file: bash, args } = launchCommand({
      files: [{ fd: 3, path: file }],
      ulimit: ['-u', '123', '-c', '0'],
      command: ['/bin/bash', '-c', `cat <&3; ulimit -H -u; ${LIST_FDS}`, join(scratch, 'fds-files')],
    });
    const result = spawnSync(bash, args, { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
    expect(result.stdout.toString().split('\n').slice(0, 2)).toEqual(['seen', '123']);
    expect(fdsListed(join(scratch, 'fds-files'))).toBe('0 1 2 3');
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
    expect(() => launcherScript({ files: [{ fd: 1, path: '/x' }], command: ['true'] })).toThrow(/3–9/);
  });
});

describe('the seccomp program', () => {
  it('is whole BPF instructions: arch check first, errno returns, refusing namespaces and mounts', () => {
    for (const arch of ['x64', 'arm64'] as const) {
      const program = seccompProgram(arch);
      expect(program.length % 8).toBe(0);
      const count = program.length / 8;
      expect(count).toBeLessThan(256);
      // First: load the arch (offset 4) and compare.
      expect(program.readUInt16LE(0)).toBe(0x20);
      expect(program.readUInt32LE(4)).toBe(4);
      // The last three are returns: allow, EPERM, ENOSYS.
      expect(program.readUInt32LE((count - 3) * 8 + 4)).toBe(0x7fff0000);
      expect(program.readUInt32LE((count - 2) * 8 + 4)).toBe(0x00050001);
      expect(program.readUInt32LE((count - 1) * 8 + 4)).toBe(0x00050026);
      // Every jump lands inside the program.
      for (let i = 0; i < count; i += 1) {
        const code = program.readUInt16LE(i * 8);
        if ((code & 0x07) !== 0x05) continue;
        expect(i + 1 + program.readUInt8(i * 8 + 2)).toBeLessThan(count);
        expect(i + 1 + program.readUInt8(i * 8 + 3)).toBeLessThan(count);
      }
      expect(refusedSyscalls(arch)).toEqual(
        expect.arrayContaining(['unshare', 'setns', 'mount', 'bpf', 'keyctl', 'ptrace', 'io_uring_setup']),
      );
    }
    expect(CLONE_NEW_FLAGS & 0x10000000).toBe(0x10000000);
  });
});

describe('sandbox uids', () => {
  it('never gives two live shells the same uid, and gives one back when its shell ends', () => {
    const pool = new UidPool(200_000, 100_000);
    const taken = new Set<number>();
    for (let i = 0; i < 5000; i += 1) {
      const uid = pool.take(`s-${i.toString(16).padStart(12, '0')}/palette`);
      expect(uid).toBeDefined();
      expect(taken.has(uid as number)).toBe(false);
      taken.add(uid as number);
    }
    const small = new UidPool(10, 2);
    const a = small.take('a') as number;
    const b = small.take('b') as number;
    expect(a).not.toBe(b);
    expect(small.take('c')).toBeUndefined();
    small.release(a);
    expect(small.take('c')).toBe(a);
  });
});

describe("the terminals' private folder", () => {
  it('is made fresh and private, never found by a guessable name', async () => {
    const dir = await createStateDir(scratch);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, 'server.pid'), 'utf8').trim()).toBe(String(process.pid));
    const other = await createStateDir(scratch);
    expect(other).not.toBe(dir);
  });

  it('removes the folders of crashed servers, and keeps live ones and symlinks', async () => {
    const dead = join(scratch, 'cdl-terminals-dead');
    mkdirSync(dead);
    writeFileSync(join(dead, 'server.pid'), '2147483646\n');
    writeFileSync(join(dead, 'token'), 'a learner token');
    const live = await createStateDir(scratch);
    const link = join(scratch, 'cdl-terminals-link');
    symlinkSync(dead, link);
    const removed = await sweepStaleStateDirs(scratch);
    expect(removed).toEqual([dead]);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });

  it('refuses a folder given by the operator that is a symlink', async () => {
    const target = join(scratch, 'target');
    mkdirSync(target);
    const link = join(scratch, 'given-link');
    symlinkSync(target, link);
    await expect(verifyStateDir(link)).rejects.toThrow(StateDirError);
    const writable = join(scratch, 'writable');
    mkdirSync(writable, { mode: 0o777 });
    await verifyStateDir(writable);
    expect(statSync(writable).mode & 0o022).toBe(0);
  });
});

describe('node-pty', () => {
  it('keeps its write queue where the input backpressure reads it', async () => {
    const { spawn } = await import('node-pty');
    // A shell that does not read its input: what is written stays queued.
    const pty = spawn('/bin/sleep', ['5'], { cols: 80, rows: 24, encoding: null });
    try {
      for (let i = 0; i < 64; i += 1) pty.write(Buffer.alloc(16 * 1024, 0x61));
      // Read at once, before the event loop turns: how fast the pty then takes it depends on the machine's load.
      expect(ptyBacklog(pty)).toBeGreaterThan(256 * 1024);
    } finally {
      // Drop what is queued, so the queue does not write to a closed pty after the kill.
      const queue = ptyWriteQueue(pty);
      if (queue) queue.length = 0;
      pty.kill('SIGKILL');
    }
  });
});

/** A WebSocket server and a client connected to it, on loopback. */
async function socketPair() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const received: Buffer[] = [];
  client.on('message', (data: Buffer) => received.push(data));
  const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
  await new Promise((r) => client.once('open', r));
  return {
    server: await accepted,
    received,
    closed,
    stop: () => new Promise((r) => wss.close(r)),
  };
}

const GUARD_LIMITS = { maxBufferedBytes: 256 * 1024, drainTimeoutMs: 500, errorBurst: 2, errorsPerSecond: 0.001, maxIgnoredBadFrames: 3 };

describe('the socket guard', () => {
  it('congests a socket whose client does not read, stops reading its input, and cuts it when it does not drain', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    // A client that completes the upgrade and then reads nothing.
    const client = await rawUpgrade((wss.address() as AddressInfo).port, '/', {});
    const server = await accepted;
    const stop = () => new Promise((r) => wss.close(r));
    const congestion: boolean[] = [];
    const guard = new SocketGuard(server, (c) => congestion.push(c), GUARD_LIMITS);
    const started = Date.now();
    const frame = Buffer.alloc(64 * 1024, 0x61);
    while (!guard.congested && Date.now() - started < 10_000) {
      guard.send(frame);
      await new Promise((r) => setImmediate(r));
    }
    expect(guard.congested).toBe(true);
    expect(congestion).toEqual([true]);
    expect(server.bufferedAmount).toBeLessThan(GUARD_LIMITS.maxBufferedBytes + 2 * frame.length);
    await new Promise<void>((resolve) => server.once('close', () => resolve()));
    expect(Date.now() - started).toBeLessThan(5000);
    client.destroy();
    await stop();
  });

  it('answers bad frames within a budget, then disconnects the client', async () => {
    const { server, received, closed, stop } = await socketPair();
    const guard = new SocketGuard(server, () => undefined, GUARD_LIMITS);
    for (let i = 0; i < 10; i += 1) guard.refuse('bad_frame', `bad ${i}`);
    expect(await closed).toBe(1008);
    // Two answers within the budget, then the violation's own.
    expect(received.map((b) => JSON.parse(b.subarray(1).toString()).code)).toEqual(['bad_frame', 'bad_frame', 'protocol_violation']);
    await stop();
  });
});

describe("a terminal's workspace files", () => {
  it('are written afresh, never through a file planted where the next one goes', async () => {
    const { writeWorkspaceFile } = await import('../../labs-server/src/terminal/credentials.ts');
    const dir = join(scratch, 'workspace');
    mkdirSync(dir);
    const victim = join(scratch, 'victim');
    writeFileSync(victim, 'host file\n');
    symlinkSync(victim, join(dir, 'token.next'));
    await writeWorkspaceFile(dir, 'token', 'a fresh token', undefined);
    expect(readFileSync(victim, 'utf8')).toBe('host file\n');
    expect(readFileSync(join(dir, 'token'), 'utf8')).toBe('a fresh token');
    expect(statSync(join(dir, 'token')).mode & 0o777).toBe(0o600);
  });
});

describe("a shell's API relay", () => {
  it('holds at most its connection limit at once', async () => {
    const { ApiRelay } = await import('../../labs-server/src/terminal/api-relay.ts');
    const { createServer, connect } = await import('node:net');
    let upstream = 0;
    const api = createServer((socket) => {
      upstream += 1;
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const port = (api.address() as AddressInfo).port;
    const relay = await ApiRelay.open(join(scratch, 'relay.sock'), `https://127.0.0.1:${port}`, undefined, {
      maxConnections: 4,
      idleMs: 60_000,
    });
    const clients = Array.from({ length: 10 }, () => connect(join(scratch, 'relay.sock')).on('error', () => undefined));
    await sleep(300);
    expect(relay.connections).toBe(4);
    expect(upstream).toBe(4);
    for (const client of clients) client.destroy();
    await relay.close();
    await new Promise((r) => api.close(r));
  });
});

describe('checks of one session', () => {
  it('run two at a time, let a burst wait its turn, and refuse beyond it with 429', async () => {
    const { PerSessionLimit } = await import('../../labs-server/src/labs/per-session-limit.ts');
    const { TooManyChecks } = await import('../../labs-server/src/labs/errors.ts');
    const { userErrorStatus } = await import('../../labs-server/src/http/errors.ts');
    const limit = new PerSessionLimit(2, 3);
    let running = 0;
    let most = 0;
    const work = async () => {
      running += 1;
      most = Math.max(most, running);
      await sleep(20);
      running -= 1;
      return 'done';
    };
    const answers = await Promise.allSettled(Array.from({ length: 6 }, () => limit.run('s-1', work)));
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(5);
    // The domain says what went wrong; the HTTP edge says 429.
    const refused = (answers[5] as PromiseRejectedResult).reason;
    expect(refused).toBeInstanceOf(TooManyChecks);
    expect(refused).toMatchObject({ code: 'too_many_checks' });
    expect(userErrorStatus(refused)).toBe(429);
    expect(most).toBe(2);
    // Another session is not held up by the first.
    expect(await limit.run('s-2', work)).toBe('done');
  });
});
