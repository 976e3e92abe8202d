/**
 * The editor's files for a lab's terminals: written only into the server's
 * own folder, under a fresh name then renamed, so nothing already at a
 * file's path (a link to elsewhere) is written through; names and sizes
 * within the rule; a session's files go with it.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_FILE_BYTES, MAX_FILES, MAX_SESSION_FILES } from '../../contract/files.ts';
import { LabFiles, TooManyFiles } from '../../labs-server/src/terminal/lab-files.ts';

const root = mkdtempSync(join(tmpdir(), 'cdl-lab-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the editor's files", () => {
  it('saves a file where the lab’s terminals see it, readable, replacing the last save', async () => {
    const files = new LabFiles(join(root, 'a'));
    await files.write('s-1', 'palette', 'web.yaml', 'kind: Pod\n');
    await files.write('s-1', 'palette', 'web.yaml', 'kind: Deployment\n');
    const dir = files.dir('s-1', 'palette');
    expect(readFileSync(join(dir, 'web.yaml'), 'utf8')).toBe('kind: Deployment\n');
    expect(statSync(join(dir, 'web.yaml')).mode & 0o777).toBe(0o644);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    // The levels above: passed through, never listed.
    expect(statSync(join(root, 'a', 's-1')).mode & 0o777).toBe(0o711);
    expect(await files.list('s-1', 'palette')).toEqual([{ name: 'web.yaml', bytes: 17 }]);
  });

  it('never writes through a link at the file’s path', async () => {
    const files = new LabFiles(join(root, 'b'));
    const dir = await files.ensure('s-2', 'palette');
    const target = join(root, 'elsewhere.txt');
    writeFileSync(target, 'untouched');
    symlinkSync(target, join(dir, 'web.yaml'));
    await files.write('s-2', 'palette', 'web.yaml', 'kind: Pod\n');
    expect(readFileSync(target, 'utf8')).toBe('untouched');
    expect(lstatSync(join(dir, 'web.yaml')).isSymbolicLink()).toBe(false);
  });

  it('refuses a bad name, a path, too much, or one file too many', async () => {
    const files = new LabFiles(join(root, 'c'));
    for (const name of ['../x.yaml', 'a/b.yaml', '.hidden.yaml', 'Web.yaml', 'web.json', 'web']) {
      await expect(files.write('s-3', 'palette', name, 'x')).rejects.toThrow(/not a file name/);
    }
    expect(() => files.dir('../s', 'palette')).toThrow();
    await expect(files.write('s-3', 'palette', 'big.yaml', 'x'.repeat(MAX_FILE_BYTES + 1))).rejects.toThrow(/bytes/);
    for (let i = 0; i < MAX_FILES; i++) await files.write('s-3', 'palette', `f${i}.yaml`, 'x');
    await expect(files.write('s-3', 'palette', 'one-more.yaml', 'x')).rejects.toBeInstanceOf(TooManyFiles);
    // Saving over one that is there is fine.
    await files.write('s-3', 'palette', 'f0.yaml', 'y');
    await files.removeSession('s-3');
    expect(await files.list('s-3', 'palette')).toEqual([]);
  });

  it('holds at most so many files for a session across its labs', async () => {
    const files = new LabFiles(join(root, 'd'));
    const labs = Math.ceil(MAX_SESSION_FILES / MAX_FILES);
    let saved = 0;
    for (let lab = 0; lab < labs; lab++) {
      for (let i = 0; i < MAX_FILES && saved < MAX_SESSION_FILES; i++, saved++) await files.write('s-4', `lab${lab}`, `f${i}.yaml`, 'x');
    }
    await expect(files.write('s-4', 'another', 'x.yaml', 'x')).rejects.toThrow(/Your labs already hold/);
  });

  it("mirrors a lab's files into a sandbox's folder: those saved before, each save after, none once stopped, none of another lab", async () => {
    const files = new LabFiles(join(root, 'm'));
    await files.write('s-5', 'palette', 'web.yaml', 'one\n');
    await files.write('s-5', 'other', 'db.yaml', 'other lab\n');
    const into = join(root, 'mirror');
    mkdirSync(into);
    const stop = await files.mirror('s-5', 'palette', into);
    expect(readdirSync(into)).toEqual(['web.yaml']);
    await files.write('s-5', 'palette', 'web.yaml', 'two\n');
    await files.write('s-5', 'palette', 'job.yaml', 'job\n');
    expect(readdirSync(into).sort()).toEqual(['job.yaml', 'web.yaml']);
    expect(readFileSync(join(into, 'web.yaml'), 'utf8')).toBe('two\n');
    // The same file, not a copy to keep in step (the folders share a file system here).
    expect(statSync(join(into, 'web.yaml')).ino).toBe(statSync(join(files.dir('s-5', 'palette'), 'web.yaml')).ino);
    // A mirror whose folder is gone (its shell ended) does not fail a save.
    const gone = join(root, 'gone');
    mkdirSync(gone);
    await files.mirror('s-5', 'palette', gone);
    rmSync(gone, { recursive: true });
    await files.write('s-5', 'palette', 'web.yaml', 'three\n');
    expect(readFileSync(join(into, 'web.yaml'), 'utf8')).toBe('three\n');
    stop();
    await files.write('s-5', 'palette', 'web.yaml', 'four\n');
    expect(readFileSync(join(into, 'web.yaml'), 'utf8')).toBe('three\n');
  });
});
