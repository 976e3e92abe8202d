/**
 * What a learner feels in the browser terminal: time to the first prompt,
 * keystroke echo latency, and output throughput with acknowledgements, over
 * the real WebSocket protocol, for a plain shell (single-user mode) and a
 * bubblewrap one (workshop mode), on the cluster (started if it is not
 * running). As PERFORMANCE.md measures the reference terminals: the server
 * (this process, and so the shells it starts) pinned to core 0, the client a
 * separate process on core 1 (with `taskset`, where it exists). A script,
 * not a test:
 *
 *   node labs-server/bench/terminal.ts [keystrokes] [megabytes]
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { quantile, startBenchServer, Terminal } from './support.ts';

const clientMode = process.argv[2] === '--client';
// The client is started as: --client <url> <cookie> <origin> <keystrokes> <megabytes>
const keystrokes = Number(process.argv[clientMode ? 6 : 2] ?? 2000);
const megabytes = Number(process.argv[clientMode ? 7 : 3] ?? 20);
const WARM_UP = 100;
const LAB = 'first-deployment';
const ACCESS_CODE = 'BENCH-2026';

interface ClientFigures {
  firstOutputMs: number;
  firstPromptMs: number;
  echoP50: number;
  echoP99: number;
  echoMax: number;
  megabytes: number;
  seconds: number;
}

/** The client side, in its own process: connect, type, read, acknowledge. */
async function client(url: string, cookie: string, origin: string): Promise<ClientFigures> {
  const t0 = performance.now();
  const ws = new WebSocket(url, { headers: { cookie, origin } });
  const term = new Terminal(ws);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  await term.until(() => term.bytes > 0);
  const firstOutputMs = performance.now() - t0;
  await term.until(() => term.tail.includes('$ '));
  const firstPromptMs = performance.now() - t0;

  // Echo: one byte, wait for it to come back; the line is cleared every 60 characters.
  const echoes: number[] = [];
  for (let i = 0; i < WARM_UP + keystrokes; i += 1) {
    const before = term.bytes;
    const started = performance.now();
    term.type('x');
    await term.until(() => term.bytes > before);
    if (i >= WARM_UP) echoes.push(performance.now() - started);
    if (i % 60 === 59) {
      const cleared = term.bytes;
      term.type('\x15');
      await term.until(() => term.bytes > cleared);
    }
  }
  term.type('\x15');

  // Throughput: base64 of zeros, then a marker; bytes from the first output to the marker.
  const marker = `DONE-${Date.now()}`;
  const startBytes = term.bytes;
  term.type(`head -c ${megabytes * 1_000_000} /dev/zero | base64 -w 76; echo ${marker.slice(0, 5)}""${marker.slice(5)}\r`);
  await term.until(() => term.bytes > startBytes + 200);
  const firstBytes = term.bytes;
  const started = performance.now();
  await term.until(() => term.tail.includes(marker), 120_000);
  const seconds = (performance.now() - started) / 1000;
  ws.close();
  return {
    firstOutputMs,
    firstPromptMs,
    echoP50: quantile(echoes, 0.5),
    echoP99: quantile(echoes, 0.99),
    echoMax: quantile(echoes, 1),
    megabytes: (term.bytes - firstBytes) / 1e6,
    seconds,
  };
}

const hasTaskset = spawnSync('taskset', ['--version']).status === 0;

function runClient(url: string, cookie: string, origin: string): Promise<ClientFigures> {
  const args = [fileURLToPath(import.meta.url), '--client', url, cookie, origin, String(keystrokes), String(megabytes)];
  const child = hasTaskset ? spawn('taskset', ['-c', '1', process.execPath, ...args]) : spawn(process.execPath, args);
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.on('data', (chunk) => (err += chunk));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as ClientFigures) : reject(new Error(`the client failed: ${err}`))));
  });
}

async function measure(mode: 'single' | 'workshop'): Promise<void> {
  const { server, origin } = await startBenchServer(mode, ACCESS_CODE);
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
    const figures = await runClient(`${origin.replace('http', 'ws')}/api/terminal?lab=${LAB}&cols=80&rows=24`, cookie, origin);
    const rssAfter = process.memoryUsage().rss;
    console.log(
      `${mode === 'workshop' ? 'workshop (bubblewrap)' : 'single (plain shell)'}${hasTaskset ? ', server on core 0, client on core 1' : ''}:`,
    );
    console.log(`  first output        ${figures.firstOutputMs.toFixed(0)} ms   first prompt ${figures.firstPromptMs.toFixed(0)} ms`);
    console.log(
      `  echo round trip     p50 ${figures.echoP50.toFixed(2)} ms   p99 ${figures.echoP99.toFixed(2)} ms   max ${figures.echoMax.toFixed(2)} ms   (n=${keystrokes})`,
    );
    console.log(
      `  output throughput   ${(figures.megabytes / figures.seconds).toFixed(1)} MB/s (${figures.megabytes.toFixed(1)} MB in ${figures.seconds.toFixed(2)} s)`,
    );
    console.log(`  server process RSS  ${(rssBefore / 2 ** 20).toFixed(0)} MiB → ${(rssAfter / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    await fetch(`${origin}/api/session`, { method: 'DELETE', headers: { cookie, origin } }).catch(() => undefined);
    await server.close();
  }
}

if (clientMode) {
  const [url, cookie, origin] = process.argv.slice(3, 6) as [string, string, string];
  process.stdout.write(JSON.stringify(await client(url, cookie, origin)));
} else {
  if (hasTaskset) spawnSync('taskset', ['-cp', '0', String(process.pid)]);
  await measure('single');
  await measure('workshop');
}
