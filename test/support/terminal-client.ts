/**
 * A terminal client as the page is one: binary frames, acknowledging output
 * as it arrives (unless told to stop, to act as a browser that fell behind).
 * The tests and the benches share it: the benches read the times it keeps
 * (connect, READY, first output, each frame) and wait on its output without
 * polling, so that what they time is the server and not this client.
 */

import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { decodeServerFrame, encode } from '../../contract/protocol.ts';

export interface Refusal {
  status: number;
  body: string;
}

/** The text kept: at least this much of the tail (a `yes` would otherwise fill the client's memory). */
const KEEP_TEXT = 64 * 1024;

export interface EchoOptions {
  /** Keystrokes typed and waited for first, and not counted. Default 0. */
  warmUp?: number;
  /** Clear the line (Ctrl-U, its redraw awaited, not timed) after this many keystrokes; 0 never. Default 0. */
  clearEvery?: number;
  /** How long to wait for one echo; a keystroke that waits longer counts as this long. Default 5000. */
  timeoutMs?: number;
}

export class TerminalClient {
  readonly ws: WebSocket;
  /** The tail of the output (at least 64 KiB of it), as text. */
  text = '';
  /** Output bytes received, and in how many frames. */
  received = 0;
  outputFrames = 0;
  /** Characters of text decoded so far (`text` holds the last of them). */
  chars = 0;
  errors: string[] = [];
  ready: { resumed: boolean; replayedBytes: number; offset: number } | undefined;
  exit: { code: number } | undefined;
  acking = true;
  /** Output received and not yet acknowledged (while `acking` is off). */
  unacked = 0;
  closed: { code: number; reason: string } | undefined;
  /** When the connection was asked for, the upgrade was done, the READY frame came, the first output byte came, the last output frame came (performance.now()). */
  readonly connectedAt: number;
  openedAt: number | undefined;
  readyAt: number | undefined;
  firstOutputAt: number | undefined;
  lastOutputAt = 0;
  /** The size of the last output frame, in bytes and in characters. */
  lastOutputBytes = 0;
  lastOutputChars = 0;
  private readonly decoder = new StringDecoder('utf8');
  /** Called on every frame and on close, until each says it is done. */
  private readonly watchers = new Set<() => boolean>();

  private constructor(ws: WebSocket, connectedAt: number) {
    this.ws = ws;
    this.connectedAt = connectedAt;
    ws.on('message', (data: Buffer) => {
      const frame = decodeServerFrame(data);
      if (frame.type === 'output') {
        const now = performance.now();
        this.firstOutputAt ??= now;
        this.lastOutputAt = now;
        this.received += frame.data.length;
        this.outputFrames += 1;
        this.lastOutputBytes = frame.data.length;
        const text = this.decoder.write(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength));
        this.chars += text.length;
        this.lastOutputChars = text.length;
        this.text += text;
        if (this.text.length > 2 * KEEP_TEXT) this.text = this.text.slice(-KEEP_TEXT);
        if (this.acking) ws.send(encode.ack(frame.data.length));
        else this.unacked += frame.data.length;
      } else if (frame.type === 'ready') {
        this.ready = frame.ready;
        this.readyAt = performance.now();
      } else if (frame.type === 'exit') this.exit = frame.exit;
      else if (frame.type === 'error') this.errors.push(`${frame.error.code}: ${frame.error.message}`);
      else throw new Error(`the server broke the protocol: ${frame.reason}`);
      this.notify();
    });
    ws.once('open', () => {
      this.openedAt = performance.now();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.notify();
    });
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) if (watcher()) this.watchers.delete(watcher);
  }

  /** Opens a terminal, or resolves with the HTTP refusal. */
  static open(url: string, headers: Record<string, string>): Promise<TerminalClient | Refusal> {
    return new Promise((resolve, reject) => {
      const connectedAt = performance.now();
      const ws = new WebSocket(url, { headers });
      const client = new TerminalClient(ws, connectedAt);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.once('error', reject);
    });
  }

  send(text: string): void {
    this.ws.send(encode.input(text));
  }

  /** Acknowledges everything received so far and goes back to acknowledging as output comes. */
  ackAll(): void {
    if (this.unacked > 0) this.ws.send(encode.ack(this.unacked));
    this.unacked = 0;
    this.acking = true;
  }

  /** The text that came after `chars` characters had been received (what of it is still kept). */
  textSince(chars: number): string {
    return this.text.slice(Math.max(0, this.text.length - (this.chars - chars)));
  }

  /** The text of the last output frame, with `overlap` characters before it (for a word split across two frames). */
  lastText(overlap = 0): string {
    return this.text.slice(-(this.lastOutputChars + overlap));
  }

  /**
   * Resolves as soon as `test` holds: it is asked now, on every frame and on
   * close (no polling, so the wait adds nothing to what a bench times).
   * Rejects when the socket closes first, or after `timeoutMs`.
   */
  until(test: () => boolean, timeoutMs = 10_000, what = 'the terminal to show what was awaited'): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const fail = (why: string) => reject(new Error(`${why} waiting for ${what}; the terminal shows:\n${this.text.slice(-2000)}`));
      const watcher = () => {
        if (test()) {
          clearTimeout(timer);
          resolve();
          return true;
        }
        if (this.closed) {
          clearTimeout(timer);
          fail(`the socket closed (${this.closed.code} ${this.closed.reason})`);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        fail(`${timeoutMs} ms passed`);
      }, timeoutMs);
      if (this.closed) watcher();
      else this.watchers.add(watcher);
    });
  }

  /**
   * Keystroke echo times: types one character at a time and waits for the
   * shell's echo of that character, `count` times, `intervalMs` apart; then
   * clears the line.
   */
  async echoTimes(count: number, intervalMs = 20, options: EchoOptions = {}): Promise<number[]> {
    const { warmUp = 0, clearEvery = 0, timeoutMs = 5000 } = options;
    const times: number[] = [];
    for (let i = 0; i < warmUp + count; i += 1) {
      const from = this.chars;
      const started = performance.now();
      this.send('x');
      await this.until(() => this.textSince(from).includes('x'), timeoutMs, 'the echo').catch(() => undefined);
      if (i >= warmUp) times.push(performance.now() - started);
      if (clearEvery > 0 && (i + 1) % clearEvery === 0) await this.clearLine(timeoutMs);
      if (intervalMs > 0) await sleep(intervalMs);
    }
    this.send('\x15');
    return times;
  }

  /** Ctrl-U, and waits for the shell to redraw the line. */
  private async clearLine(timeoutMs: number): Promise<void> {
    const before = this.received;
    this.send('\x15');
    await this.until(() => this.received > before, timeoutMs, 'the line to be cleared').catch(() => undefined);
  }

  /**
   * Ctrl-C, and waits for the terminal to echo it and go quiet. The tty
   * discards input that is still queued when it takes an interrupt, so what is
   * typed next must not follow the ^C too closely.
   */
  async interrupt(timeoutMs = 5000): Promise<void> {
    const from = this.chars;
    this.send('\x03');
    await this.until(() => this.textSince(from).includes('^C'), timeoutMs, 'the ^C echo').catch(() => {
      throw new Error(`the terminal did not echo ^C within ${timeoutMs} ms; it shows:\n${this.text.slice(-2000)}`);
    });
    const deadline = performance.now() + timeoutMs;
    for (let quiet = this.chars; performance.now() < deadline; quiet = this.chars) {
      await sleep(100);
      if (this.chars === quiet) return;
    }
    throw new Error(`the terminal was still printing ${timeoutMs} ms after ^C; it shows:\n${this.text.slice(-2000)}`);
  }

  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    let found = '';
    const test = () => {
      const match = pattern.exec(this.text);
      if (match) found = match[0];
      return match !== null;
    };
    try {
      await this.until(test, timeoutMs, String(pattern));
    } catch {
      throw new Error(`no ${pattern} in the terminal within ${timeoutMs} ms; it shows:\n${this.text.slice(-2000)}`);
    }
    return found;
  }

  /**
   * Runs a command and returns what it printed between two markers. The
   * markers are quoted in two halves, so the echoed command line (which the
   * terminal may wrap anywhere) never contains them whole.
   */
  async run(command: string, timeoutMs = 15_000): Promise<string> {
    const tag = Math.random().toString(36).slice(2, 8);
    this.send(`echo "BEGIN-""${tag}"; ${command}; echo "END-""${tag}"\r`);
    const pattern = new RegExp(`BEGIN-${tag}\\r?\\n([\\s\\S]*?)END-${tag}`);
    await this.waitFor(pattern, timeoutMs);
    return pattern.exec(this.text)?.[1] ?? '';
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

export function isRefusal(value: TerminalClient | Refusal): value is Refusal {
  return 'status' in value;
}
