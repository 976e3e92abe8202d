/** What the benches share: a free port, quantiles, and a terminal client that acknowledges output as a browser does. */
import { createServer } from 'node:net';
import type WebSocket from 'ws';
import { decodeServerFrame, encode } from '../src/terminal/protocol.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** A terminal that acknowledges output as a browser does and lets the bench wait for text. */
export class Terminal {
  readonly ws: WebSocket;
  bytes = 0;
  tail = '';
  private waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => {
      const frame = decodeServerFrame(data);
      if (frame.type !== 'output') return;
      this.bytes += frame.data.length;
      this.tail = (this.tail + frame.data.toString('latin1')).slice(-4096);
      ws.send(encode.ack(frame.data.length));
      this.waiters = this.waiters.filter((w) => {
        if (!w.test()) return true;
        w.resolve();
        return false;
      });
    });
  }

  until(test: () => boolean, timeoutMs = 30_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; the terminal shows: ${this.tail.slice(-300)}`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  type(text: string): void {
    this.ws.send(encode.input(text));
  }
}
