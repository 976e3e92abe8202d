/**
 * A terminal client as the page is one: binary frames, acknowledging output
 * as it arrives (unless told to stop, to act as a browser that fell behind).
 */
import WebSocket from 'ws';
import { decodeServerFrame, encode } from '../../contract/protocol.ts';

export interface Refusal {
  status: number;
  body: string;
}

export class TerminalClient {
  readonly ws: WebSocket;
  text = '';
  received = 0;
  errors: string[] = [];
  ready: { resumed: boolean; replayedBytes: number; offset: number } | undefined;
  exit: { code: number } | undefined;
  acking = true;
  /** Output received and not yet acknowledged (while `acking` is off). */
  unacked = 0;
  closed: { code: number; reason: string } | undefined;
  private outputWaiters: Array<() => void> = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => {
      const frame = decodeServerFrame(data);
      if (frame.type === 'output') {
        this.received += frame.data.length;
        // Keep the tail only: a `yes` would otherwise fill the test's memory.
        this.text = (this.text + Buffer.from(frame.data).toString('utf8')).slice(-64 * 1024);
        if (this.acking) ws.send(encode.ack(frame.data.length));
        else this.unacked += frame.data.length;
        for (const wake of this.outputWaiters.splice(0)) wake();
      } else if (frame.type === 'ready') this.ready = frame.ready;
      else if (frame.type === 'exit') this.exit = frame.exit;
      else if (frame.type === 'error') this.errors.push(`${frame.error.code}: ${frame.error.message}`);
      else throw new Error(`the server broke the protocol: ${frame.reason}`);
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
  }

  /** Opens a terminal, or resolves with the HTTP refusal. */
  static open(url: string, headers: Record<string, string>): Promise<TerminalClient | Refusal> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const client = new TerminalClient(ws);
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

  /**
   * Keystroke echo times: types one character at a time and waits for the
   * shell's echo of it, `count` times, `intervalMs` apart; then clears the line.
   */
  async echoTimes(count: number, intervalMs = 20): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < count; i += 1) {
      const echoed = new Promise<void>((resolve) => this.outputWaiters.push(resolve));
      const started = performance.now();
      this.send('x');
      await Promise.race([echoed, new Promise((r) => setTimeout(r, 5000))]);
      times.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    this.send('\x15');
    return times;
  }

  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const match = pattern.exec(this.text);
      if (match) return match[0];
      if (this.closed) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no ${pattern} in the terminal within ${timeoutMs} ms; it shows:\n${this.text.slice(-2000)}`);
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
