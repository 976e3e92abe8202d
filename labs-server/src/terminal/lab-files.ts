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
 *
 * A workshop sandbox is made before its learner is known (spare-shells.ts),
 * so it cannot bind the lab's folder: it binds a folder of its own workspace
 * instead, which the lab's folder is mirrored into (`mirror`): every file
 * linked in when the shell starts, and each save linked in before the save
 * is answered, so the next command in the terminal finds it.
 */
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, link, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FILE_NAME, MAX_FILE_BYTES, MAX_FILES, MAX_SESSION_FILES } from '../../../contract/files.ts';

/** Session names and lab ids as they reach here (the store's and the catalog's): safe as path segments. */
const SEGMENT = /^[a-z0-9][a-z0-9-]{0,62}$/;

export class TooManyFiles extends Error {}

/** `file` as `name` in `folder`, replacing what was there: a hard link (a copy across file systems) under a fresh name, renamed into place. */
async function place(file: string, folder: string, name: string): Promise<void> {
  const temporary = join(folder, `.${name}.${randomBytes(6).toString('hex')}`);
  await link(file, temporary).catch(() => copyFile(file, temporary));
  await rename(temporary, join(folder, name));
}

/** Where the editor's saves go: this server's folder (LabFiles), or the lab's shell pod (AgentFiles, agent-relay.ts). */
export interface SavedFiles {
  /** Saves `content` as `name` for the session's lab; TooManyFiles when the lab or the session holds too many. */
  write(session: string, lab: string, name: string, content: string): Promise<void>;
  /** A session's files go with it. */
  removeSession(session: string): Promise<void>;
}

export class LabFiles implements SavedFiles {
  readonly root: string;
  /** Folders each lab's files are mirrored into, by `session/lab`. */
  private readonly mirrors = new Map<string, Set<string>>();
  /** The last save or mirroring of each `session/lab`, the next one's turn after it. */
  private readonly turns = new Map<string, Promise<void>>();

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
    this.dir(session, lab);
    await this.inTurn(`${session}/${lab}`, () => this.save(session, lab, name, content));
  }

  private async save(session: string, lab: string, name: string, content: string): Promise<void> {
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
    const into = [...(this.mirrors.get(`${session}/${lab}`) ?? [])];
    // A mirror whose shell has just ended has no folder left: nothing to do there.
    await Promise.all(into.map((folder) => place(join(dir, name), folder, name).catch(() => undefined)));
  }

  /**
   * Keeps `into` (an empty folder of the server's) holding the lab's files
   * until the returned function is called: those saved so far now, each
   * later save before `write` returns.
   */
  async mirror(session: string, lab: string, into: string): Promise<() => void> {
    const dir = this.dir(session, lab);
    const key = `${session}/${lab}`;
    const folders = this.mirrors.get(key) ?? new Set<string>();
    this.mirrors.set(key, folders);
    // Known before the folder is read: a save that lands meanwhile is placed by `write`, if not read here.
    folders.add(into);
    const stop = () => {
      folders.delete(into);
      if (folders.size === 0 && this.mirrors.get(key) === folders) this.mirrors.delete(key);
    };
    try {
      await this.inTurn(key, async () => {
        for (const { name } of await this.list(session, lab)) await place(join(dir, name), into, name);
      });
    } catch (error) {
      stop();
      throw error;
    }
    return stop;
  }

  /**
   * Runs `task` once the lab's earlier saves and mirrorings are done: two
   * placements of one file never cross, so a mirror never keeps an older
   * save than its lab's folder.
   */
  private inTurn(key: string, task: () => Promise<void>): Promise<void> {
    const run = (this.turns.get(key) ?? Promise.resolve()).then(task);
    const after = run.catch(() => undefined);
    this.turns.set(key, after);
    void after.then(() => {
      if (this.turns.get(key) === after) this.turns.delete(key);
    });
    return run;
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
