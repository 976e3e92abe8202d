/**
 * `npm start`'s first step: bundles the server when its sources changed
 * (server-bundle.ts), then becomes it. Where Node can replace a process's
 * program (`process.execve`, Node 22.15 and later), the server takes over
 * this very process, so one process serves and holds memory; elsewhere it
 * runs as this process's child, with signals passed on.
 */
import { spawn } from 'node:child_process';
import { serverBundle } from './server-bundle.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);
const bundle = await serverBundle(say);
// Not --enable-source-maps: it holds the whole map in memory (about 130 MiB more); the names in a stack trace are kept.
// A young generation of 1 MiB a half: the server's garbage is small and short-lived (a shell's output lives in
// Buffers, outside the heap), and V8's default of 8–16 MiB held about 12 MiB more resident for nothing measurable.
const args = ['--max-semi-space-size=1', bundle, ...process.argv.slice(2)];
if (typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, ...args], process.env);
} else {
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 1 : 0);
  });
}
