/**
 * The terminals' private folder on the host: the API relay's socket, the
 * kubectl the sandboxes run, their /etc files and each terminal's
 * credentials. Anything placed there is trusted by every shell, so the
 * folder must be the server's alone: it is made fresh by `mkdtemp` (an
 * unpredictable name, created atomically, owned by the server, 0700 before
 * anything goes in), never found by a guessable name that another user of
 * the host could create first. It is removed when the server stops, and a
 * server that starts removes the folders of servers that crashed (their
 * pid file names a process that no longer runs), so no learner's
 * credentials outlive their server in the temporary folder.
 */
import { lstatSync, readdirSync, readFileSync, type Stats } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../../../cluster/src/exec.ts';

export const STATE_DIR_PREFIX = 'cdl-terminals-';
const PID_FILE = 'server.pid';

export class StateDirError extends Error {
  override readonly name = 'StateDirError';
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The uid this process runs as (undefined where there are no uids). */
function myUid(): number | undefined {
  return process.getuid?.();
}

/**
 * Removes the folders that crashed servers of this user left in `parent`:
 * real folders (not symlinks), owned by us, whose pid file names a dead
 * process. Returns the folders removed.
 */
export async function sweepStaleStateDirs(parent = tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(parent).filter((name) => name.startsWith(STATE_DIR_PREFIX));
  } catch {
    return removed;
  }
  for (const name of entries) {
    const dir = join(parent, name);
    let stat: Stats;
    try {
      stat = lstatSync(dir);
    } catch {
      continue;
    }
    if (!stat.isDirectory() || stat.uid !== myUid()) continue;
    const pid = readPid(join(dir, PID_FILE));
    // A live server's folder stays; so does one without a pid file yet, while it is being made.
    if (pid !== undefined ? processAlive(pid) : Date.now() - stat.mtimeMs < 60_000) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** Makes a fresh private folder for this server's terminals (0700, then opened to 0711 for traversal). */
export async function createStateDir(parent = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(parent, STATE_DIR_PREFIX));
  await writeFile(join(dir, PID_FILE), `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
  return dir;
}

/**
 * Checks a folder given by the operator: it must be a real folder owned by
 * the server that no one else may write to. It is made when missing.
 */
export async function verifyStateDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stat = await lstat(dir);
  if (!stat.isDirectory()) throw new StateDirError(`the terminal folder ${dir} is not a folder (a symlink?)`);
  const uid = myUid();
  if (uid !== undefined && stat.uid !== uid) {
    throw new StateDirError(`the terminal folder ${dir} belongs to uid ${stat.uid}, not to this server (uid ${uid})`);
  }
  if ((stat.mode & 0o022) !== 0) await chmod(dir, stat.mode & ~0o022 & 0o7777);
  return dir;
}
