/**
 * A learner's shell for tests: runs commands one after another the way a
 * learner types them into the terminal beside a lesson. Each command is its
 * own `bash -c` with a deadline, but what a command leaves behind in the
 * shell carries to the next, as in the one interactive shell of the
 * terminal: the variables it set (`NS=$(…)` in one command, `$NS` in the
 * next) and the folder it moved to (`cd ~/orders`).
 *
 * The environment is the terminal's (labs-server/src/terminal/bubblewrap-args.ts,
 * host-shell.ts): the cluster's kubectl first on the PATH, the learner's
 * kubeconfig in KUBECONFIG, a home folder of its own. Nothing of the test
 * runner's environment leaks in (its KUBECONFIG would be the admin's). There
 * is no terminal and stdin is empty; `kubectl edit` gets an editor that
 * leaves the object as it is (EDITOR=true), standing in for the learner's
 * own editing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findKubectl } from '../../cluster/src/kubectl.ts';

export interface ShellResult {
  /** The exit status; undefined when the deadline stopped it first. */
  code: number | undefined;
  /** stdout and stderr together, as the terminal shows them (the last 64 KiB). */
  output: string;
}

const OUTPUT_LIMIT = 64 * 1024;
/** After SIGTERM at the deadline, how long a command gets before SIGKILL. */
const KILL_GRACE_MS = 2_000;

/**
 * The shell around each command: restores what earlier commands left
 * (variables in `vars`, the folder in `cwd`), and on exit, whatever the
 * status, saves the variables the command made. Names starting `__cdl_` are
 * this wrapper's own.
 */
function wrap(command: string, state: string): string {
  return `__cdl_state=${JSON.stringify(state)}
__cdl_known=" $(compgen -v | tr '\\n' ' ') "
. "$__cdl_state/vars" 2>/dev/null
cd "$(cat "$__cdl_state/cwd")" || exit 125
__cdl_save() {
  pwd > "$__cdl_state/cwd"
  for __cdl_name in $(compgen -v); do
    case "$__cdl_known" in *" $__cdl_name "*) continue ;; esac
    case "$__cdl_name" in __cdl_*) continue ;; esac
    declare -p "$__cdl_name" 2>/dev/null
  done > "$__cdl_state/vars.new" && mv "$__cdl_state/vars.new" "$__cdl_state/vars"
}
trap __cdl_save EXIT
${command}
`;
}

export class LearnerShell {
  readonly home: string;
  private readonly state: string;
  private readonly env: Record<string, string>;

  /** A shell whose KUBECONFIG is `kubeconfig` (its text), in a fresh home folder; `env` adds to its environment. */
  constructor(kubeconfig: string, env: Record<string, string> = {}) {
    const kubectl = findKubectl();
    if (!kubectl) throw new Error('no kubectl: neither the cluster binaries nor the PATH have one');
    this.home = mkdtempSync(join(tmpdir(), 'cdl-learner-'));
    this.state = mkdtempSync(join(tmpdir(), 'cdl-learner-state-'));
    const config = join(this.state, 'kubeconfig');
    writeFileSync(config, kubeconfig, { mode: 0o600 });
    writeFileSync(join(this.state, 'cwd'), `${this.home}\n`);
    writeFileSync(join(this.state, 'vars'), '');
    this.env = {
      PATH: `${dirname(kubectl)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: this.home,
      USER: 'learner',
      LANG: 'C.UTF-8',
      KUBECONFIG: config,
      EDITOR: 'true',
      ...env,
    };
  }

  /** Runs `command`; at `timeoutMs` it is stopped (its whole process group) and `code` is undefined. */
  run(command: string, timeoutMs: number): Promise<ShellResult> {
    const child = spawn('bash', ['-c', wrap(command, this.state)], {
      cwd: this.home,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const signalGroup = (signal: NodeJS.Signals) => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, signal);
    };
    let stopped = false;
    const deadline = setTimeout(() => {
      stopped = true;
      signalGroup('SIGTERM');
      setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS).unref();
    }, timeoutMs);
    return new Promise((resolve, reject) => {
      child.once('error', (error) => {
        clearTimeout(deadline);
        reject(new Error(`bash did not start: ${error.message}`, { cause: error }));
      });
      child.once('close', (code, signal) => {
        clearTimeout(deadline);
        // Killed by a signal of its own, as a shell reports it: 128 + the signal's number.
        const status = code ?? (signal ? 128 + constants.signals[signal] : undefined);
        resolve({ code: stopped ? undefined : status, output });
      });
    });
  }

  /** Removes its home and state folders. */
  dispose(): void {
    rmSync(this.home, { recursive: true, force: true });
    rmSync(this.state, { recursive: true, force: true });
  }
}
