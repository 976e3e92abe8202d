/**
 * `npm start`'s first step: bundles the server when its sources changed
 * (server-bundle.ts), then becomes it. Where Node can replace a process's
 * program (`process.execve`, Node 22.15 and later), the server takes over
 * this very process, so one process serves and holds memory; elsewhere it
 * runs as this process's child, with signals passed on.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { serverBundle } from './server-bundle.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);
const bundle = await serverBundle(say);
// Not --enable-source-maps: it holds the whole map in memory (about 130 MiB more); the names in a stack trace are kept.
// A young generation of 1 MiB a half: the server's garbage is small and short-lived (a shell's output lives in
// Buffers, outside the heap), and V8's default of 8–16 MiB held about 12 MiB more resident for nothing measurable.
const args = ['--max-semi-space-size=1', bundle, ...process.argv.slice(2)];
const env = {
  // V8's compiled code of the bundle, kept beside it (Node 22.1 and later; where the folder cannot be written, Node
  // goes without): a start that finds it parses nothing, and the parser's memory (about 15 MiB that malloc never gave
  // back) is never taken. Written once the server is ready (scripts/platform.ts).
  NODE_COMPILE_CACHE: join(dirname(bundle), 'compile-cache'),
  // glibc's malloc with one arena, big blocks mapped on their own and the top of the heap given back: 7 MiB less
  // resident with one learner, and no slower with 200 (labs-server/bench/capacity.ts; docs/terminal.md).
  MALLOC_ARENA_MAX: '1',
  MALLOC_MMAP_THRESHOLD_: '65536',
  MALLOC_TRIM_THRESHOLD_: '131072',
  // Whatever the user set wins.
  ...process.env,
};
if (typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, ...args], env);
} else {
  const child = spawn(process.execPath, args, { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 1 : 0);
  });
}
