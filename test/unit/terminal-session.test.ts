/**
 * A terminal session's life without a real shell: a fake pty and backend,
 * a fake browser link, a fake process table and fake timers. What the
 * browser gets (READY, replay, output frames, EXIT), when the pty is read,
 * the grace period, a takeover by another window, input backpressure,
 * activity, and a close that ends every process and removes the folder.
 * Then the manager: two live shells never share a uid.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IDisposable, IEvent, IPty } from 'node-pty';
import { pino } from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { decodeServerFrame, type ServerFrame } from '../../contract/protocol.ts';
import { createMetrics } from '../../labs-server/src/metrics.ts';
import { TerminalManager } from '../../labs-server/src/terminal/manager.ts';
import type { ProcessTable } from '../../labs-server/src/terminal/process-group.ts';
import { MAX_INPUT_BACKLOG } from '../../labs-server/src/terminal/pty-backlog.ts';
import { type BrowserLink, PtySession, type ShellSpec, type TerminalOptions } from '../../labs-server/src/terminal/pty-session.ts';
import type { ShellBackend, ShellSize, Workspace } from '../../labs-server/src/terminal/shell-backend.ts';
import { SANDBOX_UID_BASE, SANDBOX_UID_COUNT } from '../../labs-server/src/terminal/uid-pool.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cdl-session-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** An event of node-pty's shape. */
function emitter<T>(): { event: IEvent<T>; fire: (value: T) => void } {
  const listeners: Array<(value: T) => unknown> = [];
  const event: IEvent<T> = (listener): IDisposable => {
    listeners.push(listener);
    return { dispose: () => listeners.splice(listeners.indexOf(listener), 1) };
  };
  const fire = (value: T) => {
    for (const listener of listeners) listener(value);
  };
  return { event, fire };
}

/** Above any pid_max Linux allows (2^22), so a scan of the real /proc never finds a fake shell's session. */
let lastPid = 2 ** 23;

/** A pty whose shell reads no input: what is written stays in node-pty's write queue, as with a `sleep`. */
class FakePty implements IPty {
  readonly pid: number;
  cols = 80;
  rows = 24;
  readonly process = 'bash';
  handleFlowControl = false;
  paused = false;
  readonly sizes: Array<[number, number]> = [];
  readonly killed: Array<string | undefined> = [];
  /** node-pty's private write queue, where the input backpressure looks (pty-backlog.ts). */
  readonly _writeStream = { _writeQueue: [] as Array<{ buffer: Buffer; offset: number }> };
  private readonly data = emitter<string>();
  private readonly exit = emitter<{ exitCode: number; signal?: number }>();
  readonly onData = this.data.event;
  readonly onExit = this.exit.event;

  constructor() {
    lastPid += 1;
    this.pid = lastPid;
  }

  /** The shell writes: node-pty spawned with `encoding: null` hands out Buffers, whatever its typings say. */
  print(text: string | Buffer): void {
    this.data.fire((typeof text === 'string' ? Buffer.from(text) : text) as unknown as string);
  }

  end(exitCode: number, signal?: number): void {
    this.exit.fire({ exitCode, ...(signal ? { signal } : {}) });
  }

  get written(): string {
    return Buffer.concat(this._writeStream._writeQueue.map((task) => task.buffer)).toString();
  }

  /** The shell takes everything it was given. */
  drain(): void {
    this._writeStream._writeQueue.length = 0;
  }

  resize(columns: number, rows: number): void {
    this.sizes.push([columns, rows]);
  }

  clear(): void {}

  write(data: string | Buffer): void {
    this._writeStream._writeQueue.push({ buffer: Buffer.from(data), offset: 0 });
  }

  kill(signal?: string): void {
    this.killed.push(signal);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }
}

/** A backend that records what it is asked and spawns fake ptys. */
class FakeBackend implements ShellBackend {
  readonly name = 'bubblewrap' as const;
  readonly kubectl = undefined;
  readonly separateUsers: boolean;
  readonly waits = false;
  readonly calls: string[] = [];
  readonly ptys: FakePty[] = [];
  readonly env: Array<Record<string, string>> = [];
  /** The uid of every shell spawned and not yet released. */
  readonly liveUids = new Map<string, number | undefined>();

  constructor(separateUsers = true) {
    this.separateUsers = separateUsers;
  }

  apiServer(hostUrl: string) {
    return { server: hostUrl };
  }

  workspaceInside(workspace: Workspace): string {
    return workspace.dir;
  }

  homeInside(workspace: Workspace): string {
    return join(workspace.dir, 'home');
  }

  async prepare(workspace: Workspace): Promise<void> {
    this.calls.push(`prepare ${workspace.id}`);
  }

  spawn(workspace: Workspace, _size: ShellSize, env: Record<string, string>): IPty {
    this.calls.push(`spawn ${workspace.id}`);
    const live = [...this.liveUids.values()];
    if (workspace.uid !== undefined && live.includes(workspace.uid)) throw new Error(`uid ${workspace.uid} is already a live shell's`);
    this.liveUids.set(workspace.id, workspace.uid);
    const pty = new FakePty();
    this.ptys.push(pty);
    this.env.push(env);
    return pty;
  }

  async release(workspace: Workspace): Promise<void> {
    this.calls.push(`release ${workspace.id}`);
    this.liveUids.delete(workspace.id);
  }

  async close(): Promise<void> {}
}

/** A browser's link, recording every frame it is sent. */
function fakeLink() {
  const frames: ServerFrame[] = [];
  const closes: Array<[number | undefined, string | undefined]> = [];
  let terminated = false;
  let held: (() => boolean) | undefined;
  const link = {
    congested: false as boolean,
    socket: {
      close: (code?: number, reason?: string | Buffer) => {
        closes.push([code, reason?.toString()]);
      },
      terminate: () => {
        terminated = true;
      },
    },
    send: (frame: Uint8Array) => {
      frames.push(decodeServerFrame(frame));
    },
    holdInput: (ready: () => boolean) => {
      held = ready;
    },
  } satisfies BrowserLink;
  return {
    link,
    frames,
    closes,
    terminated: () => terminated,
    held: () => held,
    /** The output frames' bytes, as text. */
    output: () =>
      frames
        .flatMap((f) => (f.type === 'output' ? [Buffer.from(f.data)] : []))
        .map(String)
        .join(''),
  };
}

/** A process table with one session, whose members end at the first signal. */
function fakeProcesses() {
  const signals: Array<[number, NodeJS.Signals]> = [];
  const ended = new Set<number>();
  const processes: ProcessTable = {
    members: (sid) => (ended.has(sid) ? [] : [sid, sid + 1]),
    running: (pid) => !ended.has(pid),
    signal: (pid, signal) => {
      signals.push([pid, signal]);
      ended.add(pid);
    },
  };
  return { processes, signals };
}

const SPEC: ShellSpec = {
  sessionName: 's-1',
  labId: 'palette',
  namespace: 's-1-palette',
  kubeconfig: async () =>
    'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]\nusers: [{name: u, user: {token: t0k}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
};

const logger = pino({ level: 'silent' });

function options(backend: FakeBackend, overrides: Partial<TerminalOptions> = {}): TerminalOptions {
  return {
    backend,
    workDir: join(scratch, 'terminals'),
    logger,
    graceMs: 30_000,
    replayBytes: 64 * 1024,
    renewMs: 20 * 60_000,
    watermarks: { high: 1000, low: 100 },
    batch: { windowMs: 2, streamingBytes: 512, maxBatchBytes: 4096 },
    ...overrides,
  };
}

let sessionCount = 0;

async function started(overrides: Partial<TerminalOptions> = {}, spec: ShellSpec = SPEC) {
  sessionCount += 1;
  const backend = new FakeBackend();
  const { processes, signals } = fakeProcesses();
  const session = new PtySession(`${spec.sessionName}-${sessionCount}/${spec.labId}`, spec, options(backend, { processes, ...overrides }));
  let exits = 0;
  const exited = new Promise<void>((resolve) =>
    session.onExit(() => {
      exits += 1;
      resolve();
    }),
  );
  await session.start({ cols: 80, rows: 24 });
  const pty = backend.ptys[0] as FakePty;
  return { session, backend, pty, signals, exited, exits: () => exits };
}

/** Closes a session on fake timers: its processes are waited for on a timer. */
async function finish(session: PtySession): Promise<void> {
  const closing = session.close();
  await vi.advanceTimersByTimeAsync(100);
  await closing;
}

describe('a terminal session', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('prepares its folder before the spawn, points KUBECONFIG at the home, and reads nothing until a browser comes', async () => {
    const { session, backend, pty } = await started();
    const id = session.key.replace('/', '_');
    expect(backend.calls).toEqual([`prepare ${id}`, `spawn ${id}`]);
    expect(backend.env[0]).toEqual({ KUBECONFIG: join(scratch, 'terminals', id, 'home', '.kube', 'config') });
    expect(statSync(join(scratch, 'terminals', id, 'bashrc')).isFile()).toBe(true);
    expect(session.pid).toBe(pty.pid);
    expect(session.attached).toBe(false);
    expect(pty.paused).toBe(true);
    await finish(session);
  });

  it('says READY, then sends output as it comes, and keeps what came while no browser was there', async () => {
    const { session, pty } = await started();
    pty.print('before\r\n');
    const first = fakeLink();
    session.attach(first.link, undefined, { cols: 100, rows: 30 });
    expect(first.frames[0]).toEqual({ type: 'ready', ready: { resumed: true, replayedBytes: 8, offset: 0 } });
    expect(first.output()).toBe('before\r\n');
    expect(pty.sizes).toEqual([[100, 30]]);
    expect(pty.paused).toBe(false);
    pty.print('$ ');
    expect(first.output()).toBe('before\r\n$ ');
    session.detach(first.link.socket);
    expect(pty.paused).toBe(true);
    pty.print('missed');
    const second = fakeLink();
    session.attach(second.link, 10, undefined);
    expect(second.frames[0]).toEqual({ type: 'ready', ready: { resumed: true, replayedBytes: 6, offset: 10 } });
    expect(second.output()).toBe('missed');
    await finish(session);
  });

  it('batches a stream into frames through the output batcher', async () => {
    const { session, pty } = await started();
    const browser = fakeLink();
    session.attach(browser.link, undefined, undefined);
    pty.print(Buffer.alloc(600, 0x61));
    for (let i = 0; i < 10; i += 1) pty.print(Buffer.alloc(50, 0x62));
    expect(browser.frames.filter((f) => f.type === 'output')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2);
    const outputs = browser.frames.filter((f) => f.type === 'output');
    expect(outputs).toHaveLength(2);
    expect(browser.output()).toBe('a'.repeat(600) + 'b'.repeat(500));
    await finish(session);
  });

  it('stops reading the pty above the high watermark, and reads again once the page acknowledges', async () => {
    const { session, pty } = await started();
    const browser = fakeLink();
    session.attach(browser.link, undefined, undefined);
    pty.print(Buffer.alloc(400));
    await vi.advanceTimersByTimeAsync(10);
    pty.print(Buffer.alloc(700));
    expect(session.unacknowledged).toBe(1100);
    expect(pty.paused).toBe(true);
    expect(session.acknowledge(2000)).toBe(false);
    expect(session.acknowledge(1050)).toBe(true);
    expect(pty.paused).toBe(false);
    await finish(session);
  });

  it('does not read a congested socket’s shell until its guard says the congestion has ended', async () => {
    const { session, pty } = await started();
    const browser = fakeLink();
    browser.link.congested = true;
    session.attach(browser.link, undefined, undefined);
    expect(pty.paused).toBe(true);
    browser.link.congested = false;
    session.congestion(fakeLink().link);
    expect(pty.paused).toBe(true);
    session.congestion(browser.link);
    expect(pty.paused).toBe(false);
    await finish(session);
  });

  it('hands the terminal to a second window and cuts the first a second later if it does not go', async () => {
    const { session } = await started();
    const first = fakeLink();
    const second = fakeLink();
    session.attach(first.link, undefined, undefined);
    session.attach(second.link, undefined, undefined);
    expect(first.closes).toEqual([[4001, 'this terminal was opened in another window']]);
    expect(session.isAttached(first.link.socket)).toBe(false);
    expect(session.isAttached(second.link.socket)).toBe(true);
    // The first window's late goodbye does not detach the second.
    session.detach(first.link.socket);
    expect(session.attached).toBe(true);
    await vi.advanceTimersByTimeAsync(999);
    expect(first.terminated()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(first.terminated()).toBe(true);
    await finish(session);
  });

  it('keeps a shell with no browser for the grace period, then ends every process and removes its folder', async () => {
    const { session, backend, pty, signals, exited, exits } = await started({ graceMs: 30_000 });
    const browser = fakeLink();
    session.attach(browser.link, undefined, undefined);
    session.detach(browser.link.socket);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(exits()).toBe(0);
    // A browser that comes back in time keeps it.
    const back = fakeLink();
    session.attach(back.link, undefined, undefined);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(exits()).toBe(0);
    session.detach(back.link.socket);
    await vi.advanceTimersByTimeAsync(30_000 + 100);
    await exited;
    expect(signals).toEqual([
      [pty.pid, 'SIGHUP'],
      [pty.pid + 1, 'SIGHUP'],
    ]);
    const id = session.key.replace('/', '_');
    expect(backend.calls.at(-1)).toBe(`release ${id}`);
    expect(() => statSync(join(scratch, 'terminals', id))).toThrow();
    // Closed once, whatever calls it again; a browser that comes now is told.
    await session.close();
    expect(exits()).toBe(1);
    const late = fakeLink();
    session.attach(late.link, undefined, undefined);
    expect(late.closes).toEqual([[1011, 'the shell has ended']]);
  });

  it('tells the browser when the shell ends, and closes', async () => {
    const { session, pty, exited } = await started();
    const browser = fakeLink();
    session.attach(browser.link, undefined, undefined);
    pty.end(0);
    expect(browser.frames.at(-1)).toEqual({ type: 'exit', exit: { code: 0 } });
    expect(browser.closes[0]).toEqual([1000, 'the shell ended']);
    await vi.advanceTimersByTimeAsync(100);
    await exited;
  });

  it('writes input to the pty, holds the socket while the shell has not taken it, and reports activity now and then', async () => {
    let activity = 0;
    const { session, pty } = await started({}, { ...SPEC, onActivity: () => (activity += 1) });
    const browser = fakeLink();
    session.attach(browser.link, undefined, undefined);
    session.input(new TextEncoder().encode('ls\r'));
    expect(pty.written).toBe('ls\r');
    expect(activity).toBe(1);
    session.input(new TextEncoder().encode('x'));
    expect(activity).toBe(1);
    await vi.advanceTimersByTimeAsync(10_001);
    session.input(new TextEncoder().encode('y'));
    expect(activity).toBe(2);
    expect(browser.held()).toBeUndefined();
    const chunk = new Uint8Array(16 * 1024);
    for (let sent = 0; sent <= MAX_INPUT_BACKLOG; sent += chunk.length) session.input(chunk);
    const ready = browser.held();
    expect(ready).toBeDefined();
    expect(ready?.()).toBe(false);
    pty.drain();
    expect(ready?.()).toBe(true);
    await finish(session);
  });

  it('renews the token on its timer and stops when it closes', async () => {
    let issued = 0;
    const spec: ShellSpec = {
      ...SPEC,
      kubeconfig: async () => {
        issued += 1;
        return SPEC.kubeconfig();
      },
    };
    const { session } = await started({ renewMs: 60_000 }, spec);
    expect(issued).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(issued).toBe(2);
    await finish(session);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(issued).toBe(2);
  });
});

/** A WebSocket connected to a server on loopback: the server's end, as the manager gets it. */
async function serverSocket(wss: WebSocketServer): Promise<{ server: WebSocket; client: WebSocket }> {
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  client.on('error', () => undefined);
  await new Promise((resolve) => client.once('open', resolve));
  return { server: await accepted, client };
}

describe('the terminal manager', () => {
  it('gives every live shell a uid of its own, and a uid back only once its shell has ended', async () => {
    const backend = new FakeBackend(true);
    const manager = new TerminalManager({
      backend,
      workDir: join(scratch, 'managed'),
      metrics: createMetrics(),
      logger,
      graceMs: 60_000,
    });
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    const clients: WebSocket[] = [];
    const open = async (sessionName: string, labId: string) => {
      const { server, client } = await serverSocket(wss);
      clients.push(client);
      await manager.attach(server, { ...SPEC, sessionName, labId }, undefined, { cols: 80, rows: 24 });
      return (await manager.find(sessionName, labId)) as PtySession;
    };
    try {
      const labs = ['palette', 'quota', 'rbac', 'probes'];
      for (const session of ['s-1', 's-2', 's-3']) for (const lab of labs.slice(0, 3)) await open(session, lab);
      const uids = [...backend.liveUids.values()];
      expect(uids).toHaveLength(9);
      expect(new Set(uids).size).toBe(9);
      for (const uid of uids) {
        expect(uid).toBeGreaterThanOrEqual(SANDBOX_UID_BASE);
        expect(uid).toBeLessThan(SANDBOX_UID_BASE + SANDBOX_UID_COUNT);
      }
      // A shell that ends gives its uid back; the same key comes back to the same uid.
      const ended = await open('s-1', 'probes');
      const uid = backend.liveUids.get(ended.key.replace('/', '_'));
      await ended.close();
      expect(backend.liveUids.has('s-1_probes')).toBe(false);
      await open('s-1', 'probes');
      expect(backend.liveUids.get('s-1_probes')).toBe(uid);
      expect(new Set(backend.liveUids.values()).size).toBe(backend.liveUids.size);
    } finally {
      await manager.closeAll();
      for (const client of clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
    expect(backend.liveUids.size).toBe(0);
  });
});
