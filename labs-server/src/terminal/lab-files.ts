/**
 * The files a learner saves from the YAML editor, one folder per session
 * and lab, so that `kubectl apply -f ~/files/<name>` in any of the lab's
 * terminals uses them. The folder is the server's, never the learner's: a
 * workshop shell sees it read-only at `~/files` (a bind into its home), a
 * single-user shell through a link in its home. So the server writes only
 * where no shell can, and a link or a file a learner makes cannot turn a
 * save into a write elsewhere: each file is written under a fresh name in
 * the server's folder (`wx`: never through something already there) and
 * renamed into place.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FILE_NAME, MAX_FILE_BYTES, MAX_FILES, MAX_SESSION_FILES } from '../../../contract/files.ts';

/** Session names and lab ids as they reach here (the store's and the catalog's): safe as path segments. */
const SEGMENT = /^[a-z0-9][a-z0-9-]{0,62}$/;

export class TooManyFiles extends Error {}

/** Where the editor's saves go: this server's folder (LabFiles), or the lab's shell pod (AgentFiles, agent-relay.ts). */
export interface SavedFiles {
  /** Saves `content` as `name` for the session's lab; TooManyFiles when the lab or the session holds too many. */
  write(session: string, lab: string, name: string, content: string): Promise<void>;
  /** A session's files go with it. */
  removeSession(session: string): Promise<void>;
}

export class LabFiles implements SavedFiles {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  dir(session: string, lab: string): string {
    if (!SEGMENT.test(session) || !SEGMENT.test(lab)) throw new Error(`not a session and a lab: ${session}/${lab}`);
    return join(this.root, session, lab);
  }

  /**
   * The folder, made if missing: readable by the shell's user (who never
   * writes it); the levels above it may be passed through, not listed, so
   * no one learns the other sessions' names.
   */
  async ensure(session: string, lab: string): Promise<string> {
    const dir = this.dir(session, lab);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    // mkdir's mode is masked by the umask: say each level's outright.
    await chmod(this.root, 0o711);
    await chmod(join(this.root, session), 0o711);
    await chmod(dir, 0o755);
    return dir;
  }

  async list(session: string, lab: string): Promise<Array<{ name: string; bytes: number }>> {
    const dir = this.dir(session, lab);
    const names = await readdir(dir).catch(() => [] as string[]);
    const files = await Promise.all(
      names.filter((n) => FILE_NAME.test(n)).map(async (name) => ({ name, bytes: (await stat(join(dir, name))).size })),
    );
    return files.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Saves `content` as `name` (a name FILE_NAME allows, at most MAX_FILE_BYTES), replacing what was there. */
  async write(session: string, lab: string, name: string, content: string): Promise<void> {
    if (!FILE_NAME.test(name)) throw new Error(`not a file name: ${name}`);
    if (Buffer.byteLength(content) > MAX_FILE_BYTES) throw new Error(`more than ${MAX_FILE_BYTES} bytes`);
    const dir = await this.ensure(session, lab);
    const existing = await this.list(session, lab);
    if (!existing.some((f) => f.name === name)) {
      if (existing.length >= MAX_FILES) throw new TooManyFiles(`This lab already holds ${MAX_FILES} files.`);
      if ((await this.count(session)) >= MAX_SESSION_FILES) throw new TooManyFiles(`Your labs already hold ${MAX_SESSION_FILES} files.`);
    }
    const temporary = join(dir, `.${name}.${randomBytes(6).toString('hex')}`);
    await writeFile(temporary, content, { flag: 'wx', mode: 0o644 });
    await chmod(temporary, 0o644);
    await rename(temporary, join(dir, name));
  }

  /** Files across every lab of a session. */
  private async count(session: string): Promise<number> {
    const labs = await readdir(join(this.root, session)).catch(() => [] as string[]);
    const counts = await Promise.all(labs.filter((l) => SEGMENT.test(l)).map(async (lab) => (await this.list(session, lab)).length));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** A session's files go with it. */
  async removeSession(session: string): Promise<void> {
    if (!SEGMENT.test(session)) return;
    await rm(join(this.root, session), { recursive: true, force: true });
  }
}
