import { execFileSync } from 'node:child_process';
import { lstat, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TarEntry, tarArchive } from '../../cluster/src/local/tar.ts';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdl-tar-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeArchive(name: string, entries: TarEntry[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, tarArchive(entries));
  return path;
}

/** `tar -tvf` with numeric owners: one `[mode, owner, size, date, time, path…]` row per entry. */
function list(path: string): string[][] {
  const out = execFileSync('tar', ['--numeric-owner', '-tvf', path], { encoding: 'utf8' });
  return out
    .trimEnd()
    .split('\n')
    .map((line) => line.split(/\s+/));
}

const longPath = `${'deep/'.repeat(25)}file.txt`; // 133 bytes: past ustar's 100-byte name, within its prefix

const entries: TarEntry[] = [
  { type: 'dir', path: 'bin' },
  { type: 'file', path: 'bin/tool', mode: 0o755, content: Buffer.from('#!/bin/sh\necho hi\n') },
  { type: 'symlink', path: 'bin/sh', target: 'tool' },
  { type: 'dir', path: 'tmp', mode: 0o1777 },
  { type: 'file', path: 'home/data', uid: 65532, gid: 65533, mode: 0o600, content: Buffer.alloc(1000, 'x') },
  { type: 'file', path: 'empty', content: new Uint8Array() },
  { type: 'file', path: longPath, content: Buffer.from('far down\n') },
];

describe('tarArchive', () => {
  it('writes what tar lists with the right types, modes, owners, sizes and link targets', async () => {
    const rows = list(await writeArchive('all.tar', entries));
    const byPath = new Map(rows.map((row) => [row[5], row]));
    expect(rows.map((row) => row[5])).toEqual(['bin/', 'bin/tool', 'bin/sh', 'tmp/', 'home/data', 'empty', longPath]);
    expect(byPath.get('bin/')?.slice(0, 3)).toEqual(['drwxr-xr-x', '0/0', '0']);
    expect(byPath.get('bin/tool')?.slice(0, 3)).toEqual(['-rwxr-xr-x', '0/0', '18']);
    expect(byPath.get('bin/sh')?.slice(0, 2)).toEqual(['lrwxrwxrwx', '0/0']);
    expect(byPath.get('bin/sh')?.slice(6)).toEqual(['->', 'tool']);
    expect(byPath.get('tmp/')?.[0]).toBe('drwxrwxrwt');
    expect(byPath.get('home/data')?.slice(0, 3)).toEqual(['-rw-------', '65532/65533', '1000']);
    expect(byPath.get('empty')?.slice(0, 3)).toEqual(['-rw-r--r--', '0/0', '0']);
    expect(byPath.get('bin/tool')?.[3]).toBe('1970-01-01');
  });

  it('extracts to the same bytes and links', async () => {
    const archive = await writeArchive('extract.tar', entries);
    const out = await mkdtemp(join(dir, 'out-'));
    execFileSync('tar', ['-xf', archive, '-C', out]);
    expect(await readFile(join(out, 'bin/tool'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect(await readlink(join(out, 'bin/sh'))).toBe('tool');
    expect(await readFile(join(out, longPath), 'utf8')).toBe('far down\n');
    expect((await readFile(join(out, 'home/data'))).length).toBe(1000);
    expect((await lstat(join(out, 'bin/tool'))).mode & 0o777).toBe(0o755);
  });

  it('gives the same bytes for the same entries, padded to whole blocks', () => {
    const a = tarArchive(entries);
    expect(a.equals(tarArchive(entries))).toBe(true);
    expect(a.length % 512).toBe(0);
    expect(a.subarray(-1024).every((byte) => byte === 0)).toBe(true);
  });

  it('refuses what it cannot write faithfully', () => {
    const file = (path: string): TarEntry => ({ type: 'file', path, content: new Uint8Array() });
    expect(() => tarArchive([file('/etc/passwd')])).toThrow(/not a plain relative path/);
    expect(() => tarArchive([file('a/../b')])).toThrow(/not a plain relative path/);
    expect(() => tarArchive([file('x'.repeat(101))])).toThrow(/too long/);
    expect(() => tarArchive([file('a'), file('a')])).toThrow(/twice/);
    expect(() => tarArchive([{ type: 'dir', path: 'd', mode: 0o40755 }])).toThrow(/besides permissions/);
    expect(() => tarArchive([{ type: 'file', path: 'f', uid: -1, content: new Uint8Array() }])).toThrow(/uid -1/);
  });
});
