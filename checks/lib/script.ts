/**
 * A step verified by a shell script instead of a check module: bash runs it
 * with kubectl on its PATH, a kubeconfig whose default namespace is the
 * lab's first, `NS_<NAME>` for each of the lab's namespaces, a clean
 * environment and a deadline. Exit 0 passes; the last lines it printed are
 * the message. Whoever hosts the checks says how to start a process
 * (`launch`): the lab server starts it through its terminals' launcher, so
 * the script inherits none of the server's descriptors.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { withDefaultNamespace } from '../../cluster/src/kube.ts';
import { findKubectl } from '../../cluster/src/kubectl.ts';
import { defaultNamespace, type SandboxNamespaces } from '../../contract/sandbox.ts';
import type { Criterion } from './check.ts';

/** How the host starts a command: the program to run and its arguments. */
export type Launch = (command: string[]) => { file: string; args: string[] };

/** Runs the command as it is. */
export const directLaunch: Launch = ([file = 'false', ...args]) => ({ file, args });

export interface ScriptRun {
  /** Ends the script (its whole process group) when aborted: the check's deadline. */
  signal: AbortSignal;
  /** The script's own time limit. */
  timeoutMs: number;
  launch: Launch;
}

const OUTPUT_LIMIT = 16 * 1024;

export async function runVerifyScript(kc: KubeConfig, script: string, namespaces: SandboxNamespaces, run: ScriptRun): Promise<Criterion> {
  const { timeoutMs, launch } = run;
  const deadline = AbortSignal.any([run.signal, AbortSignal.timeout(timeoutMs)]);
  const kubectl = findKubectl();
  if (!kubectl) throw new Error('no kubectl for the verify script (run `npm run cluster -- up` once, or put kubectl on the PATH)');
  const dir = await mkdtemp(join(tmpdir(), 'cdl-verify-'));
  try {
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, withDefaultNamespace(kc, defaultNamespace(namespaces) ?? 'default'), { mode: 0o600 });
    const env: NodeJS.ProcessEnv = {
      PATH: `${dirname(kubectl)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: dir,
      KUBECONFIG: kubeconfig,
      LANG: 'C.UTF-8',
      ...Object.fromEntries(namespaces.map((ns) => [`NS_${ns.name.toUpperCase().replace(/-/g, '_')}`, ns.namespace])),
    };
    const { code, output, timedOut } = await new Promise<{ code: number | null; output: string; timedOut: boolean }>((resolve) => {
      const { file, args } = launch(['bash', script]);
      const child = spawn(file, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let output = '';
      const collect = (chunk: Buffer) => {
        if (output.length < OUTPUT_LIMIT) output += chunk.toString('utf8');
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      let timedOut = false;
      const stop = () => {
        timedOut = true;
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      };
      if (deadline.aborted) stop();
      else deadline.addEventListener('abort', stop, { once: true });
      child.on('close', (exit) => {
        deadline.removeEventListener('abort', stop);
        resolve({ code: exit, output, timedOut });
      });
    });
    const lines = output.trim().split('\n').filter(Boolean);
    const message = lines.slice(-3).join('\n');
    if (timedOut) {
      return {
        id: 'script',
        passed: false,
        message: `The check did not finish within ${timeoutMs / 1000} s.`,
        hint: 'Try again in a moment.',
      };
    }
    if (code === 0) return { id: 'script', passed: true, message: message || 'Done.' };
    return {
      id: 'script',
      passed: false,
      message: message || `The check failed (exit ${code}).`,
      hint: 'Read the message, then look with kubectl.',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
