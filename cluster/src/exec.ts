/**
 * Running the external tools the cluster needs (go, kwokctl, kind, docker).
 * Output is captured rather than streamed, so a failure can show its last
 * lines and a success stays quiet; long runs report progress through `onTick`.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called every `tickMs` while the command runs, with the elapsed time. */
  onTick?: (elapsedMs: number) => void;
  tickMs?: number;
  /** Kill the command after this long. */
  timeoutMs?: number;
  /** Called with each line the command writes to stderr, as it comes. */
  onStderrLine?: (line: string) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Keeps only the last `max` characters of a growing string. */
function appendCapped(buffer: string, chunk: string, max = 64 * 1024): string {
  const next = buffer + chunk;
  return next.length > max ? next.slice(next.length - max) : next;
}

/** Runs a command to completion; never throws for a non-zero exit (see `code`). */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const started = Date.now();
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = appendCapped(stdout, chunk);
    });
    let partial = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = appendCapped(stderr, chunk);
      if (!options.onStderrLine) return;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onStderrLine(line);
    });
    const tick = options.onTick ? setInterval(() => options.onTick?.(Date.now() - started), options.tickMs ?? 30_000) : undefined;
    const timeout = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.on('error', (error) => {
      clearInterval(tick);
      clearTimeout(timeout);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearInterval(tick);
      clearTimeout(timeout);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** The full path of `name` on `PATH`, or undefined. */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder; try the next one
    }
  }
  return undefined;
}

/** The last few lines of a command's output, for an error message. */
export function tail(text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** `1m 05s` style durations for progress lines. */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, '0')}s`;
}

/** Whether a process with this id exists (and is not a zombie). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A zombie still answers signal 0; on Linux its state says so.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}
