/**
 * One of the project's entry points (`scripts/start.ts`, `scripts/dev.ts`)
 * run as a real process, as a user runs it, for the tests that need the
 * whole program: wait until its /healthz answers, keep what it prints, stop it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { PollTimeout, poll } from '../../cluster/src/kube.ts';
import { projectRoot } from '../../cluster/src/paths.ts';

export interface Running {
  child: ChildProcess;
  /** What it printed so far (the last 64 KiB). */
  output(): string;
  /** Stops it with `signal` (SIGKILL after 10 s) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface EntryOptions {
  /** The script, relative to the project's root. */
  script: string;
  env: Record<string, string>;
  /** The port whose /healthz says it is ready. */
  port: number;
  /** Or an address of its own that answers 200 once it is ready. */
  readyUrl?: string;
  timeoutMs?: number;
  /** Also write what it prints to this file. */
  logFile?: string;
}

/** The environment a user's shell would give it: without the test runner's own variables (Astro serves no pages under VITEST). */
function userEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')));
}

export async function runEntry(options: EntryOptions): Promise<Running> {
  const child = spawn(process.execPath, [options.script], {
    cwd: projectRoot,
    env: { ...userEnv(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-64 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  if (options.logFile) {
    const log = createWriteStream(options.logFile);
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
  }
  const running: Running = {
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      const killed = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killed);
    },
  };
  const timeoutMs = options.timeoutMs ?? 60_000;
  const readyUrl = options.readyUrl ?? `http://127.0.0.1:${options.port}/healthz`;
  try {
    await poll(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`${options.script} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`);
        }
        return fetch(readyUrl).then(
          (r) => r.ok,
          () => false,
        );
      },
      { what: `${options.script} to answer ${readyUrl}`, timeoutMs, intervalMs: 200, retryErrors: false },
    );
  } catch (error) {
    if (!(error instanceof PollTimeout)) throw error;
    await running.stop('SIGKILL');
    throw new Error(`${options.script} did not answer ${readyUrl} within ${timeoutMs / 1000} s:\n${output}`, { cause: error });
  }
  return running;
}

/** The settings that run an entry in single-user mode on the shared test cluster, through the external provider (so it never starts or stops it). */
export function onTestCluster(kubeconfig: string, clusterName: string, adminToken: string): Record<string, string> {
  return {
    CDL_MODE: 'single',
    CDL_PROVIDER: 'external',
    CDL_KUBECONFIG: kubeconfig,
    CDL_CLUSTER_NAME: clusterName,
    CDL_ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'warn',
  };
}
