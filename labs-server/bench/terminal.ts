/**
 * What a learner feels in the browser terminal, measured as PERFORMANCE.md
 * measures the reference terminals, for a plain shell (single-user mode) and
 * a bubblewrap one (workshop mode):
 *
 * - the server is a process of its own, started as `npm start` starts it
 *   (`scripts/serve.ts`: the bundled server, which becomes that very
 *   process), logging at its default level (info, or LOG_LEVEL), pinned to
 *   core 0 with `taskset -c 0`; the shells it starts inherit the core;
 * - the client is another process, pinned to core 1, with the tests'
 *   terminal client (`test/support/terminal-client.ts`), which acknowledges
 *   every frame as the page does;
 * - first output and first prompt: from asking for the WebSocket to the
 *   first output byte and to the prompt, the median (and min–max) of 10
 *   connects, each a fresh shell (the previous one typed `exit`), on a lab
 *   started before the first;
 * - echo: one byte typed, its echo waited for, 2000 times after 100 warm-up
 *   rounds, the line cleared every 60 characters; p50, p99, max;
 * - throughput: `cat` of a file of base64 already in memory (written into
 *   /dev/shm before the server starts; a workshop shell, which cannot see
 *   the host's /dev/shm, makes its own in its /tmp tmpfs first), then a
 *   marker; bytes from the first byte of the file to the marker over the
 *   time between them. Nothing is generated while it is timed;
 * - memory: the server process's VmRSS and VmHWM from /proc/PID/status after
 *   the throughput run, with one learner;
 * - three rounds, the modes interleaved, each with a fresh server; the
 *   table gives min–max over the rounds. A bare pty (`script -qc cat` on
 *   core 0, read by a client on core 1) is measured beside them as the
 *   ceiling of throughput.
 *
 * With --embedded, each round also measures the server as the old bench and
 * the tests start it: `startLabServer` called directly, logging off, no
 * site (still a process of its own on core 0), labelled as such.
 *
 * The cluster is CDL_CLUSTER_NAME, by default `bench` (started if it is
 * not running, and left running: `CDL_CLUSTER_NAME=bench npm run cluster --
 * down` stops it). A script, not a test:
 *
 *   node labs-server/bench/terminal.ts [keystrokes] [megabytes] [--rounds N] [--connects N] [--modes single,workshop] [--embedded]
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../../cluster/src/paths.ts';
import { chooseProvider, createProvider } from '../../cluster/src/select.ts';
import { freePort } from '../../test/support/ports.ts';
import { isRefusal, TerminalClient } from '../../test/support/terminal-client.ts';
import { cpuSeconds, hasTaskset, median, pinned, processStatus, quantile, startBenchServer } from './support.ts';

const USAGE =
  'node labs-server/bench/terminal.ts [keystrokes=2000] [megabytes=20] [--rounds 3] [--connects 10] [--modes single,workshop] [--embedded]';
const LAB = 'first-deployment';
const ACCESS_CODE = 'BENCH-2026';
const WARM_UP = 100;
/** Between connects, for the previous shell to be cleaned up. */
const SETTLE_MS = 1500;
const CLEAR_EVERY = 60;
const SERVER_CORE = 0;
const CLIENT_CORE = 1;
/** The file's first line and the marker after it, each typed in two quoted halves so that the echoed command never holds them whole. */
const START = 'CDL-BENCH-START';
const END = 'CDL-BENCH-END';
const PROMPT = /\$ $/;
const say = (line: string) => process.stderr.write(`${line}\n`);
const MiB = 2 ** 20;

type Mode = 'single' | 'workshop';

/** What the client process is given. */
interface ClientJob {
  url: string;
  origin: string;
  cookie: string;
  connects: number;
  keystrokes: number;
  megabytes: number;
  /** The file of base64 on the host (in /dev/shm). */
  hostFile: string;
  serverPid: number;
}

interface ThroughputFigures {
  bytes: number;
  seconds: number;
  /** Output frames it came in (ours only). */
  frames?: number;
  /** Where the file was: the host's /dev/shm, or the shell's own /tmp. */
  file: string;
  /** CPU time the server process used while it was timed. */
  serverCpuSeconds?: number;
}

interface ClientFigures {
  /** Per connect, ms from asking for the socket: to the upgrade's answer, to READY, to the first output byte, to the prompt. */
  openMs: number[];
  readyMs: number[];
  firstOutputMs: number[];
  firstPromptMs: number[];
  /** Connects that found the previous shell still closing and were made again (not timed). */
  retries: number;
  echoes: number[];
  throughput: ThroughputFigures;
  clientCpus: string;
}

interface RunFigures extends ClientFigures {
  rss: number;
  peakRss: number;
  serverCpus: string;
  serverPid: number;
  log: string;
}

// ---------------------------------------------------------------- the client (a process of its own, on core 1)

async function connect(job: ClientJob): Promise<TerminalClient> {
  const term = await TerminalClient.open(job.url, { origin: job.origin, cookie: job.cookie });
  if (isRefusal(term)) throw new Error(`the terminal was refused: ${term.status} ${term.body}`);
  return term;
}

/** A fresh shell: one whose READY says it was not resumed. A connect that races the previous shell's end is made again. */
async function freshShell(job: ClientJob): Promise<{ term: TerminalClient; promptAt: number; retries: number }> {
  for (let retries = 0; retries < 50; retries += 1) {
    const term = await connect(job);
    await term.until(() => term.ready !== undefined, 30_000, 'READY').catch(() => undefined);
    if (term.ready && !term.ready.resumed) {
      let promptAt = 0;
      await term.until(
        () => {
          if (!PROMPT.test(term.text)) return false;
          promptAt = term.lastOutputAt;
          return true;
        },
        30_000,
        'the first prompt',
      );
      return { term, promptAt, retries };
    }
    // The previous shell is still ending (the socket is closed at once, 1011), or is still alive (it is ended now).
    if (term.ready?.resumed) await endShell(term);
    await term.close();
    await sleep(100);
  }
  throw new Error('no fresh shell after 50 connects');
}

async function endShell(term: TerminalClient): Promise<void> {
  term.send('exit\r');
  await term.until(() => term.closed !== undefined, 30_000, 'the shell to end');
}

async function throughput(term: TerminalClient, job: ClientJob): Promise<ThroughputFigures> {
  let file = job.hostFile;
  if ((await term.run(`test -r ${file} && echo visible || echo hidden`)).trim() !== 'visible') {
    // A workshop shell sees no host file: it makes its own in its /tmp (a tmpfs), before anything is timed.
    file = '/tmp/cdl-bench.b64';
    const sourceBytes = Math.round((job.megabytes * 1e6 * 3) / 4);
    const size = await term.run(
      `{ echo ${START.slice(0, 5)}""${START.slice(5)}; head -c ${sourceBytes} /dev/urandom | base64 -w 76; } > ${file}; wc -c < ${file}`,
      120_000,
    );
    if (Number(size.trim()) < job.megabytes * 1e6) throw new Error(`the shell could not make ${file}: ${size}`);
  }
  // Let the shell's core settle after making the file.
  await sleep(500);
  const tag = Math.random().toString(36).slice(2, 8);
  const marker = `${END}-${tag}`;
  let startAt: number | undefined;
  let startBytes = 0;
  let endAt = 0;
  let endBytes = 0;
  let startFrames = 0;
  let endFrames = 0;
  const cpuBefore = cpuSeconds(job.serverPid);
  const before = term.received;
  term.send(`cat ${file}; echo ${marker.slice(0, 5)}""${marker.slice(5)}\r`);
  await term.until(
    () => {
      if (startAt === undefined) {
        if (term.received === before || !term.lastText(START.length).includes(START)) return false;
        // From the first byte of the frame that brought the file's first line.
        startAt = term.lastOutputAt;
        startBytes = term.received - term.lastOutputBytes;
        startFrames = term.outputFrames - 1;
      }
      if (!term.lastText(marker.length).includes(marker)) return false;
      endAt = term.lastOutputAt;
      endBytes = term.received;
      endFrames = term.outputFrames;
      return true;
    },
    300_000,
    'the end marker',
  );
  const serverCpu = cpuSeconds(job.serverPid) - cpuBefore;
  return {
    bytes: endBytes - startBytes,
    seconds: (endAt - (startAt ?? endAt)) / 1000,
    frames: endFrames - startFrames,
    file: file === job.hostFile ? 'host /dev/shm' : "the shell's /tmp",
    serverCpuSeconds: serverCpu,
  };
}

async function client(job: ClientJob): Promise<ClientFigures> {
  const figures: ClientFigures = {
    openMs: [],
    readyMs: [],
    firstOutputMs: [],
    firstPromptMs: [],
    retries: 0,
    echoes: [],
    throughput: { bytes: 0, seconds: 0, file: '' },
    clientCpus: processStatus('self').cpus,
  };
  let term: TerminalClient | undefined;
  for (let i = 0; i < job.connects; i += 1) {
    const fresh = await freshShell(job);
    term = fresh.term;
    figures.retries += fresh.retries;
    figures.openMs.push((term.openedAt ?? Number.NaN) - term.connectedAt);
    figures.readyMs.push((term.readyAt ?? Number.NaN) - term.connectedAt);
    figures.firstOutputMs.push((term.firstOutputAt ?? Number.NaN) - term.connectedAt);
    figures.firstPromptMs.push(fresh.promptAt - term.connectedAt);
    if (i < job.connects - 1) {
      await endShell(term);
      // Untimed: the old shell's cleanup (its processes, control group, relay) is not part of the next shell's start.
      await sleep(SETTLE_MS);
    }
  }
  if (!term) throw new Error('no connect');
  say(`    echo: ${job.keystrokes} keystrokes after ${WARM_UP} warm-up…`);
  figures.echoes = await term.echoTimes(job.keystrokes, 0, { warmUp: WARM_UP, clearEvery: CLEAR_EVERY });
  // The last Ctrl-U's redraw.
  await sleep(200);
  say(`    throughput: cat of ${job.megabytes} MB of base64…`);
  figures.throughput = await throughput(term, job);
  await term.close();
  return figures;
}

/** The reference: `cat` in a bare pty (`script`, on the server's core), read through a pipe on this core. */
async function barePty(file: string): Promise<ThroughputFigures> {
  const marker = `${END}-${Math.random().toString(36).slice(2, 8)}`;
  const [command, args] = pinned(SERVER_CORE, 'script', ['-qc', `cat ${file}; echo ${marker}`, '/dev/null']);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let received = 0;
  let startAt: number | undefined;
  let startBytes = 0;
  let tail = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const now = performance.now();
      received += chunk.length;
      tail = (tail + chunk.toString('latin1')).slice(-(chunk.length + marker.length));
      if (startAt === undefined && tail.includes(START)) {
        startAt = now;
        startBytes = received - chunk.length;
      }
      if (startAt !== undefined && tail.includes(marker)) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({ bytes: received - startBytes, seconds: (now - startAt) / 1000, file: 'host /dev/shm' });
      }
    });
    child.on('exit', (code) => {
      if (startAt === undefined) reject(new Error(`script exited (${code}) before the file was printed`));
    });
  });
}

// ---------------------------------------------------------------- the server (a process of its own, on core 0)

interface Variant {
  mode: Mode;
  /** Started by the bench's own code (`startLabServer`, logging off) instead of as a user starts it. */
  embedded: boolean;
}

const label = (v: Variant) =>
  `ours, ${v.mode === 'single' ? 'single-user (plain shell)' : 'workshop (bubblewrap)'}${v.embedded ? ', embedded, logging off' : ''}`;

interface ServerProcess {
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

async function startServer(variant: Variant, port: number, env: NodeJS.ProcessEnv, log: string): Promise<ServerProcess> {
  const script = variant.embedded
    ? [fileURLToPath(import.meta.url), '--embedded-server', variant.mode, String(port)]
    : ['scripts/serve.ts'];
  const [command, args] = pinned(SERVER_CORE, process.execPath, script);
  const out = openSync(log, 'w');
  const child = spawn(command, args, {
    cwd: projectRoot,
    env: {
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      CDL_MODE: variant.mode,
      CDL_ACCESS_CODE: ACCESS_CODE,
      CDL_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const server: ServerProcess = {
    child,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killed);
    },
  };
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tailOf(log)}`);
    }
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return server;
    await sleep(100);
  }
  await server.stop();
  throw new Error(`the server did not answer /healthz within 180 s:\n${tailOf(log)}`);
}

function tailOf(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-3000);
  } catch {
    return '';
  }
}

async function joinAsLearner(origin: string): Promise<string> {
  const response = await fetch(`${origin}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ name: 'bench', accessCode: ACCESS_CODE }),
  });
  if (response.status !== 201) throw new Error(`join: ${response.status} ${await response.text()}`);
  return (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

async function startLab(origin: string, cookie: string): Promise<void> {
  const response = await fetch(`${origin}/api/labs/${LAB}/start`, { method: 'POST', headers: { cookie, origin } });
  if (!response.ok) throw new Error(`starting ${LAB}: ${response.status} ${await response.text()}`);
}

/** Runs this file in another role, pinned to the client's core, and returns what it prints on stdout as JSON. */
function runClientProcess<T>(role: string, argument: string): Promise<T> {
  const [command, args] = pinned(CLIENT_CORE, process.execPath, [fileURLToPath(import.meta.url), role, argument]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`the ${role} process failed (${code})`))));
  });
}

async function measure(variant: Variant, options: Options, env: NodeJS.ProcessEnv, hostFile: string, log: string): Promise<RunFigures> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const server = await startServer(variant, port, env, log);
  let cookie = '';
  try {
    cookie = await joinAsLearner(origin);
    await startLab(origin, cookie);
    const job: ClientJob = {
      url: `ws://127.0.0.1:${port}/api/terminal?lab=${LAB}&cols=80&rows=24`,
      origin,
      cookie,
      connects: options.connects,
      keystrokes: options.keystrokes,
      megabytes: options.megabytes,
      hostFile,
      serverPid: server.pid,
    };
    const figures = await runClientProcess<ClientFigures>('--client', JSON.stringify(job));
    const status = processStatus(server.pid);
    return { ...figures, rss: status.rss, peakRss: status.peakRss, serverCpus: status.cpus, serverPid: server.pid, log };
  } finally {
    if (cookie) await fetch(`${origin}/api/session`, { method: 'DELETE', headers: { cookie, origin } }).catch(() => undefined);
    await server.stop();
  }
}

// ---------------------------------------------------------------- the report

const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const mbps = (t: ThroughputFigures) => t.bytes / 1e6 / t.seconds;

/** min–max of a figure over the rounds, or one value when they round alike. */
function range(values: number[], format: (n: number) => string, unit: string): string {
  if (values.length === 0) return '–';
  const low = format(Math.min(...values));
  const high = format(Math.max(...values));
  return `${low === high ? low : `${low}–${high}`} ${unit}`;
}

function roundLine(round: number, name: string, f: RunFigures): string {
  const t = f.throughput;
  const spread = (values: number[]) => `${ms(median(values))} ms (${ms(Math.min(...values))}–${ms(Math.max(...values))})`;
  return [
    `round ${round} · ${name} · server pid ${f.serverPid} on cpu ${f.serverCpus}, client on cpu ${f.clientCpus}`,
    `    first output ${spread(f.firstOutputMs)}, first prompt ${spread(f.firstPromptMs)}; upgrade answered ${spread(f.openMs)}, READY ${spread(f.readyMs)}; median (min–max) of ${f.firstOutputMs.length}${f.retries ? `, ${f.retries} connects made again` : ''}`,
    `    echo p50 ${ms(quantile(f.echoes, 0.5))} ms, p99 ${ms(quantile(f.echoes, 0.99))} ms, max ${ms(quantile(f.echoes, 1))} ms (n=${f.echoes.length})`,
    `    throughput ${mbps(t).toFixed(1)} MB/s (${(t.bytes / 1e6).toFixed(2)} MB in ${t.seconds.toFixed(3)} s${t.frames ? `, ${t.frames} frames of ${(t.bytes / t.frames / 1024).toFixed(1)} KiB on average` : ''}, file in ${t.file})${t.serverCpuSeconds !== undefined ? `; server CPU ${t.serverCpuSeconds.toFixed(2)} s (${((100 * t.serverCpuSeconds) / t.seconds).toFixed(0)}% of its core)` : ''}`,
    `    server memory VmRSS ${(f.rss / MiB).toFixed(0)} MiB, VmHWM ${(f.peakRss / MiB).toFixed(0)} MiB · log ${f.log}`,
    `    load average ${loadAverage()}`,
  ].join('\n');
}

function table(rows: Array<{ name: string; runs: RunFigures[] }>, bare: ThroughputFigures[], options: Options): string {
  const { rounds, connects, megabytes } = options;
  const lines = [
    `| server | echo round trip p50 | p99 | max | throughput (\`cat\` of ${megabytes} MB base64 from memory) | first output (median of ${connects}) | first prompt (median of ${connects}) | server memory VmRSS / VmHWM |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const { name, runs } of rows) {
    const of = (pick: (f: RunFigures) => number, format: (n: number) => string, unit: string) => range(runs.map(pick), format, unit);
    const mib = (n: number) => (n / MiB).toFixed(0);
    lines.push(
      `| ${name} | ${of((f) => quantile(f.echoes, 0.5), ms, 'ms')} | ${of((f) => quantile(f.echoes, 0.99), ms, 'ms')} | ${of((f) => quantile(f.echoes, 1), ms, 'ms')} | ${of(
        (f) => mbps(f.throughput),
        (n) => n.toFixed(1),
        'MB/s',
      )} | ${of((f) => median(f.firstOutputMs), ms, 'ms')} | ${of((f) => median(f.firstPromptMs), ms, 'ms')} | ${of((f) => f.rss, mib, 'MiB')} / ${of((f) => f.peakRss, mib, 'MiB')} |`,
    );
  }
  if (bare.length > 0) {
    lines.push(`| a bare pty (\`script -qc cat\`) | – | – | – | ${range(bare.map(mbps), (n) => n.toFixed(1), 'MB/s')} | – | – | – |`);
  }
  lines.push(`\nmin–max over ${rounds} round${rounds === 1 ? '' : 's'}; each round a fresh server, the modes interleaved.`);
  return lines.join('\n');
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');
}

// ---------------------------------------------------------------- the run

interface Options {
  keystrokes: number;
  megabytes: number;
  rounds: number;
  connects: number;
  modes: Mode[];
  embedded: boolean;
}

function parseOptions(argv: string[]): Options {
  const positional: string[] = [];
  const options: Options = { keystrokes: 2000, megabytes: 20, rounds: 3, connects: 10, modes: ['single', 'workshop'], embedded: false };
  const whole = (name: string, value: string | undefined, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}: not a whole number from ${min}: ${value}\nusage: ${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      console.log(`usage: ${USAGE}`);
      process.exit(0);
    } else if (arg === '--rounds') options.rounds = whole(arg, argv[++i], 1);
    else if (arg === '--connects') options.connects = whole(arg, argv[++i], 1);
    else if (arg === '--embedded') options.embedded = true;
    else if (arg === '--modes') {
      const modes = (argv[++i] ?? '').split(',').filter(Boolean);
      if (modes.length === 0 || modes.some((m) => m !== 'single' && m !== 'workshop'))
        throw new Error(`--modes: single, workshop or both\nusage: ${USAGE}`);
      options.modes = modes as Mode[];
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}\nusage: ${USAGE}`);
    else positional.push(arg);
  }
  if (positional[0] !== undefined) options.keystrokes = whole('keystrokes', positional[0], 1);
  if (positional[1] !== undefined) options.megabytes = whole('megabytes', positional[1], 1);
  return options;
}

/** base64 of random bytes in lines of 76, about `megabytes` MB of it, after a first line that says where it starts. */
function writeHostFile(file: string, megabytes: number): void {
  const encoded = randomBytes(Math.round((megabytes * 1e6 * 3) / 4)).toString('base64');
  const lines = [START];
  for (let i = 0; i < encoded.length; i += 76) lines.push(encoded.slice(i, i + 76));
  writeFileSync(file, `${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const env: NodeJS.ProcessEnv = { ...process.env, CDL_CLUSTER_NAME: process.env.CDL_CLUSTER_NAME || 'bench' };
  const provider = await chooseProvider(undefined, env);
  env.CDL_PROVIDER = provider;
  const cores = cpus().length;
  if (!hasTaskset || cores < 2) say('warning: without taskset and two cores, the server and the client are not pinned apart');
  say(`bringing up the ${provider} cluster ${env.CDL_CLUSTER_NAME}…`);
  await createProvider(provider, { env }).up(say);

  const logs = join(tmpdir(), `cdl-bench-${process.pid}`);
  mkdirSync(logs, { recursive: true });
  const hostFile = `/dev/shm/cdl-bench-${process.pid}.b64`;
  writeHostFile(hostFile, options.megabytes);
  const variants: Variant[] = [
    ...options.modes.map((mode) => ({ mode, embedded: false })),
    ...(options.embedded ? options.modes.map((mode) => ({ mode, embedded: true })) : []),
  ];
  const loadAtStart = loadAverage();
  console.log(`browser terminal bench, ${new Date().toISOString()}`);
  console.log(
    `  ${cores} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, cluster ${provider} '${env.CDL_CLUSTER_NAME}', lab ${LAB}, 80×24`,
  );
  console.log(
    `  server: ${hasTaskset ? `taskset -c ${SERVER_CORE} ` : ''}node scripts/serve.ts (the bundled server), LOG_LEVEL=${env.LOG_LEVEL || 'info (default)'}, TERMINAL_CPUS=${env.TERMINAL_CPUS || '0.5 (default, workshop shells)'}; client: a process ${hasTaskset ? `on core ${CLIENT_CORE}` : 'of its own'}`,
  );
  console.log(
    `  ${options.connects} connects, ${options.keystrokes} keystrokes after ${WARM_UP} warm-up, ${options.megabytes} MB of base64, ${options.rounds} rounds; server logs in ${logs}`,
  );
  console.log(`  load average at start: ${loadAtStart}\n`);

  const results = new Map<string, RunFigures[]>(variants.map((v) => [label(v), []]));
  const bare: ThroughputFigures[] = [];
  try {
    for (let round = 1; round <= options.rounds; round += 1) {
      for (const variant of variants) {
        say(`round ${round}: ${label(variant)}…`);
        const log = join(logs, `${variant.mode}${variant.embedded ? '-embedded' : ''}-${round}.log`);
        const figures = await measure(variant, options, env, hostFile, log);
        results.get(label(variant))?.push(figures);
        console.log(roundLine(round, label(variant), figures));
      }
      say(`round ${round}: a bare pty…`);
      const reference = await runClientProcess<ThroughputFigures>('--bare-pty', hostFile);
      bare.push(reference);
      console.log(
        `round ${round} · a bare pty (script -qc cat) · ${mbps(reference).toFixed(1)} MB/s (${(reference.bytes / 1e6).toFixed(2)} MB in ${reference.seconds.toFixed(3)} s)\n`,
      );
    }
  } finally {
    rmSync(hostFile, { force: true });
  }
  console.log(
    table(
      [...results].map(([name, runs]) => ({ name, runs })),
      bare,
      options,
    ),
  );
  console.log(`load average at start ${loadAtStart}, at the end ${loadAverage()} (/proc/loadavg: 1, 5, 15 minutes)`);
  console.log(`the cluster keeps running: CDL_CLUSTER_NAME=${env.CDL_CLUSTER_NAME} npm run cluster -- down stops it`);
}

const role = process.argv[2];
if (role === '--client') {
  process.stdout.write(JSON.stringify(await client(JSON.parse(process.argv[3] as string) as ClientJob)));
  process.exit(0);
} else if (role === '--bare-pty') {
  process.stdout.write(JSON.stringify(await barePty(process.argv[3] as string)));
  process.exit(0);
} else if (role === '--embedded-server') {
  const { server } = await startBenchServer(process.argv[3] as Mode, ACCESS_CODE, Number(process.argv[4]));
  await new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await server.close();
  process.exit(0);
} else {
  await main();
}
