/**
 * What a learner feels in the browser terminal: time to the first prompt,
 * keystroke echo latency, and output throughput with acknowledgements, over
 * the real WebSocket protocol, for a plain shell (single-user mode) and a
 * bubblewrap one (workshop mode), on the running cluster (`npm run cluster
 * -- up` first). A script, not a test:
 *
 *   node labs-server/bench/terminal.ts [keystrokes] [megabytes]
 */
import { createServer } from 'node:net';
import { pino } from 'pino';
import WebSocket from 'ws';
import { courseCatalog } from '../../checks/catalog.ts';
import { chooseProvider, createProvider } from '../../cluster/src/select.ts';
import { readConfig } from '../src/config.ts';
import { startLabServer } from '../src/server.ts';
import { decodeServerFrame, encode } from '../src/terminal/protocol.ts';

const keystrokes = Number(process.argv[2] ?? 300);
const megabytes = Number(process.argv[3] ?? 20);
const LAB = 'first-deployment';
const ACCESS_CODE = 'BENCH-2026';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** A terminal that acknowledges output as a browser does and lets the bench wait for text. */
class Terminal {
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

async function measure(mode: 'single' | 'workshop'): Promise<void> {
  const port = await freePort();
  const config = readConfig({ PORT: String(port), LOG_LEVEL: 'silent', CDL_MODE: mode, CDL_ACCESS_CODE: ACCESS_CODE });
  const cluster = createProvider(await chooseProvider(undefined));
  await cluster.up((line) => console.error(line));
  const server = await startLabServer({
    config,
    cluster,
    catalog: courseCatalog(),
    logger: pino({ level: 'silent' }),
    siteDir: '/nonexistent',
  });
  const origin = `http://localhost:${port}`;
  let cookie = '';
  try {
    const join = await fetch(`${origin}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin },
      body: JSON.stringify({ name: 'bench', accessCode: ACCESS_CODE }),
    });
    cookie = (join.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    await fetch(`${origin}/api/labs/${LAB}/start`, { method: 'POST', headers: { cookie, origin } });

    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/terminal?lab=${LAB}&cols=120&rows=40`, { headers: { cookie, origin } });
    const term = new Terminal(ws);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    await term.until(() => term.tail.includes('$ '));
    const firstPrompt = performance.now() - t0;

    // Keystroke echo: type one character, wait until the shell echoes it.
    const echoes: number[] = [];
    for (let i = 0; i < keystrokes; i += 1) {
      const before = term.bytes;
      const started = performance.now();
      term.type('x');
      await term.until(() => term.bytes > before);
      echoes.push(performance.now() - started);
      if (i % 50 === 49) term.type('\x15'); // Ctrl-U: keep the line short
    }
    term.type('\x15');

    // Throughput: base64 of zeros, with acknowledgements flowing back.
    const marker = `DONE-${Date.now()}`;
    const startBytes = term.bytes;
    const started = performance.now();
    term.type(`head -c ${megabytes * 1_000_000} /dev/zero | base64 -w 76; echo ${marker.slice(0, 5)}""${marker.slice(5)}\r`);
    await term.until(() => term.tail.includes(marker), 120_000);
    const seconds = (performance.now() - started) / 1000;
    const received = term.bytes - startBytes;
    const rssAfter = process.memoryUsage().rss;
    ws.close();

    console.log(`${mode === 'workshop' ? 'workshop (bubblewrap)' : 'single (plain shell)'}:`);
    console.log(`  first prompt        ${firstPrompt.toFixed(0)} ms (WebSocket open, lab kubeconfig, shell start)`);
    console.log(
      `  keystroke echo      p50 ${quantile(echoes, 0.5).toFixed(2)} ms   p99 ${quantile(echoes, 0.99).toFixed(2)} ms   (n=${echoes.length})`,
    );
    console.log(
      `  output throughput   ${(received / 1e6 / seconds).toFixed(1)} MB/s (${(received / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s)`,
    );
    console.log(`  server process RSS  ${(rssBefore / 2 ** 20).toFixed(0)} MiB → ${(rssAfter / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    await fetch(`${origin}/api/session`, { method: 'DELETE', headers: { cookie, origin } }).catch(() => undefined);
    await server.close();
  }
}

await measure('single');
await measure('workshop');
