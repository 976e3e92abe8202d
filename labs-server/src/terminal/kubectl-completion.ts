/**
 * kubectl's bash completion, made once per kubectl binary and folder. Every
 * shell sources it instead of running `kubectl completion bash` in its rc
 * file: that took about 45 ms of every new shell's first prompt with kubectl
 * in the page cache, and seconds without. The script (about 10 KiB) is
 * written once, root's and read-only to everyone, into the folder that holds
 * the terminals' workspaces; each workspace gets it as a hard link (one
 * system call, no copy). A kubectl that cannot say its completion leaves
 * shells without one; the shell still starts.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const made = new Map<string, Promise<string | undefined>>();

/**
 * The file of the completion script of the kubectl at `kubectl`, in `dir`
 * (made once, then remembered); undefined when it cannot be made. Never
 * rejects.
 */
export function kubectlCompletionFile(kubectl: string, dir: string): Promise<string | undefined> {
  const key = `${kubectl}\0${dir}`;
  let file = made.get(key);
  if (!file) {
    file = makeFile(kubectl, dir);
    made.set(key, file);
  }
  return file;
}

async function makeFile(kubectl: string, dir: string): Promise<string | undefined> {
  const script = await run(kubectl, ['completion', 'bash'], {
    timeout: 20_000,
    maxBuffer: 4 * 1024 * 1024,
    env: { PATH: '/usr/bin:/bin' },
  }).then(
    ({ stdout }) => (stdout.includes('__start_kubectl') ? stdout : undefined),
    () => undefined,
  );
  if (script === undefined) return undefined;
  const id = createHash('sha256').update(kubectl).digest('hex').slice(0, 12);
  const file = join(dir, `.kubectl-completion-${id}.bash`);
  const next = `${file}.next`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await rm(next, { force: true });
    await writeFile(next, script, { mode: 0o444, flag: 'wx' });
    await rename(next, file);
    return file;
  } catch {
    // A folder that cannot take it (a full disk) leaves shells without completion, as a kubectl without one does.
    return undefined;
  }
}
