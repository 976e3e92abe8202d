/**
 * A room full of learners on one machine: N learners (default 200) join a
 * workshop-mode server, each gets a sandbox and a bubblewrap terminal, and
 * then every terminal types about one key a second for a while, as a room
 * of people reading and typing does, while the bench records each echo's
 * round trip. Reports the time to get everyone in, echo p50/p99/max under
 * that load, and the server's memory. Server in this process on core 0, the
 * learners in a separate process on core 1 (with `taskset`, where it
 * exists). A script, not a test:
 *
 *   node labs-server/bench/capacity.ts [learners] [seconds]
 *
 * With shells in pods (on the local cluster's real node), the server relays
 * to each learner's agent; with a pool, the bench waits for it to be ready
 * before anyone joins (a warm pool), and without one each join starts a pod:
 *
 *   TERMINAL_SHELLS=pods TERMINAL_POOL_SIZE=20 node labs-server/bench/capacity.ts 20 30
 */

import { execFile, spawn, spawnSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../cluster/src/kube.ts';
import { findKubectl } from '../../cluster/src/kubectl.ts';
import { isRefusal, TerminalClient } from '../../test/support/terminal-client.ts';
import { POOL_LABEL, SHELL_LABEL, SHELLS_NAMESPACE } from '../src/terminal/shell-pods.ts';
import { quantile, startBenchServer } from './support.ts';

const clientMode = process.argv[2] === '--client';
// The client is started as: --client <origin> <learners> <seconds>
const learners = Number(process.argv[clientMode ? 4 : 2] ?? 200);
const seconds = Number(process.argv[clientMode ? 5 : 3] ?? 30);
const LAB = 'first-deployment';
const ACCESS_CODE = 'ROOM-2026';
/** What the learners' process prints when everyone is in, so that the server's side can count the API requests of joining apart. */
const ALL_IN = 'all learners in';
/** How many learners join at the same moment. */
const JOIN_CONCURRENCY = 8;

interface Learner {
  cookie: string;
  term: TerminalClient;
}

interface RoomFigures {
  joinMs: number[];
  allInMs: number;
  echoes: number[];
  missed: number;
  cookies: string[];
}

async function join(origin: string, index: number): Promise<{ learner: Learner; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${origin}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ name: `learner ${index}`, accessCode: ACCESS_CODE }),
  });
  if (response.status !== 201) throw new Error(`join ${index}: ${response.status} ${await response.text()}`);
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const url = `${origin.replace('http', 'ws')}/api/terminal?lab=${LAB}&cols=100&rows=30`;
  const term = await TerminalClient.open(url, { cookie, origin });
  if (isRefusal(term)) throw new Error(`terminal ${index}: ${term.status} ${term.body}`);
  await term.waitFor(/\$ $/m, 60_000);
  return { learner: { cookie, term }, ms: performance.now() - started };
}

/** The learners' side, in its own process. */
async function room(origin: string): Promise<RoomFigures> {
  const joinMs: number[] = [];
  const room: Learner[] = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: JOIN_CONCURRENCY }, async () => {
      while (next < learners) {
        const index = next++;
        const { learner, ms } = await join(origin, index);
        room.push(learner);
        joinMs.push(ms);
        if (room.length % 50 === 0) process.stderr.write(`  ${room.length} learners in…\n`);
      }
    }),
  );
  const allInMs = performance.now() - started;
  process.stderr.write(`${ALL_IN}\n`);

  // Everyone types about one key a second, at random moments; each key's echo is timed.
  const echoes: number[] = [];
  let missed = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    room.map(async ({ term }) => {
      let typed = 0;
      while (performance.now() < until) {
        await sleep(500 + Math.random() * 1000);
        const before = term.received;
        const sent = performance.now();
        term.send(typed % 60 === 59 ? '\x15' : 'x');
        typed += 1;
        try {
          await term.until(() => term.received > before, 5_000);
          echoes.push(performance.now() - sent);
        } catch {
          missed += 1;
        }
      }
    }),
  );
  for (const { term } of room) term.ws.close();
  return { joinMs, allInMs, echoes, missed, cookies: room.map((l) => l.cookie) };
}

const hasTaskset = spawnSync('taskset', ['--version']).status === 0;

function runRoom(origin: string, allIn: () => void): Promise<RoomFigures> {
  const args = [fileURLToPath(import.meta.url), '--client', origin, String(learners), String(seconds)];
  const child = hasTaskset ? spawn('taskset', ['-c', '1', process.execPath, ...args]) : spawn(process.execPath, args);
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    if (text.includes(ALL_IN)) allIn();
    process.stderr.write(text.replace(`${ALL_IN}\n`, ''));
  });
  return new Promise((resolve, reject) => {
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as RoomFigures) : reject(new Error(`the learners' process failed (${code})`)),
    );
  });
}

/** How many bubblewrap processes run, asked without blocking the server's event loop (which this process is). */
function countShells(): Promise<number> {
  return new Promise((resolve) => {
    execFile('pgrep', ['-c', '-x', 'bwrap'], (_error, stdout) => resolve(Number(stdout.trim() || 0)));
  });
}

/**
 * Requests the API server has answered so far, by verb (its
 * apiserver_request_total, watches and other long-running requests left
 * out), asked with kubectl so that this process's event loop is not the one
 * that parses the metrics.
 */
function apiRequests(kubeconfig: string): Promise<Map<string, number>> {
  const kubectl = findKubectl();
  return new Promise((resolve) => {
    if (!kubectl) return resolve(new Map());
    execFile(kubectl, ['--kubeconfig', kubeconfig, 'get', '--raw', '/metrics'], { maxBuffer: 256 * 2 ** 20 }, (_error, stdout) => {
      const byVerb = new Map<string, number>();
      for (const line of stdout.split('\n')) {
        if (!line.startsWith('apiserver_request_total{')) continue;
        const verb = /verb="([A-Z]+)"/.exec(line)?.[1] ?? '';
        if (verb === 'WATCH' || verb === 'CONNECT') continue;
        byVerb.set(verb, (byVerb.get(verb) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
      }
      resolve(byVerb);
    });
  });
}

/** What was asked between two counts, per learner (and per second, over `seconds`): `GET 3.1 · LIST 2.0 …`. */
function requestsBetween(before: Map<string, number>, after: Map<string, number>, divide: number): string {
  const parts = [...after]
    .map(([verb, count]) => [verb, (count - (before.get(verb) ?? 0)) / divide] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  const total = parts.reduce((sum, [, n]) => sum + n, 0);
  return `${total.toFixed(1)} (${parts.map(([verb, n]) => `${verb} ${n.toFixed(1)}`).join(' · ')})`;
}

/** With shells in pods and a pool: waits until that many pool pods are ready (a warm pool). */
async function warmPool(kubeconfig: string, want: number): Promise<void> {
  const core = loadKubeConfig(kubeconfig).makeApiClient(CoreV1Api);
  const started = Date.now();
  for (;;) {
    const free = await core.listNamespacedPod({ namespace: SHELLS_NAMESPACE, labelSelector: `${SHELL_LABEL}=true,${POOL_LABEL}=free` });
    const ready = free.items.filter((pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    if (ready >= want) break;
    if (Date.now() - started > 300_000) throw new Error(`the pool has ${ready} ready pods of ${want} after 5 minutes`);
    await sleep(500);
  }
  console.log(`  pool of ${want} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function measure(): Promise<void> {
  const { server, origin, kubeconfig } = await startBenchServer('workshop', ACCESS_CODE);
  const pods = process.env.TERMINAL_SHELLS === 'pods';
  const pool = Number(process.env.TERMINAL_POOL_SIZE ?? 0);
  if (pods && pool > 0) await warmPool(kubeconfig, Math.min(pool, learners));
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  let shells = 0;
  const sampler = setInterval(async () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    shells = Math.max(shells, await countShells());
  }, 5000);
  console.log(
    `${learners} learners, workshop mode (${pods ? `shell pods relayed to their agents, ${pool > 0 ? `a warm pool of ${pool}` : 'no pool'}` : 'bubblewrap shells'}), ${seconds} s of typing${hasTaskset ? ', server on core 0, learners on core 1' : ''}`,
  );
  let figures: RoomFigures | undefined;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  try {
    loop.enable();
    const requestsAtStart = await apiRequests(kubeconfig);
    let requestsAllIn: Promise<Map<string, number>> | undefined;
    figures = await runRoom(origin, () => {
      requestsAllIn = apiRequests(kubeconfig);
    });
    const requestsAtEnd = await apiRequests(kubeconfig);
    loop.disable();
    const at = (values: number[], q: number) => quantile(values, q).toFixed(q === 0.5 ? 2 : 1);
    console.log(`  everyone in          ${(figures.allInMs / 1000).toFixed(1)} s (${JOIN_CONCURRENCY} joining at a time)`);
    console.log(
      `  join to prompt       p50 ${at(figures.joinMs, 0.5)} ms   p95 ${at(figures.joinMs, 0.95)} ms   max ${at(figures.joinMs, 1)} ms`,
    );
    console.log(
      `  echo under load      p50 ${at(figures.echoes, 0.5)} ms   p99 ${at(figures.echoes, 0.99)} ms   max ${at(figures.echoes, 1)} ms   (n=${figures.echoes.length}, missed ${figures.missed})`,
    );
    console.log(
      `  server event loop    delay p50 ${(loop.percentile(50) / 1e6).toFixed(1)} ms   p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms   max ${(loop.max / 1e6).toFixed(1)} ms`,
    );
    const allIn = (await requestsAllIn) ?? requestsAtStart;
    console.log(`  API requests to join ${requestsBetween(requestsAtStart, allIn, learners)} per learner (sandbox, token, shell)`);
    console.log(`  API requests typing  ${requestsBetween(allIn, requestsAtEnd, seconds)} per second, all ${learners} learners`);
    if (!pods) console.log(`  bubblewrap processes ${shells} at most`);
    console.log(`  server process RSS   ${(rssBefore / 2 ** 20).toFixed(0)} MiB → peak ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    clearInterval(sampler);
    const started = Date.now();
    for (const cookie of figures?.cookies ?? []) {
      await fetch(`${origin}/api/session`, { method: 'DELETE', headers: { cookie, origin } }).catch(() => undefined);
    }
    console.log(`  ended every session in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await server.close();
  }
}

if (clientMode) {
  process.stdout.write(JSON.stringify(await room(process.argv[3] as string)));
} else {
  if (hasTaskset) spawnSync('taskset', ['-cp', '0', String(process.pid)]);
  await measure();
}
