/** What the benches share: a free port, quantiles, and a terminal client that acknowledges output as a browser does. */

import { createServer } from 'node:net';
import { pino } from 'pino';
import type WebSocket from 'ws';
import { courseCatalog } from '../../checks/catalog.ts';
import { chooseProvider, createProvider } from '../../cluster/src/select.ts';
import { decodeServerFrame, encode } from '../../contract/protocol.ts';
import { readConfig } from '../src/config.ts';
import { type LabServer, startLabServer } from '../src/server.ts';
import { launchCommand } from '../src/terminal/launch.ts';

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
      this.tail = (this.tail + Buffer.from(frame.data).toString('latin1')).slice(-4096);
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

/** A lab server in this process on the course's labs and the cluster (started if it is not running), on a free port. */
export async function startBenchServer(mode: 'single' | 'workshop', accessCode: string): Promise<{ server: LabServer; origin: string }> {
  const port = await freePort();
  // Every learner of a bench comes from this machine: loopback is a shared address, as a room behind one NAT is.
  // The server's other settings come from the environment, as for `npm start` (TERMINAL_CPUS=2 node …).
  const config = readConfig({
    ...process.env,
    PORT: String(port),
    LOG_LEVEL: 'silent',
    CDL_MODE: mode,
    CDL_ACCESS_CODE: accessCode,
    SHARED_ADDRESSES: '127.0.0.1,::1',
    MAX_SESSIONS: '1000',
  });
  const cluster = createProvider(await chooseProvider(undefined));
  await cluster.up((line) => console.error(line));
  const server = await startLabServer({
    config,
    cluster,
    catalog: courseCatalog({ launch: (command) => launchCommand({ command }) }),
    logger: pino({ level: 'silent' }),
    siteDir: '/nonexistent',
  });
  return { server, origin: `http://localhost:${port}` };
}
