/**
 * kubectl's bash completion, made once per kubectl binary. Every shell
 * sources it from its workspace folder instead of running `kubectl
 * completion bash` in its rc file: that took about 45 ms of every new
 * shell's first prompt with kubectl in the page cache, and seconds without.
 * A kubectl that cannot say its completion leaves shells without one; the
 * shell still starts.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const made = new Map<string, Promise<string | undefined>>();

/** The completion script of the kubectl at `path` (run once, then remembered); undefined when it cannot be made. */
export function kubectlCompletion(path: string): Promise<string | undefined> {
  let script = made.get(path);
  if (!script) {
    script = run(path, ['completion', 'bash'], { timeout: 20_000, maxBuffer: 4 * 1024 * 1024, env: { PATH: '/usr/bin:/bin' } }).then(
      ({ stdout }) => (stdout.includes('__start_kubectl') ? stdout : undefined),
      () => undefined,
    );
    made.set(path, script);
  }
  return script;
}
