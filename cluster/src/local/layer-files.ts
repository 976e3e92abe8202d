/**
 * What the images made from this machine's files share (the shell pods'
 * image, shell-image.ts; the lab server's, server-image.ts): a layer laid out
 * as Debian's merged /usr, dynamically linked programs copied with the
 * shared libraries `ldd` says they need, node-pty's files, and a cache key
 * made of the SHA-256 of every file that goes in.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { ClusterError } from '../errors.ts';
import { run } from '../exec.ts';
import { projectRoot } from '../paths.ts';
import type { TarEntry } from './tar.ts';

export const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

/** The shared libraries (and the loader) a dynamically linked file needs, by the path the loader looks for. */
export async function libraries(file: string): Promise<string[]> {
  const listed = await run('ldd', [file]);
  // A static binary: "not a dynamic executable", exit 1.
  if (listed.code !== 0) return [];
  const paths: string[] = [];
  for (const line of listed.stdout.split('\n')) {
    const match = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (match?.[1]) paths.push(match[1]);
  }
  return paths;
}

/** A path as it is under merged /usr: its folder resolved (so /lib/x86_64-linux-gnu is usr/lib/x86_64-linux-gnu), its name kept. */
export function inUsr(path: string): string {
  return relative('/', join(realpathSync(dirname(path)), basename(path)));
}

/** The libraries of every binary, by their path in the image → the real file on this machine. */
export async function librariesOf(binaries: readonly string[]): Promise<Map<string, string>> {
  const libs = new Map<string, string>();
  for (const binary of binaries) {
    for (const lib of await libraries(binary)) libs.set(inUsr(lib), realpathSync(lib));
  }
  return libs;
}

export const NODE_PTY_ROOT = join(projectRoot, 'node_modules', 'node-pty');

/** node-pty's files a bundle loads: its JavaScript (no tests, no Windows parts) and the native module. */
export function nodePtyFiles(): string[] {
  const lib = readdirSync(join(NODE_PTY_ROOT, 'lib'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.js') && !name.endsWith('.test.js') && !/windows|conpty|conout/i.test(name))
    .map((name) => join(NODE_PTY_ROOT, 'lib', name));
  const native = join(NODE_PTY_ROOT, 'build', 'Release', 'pty.node');
  if (!existsSync(native)) throw new ClusterError(`${native} is missing.`, 'Run `npm ci` to build node-pty.');
  return [join(NODE_PTY_ROOT, 'package.json'), ...lib, native].sort();
}

/** Every regular file under `dir`, sorted (for a cache key and a layer that do not depend on the order a folder lists). */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** SHA-256 of each file, by its path (relative to the project for its own files: the same in every checkout). */
export async function hashFiles(paths: Iterable<string>): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const path of paths) hashes[path.startsWith(`${projectRoot}/`) ? relative(projectRoot, path) : path] = sha256(await readFile(path));
  return hashes;
}

/** A layer's entries, with each folder made once before what it holds. */
export class LayerFiles {
  readonly entries: TarEntry[] = [];
  private readonly dirs = new Set<string>();

  /** A layer with merged /usr (/bin, /lib, /lib64, /sbin as links into it), /etc and a /tmp for everyone. */
  static mergedUsr(): LayerFiles {
    const layer = new LayerFiles();
    for (const path of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'usr/local/bin', 'etc']) layer.dir(path);
    for (const link of ['bin', 'sbin', 'lib', 'lib64']) layer.entries.push({ type: 'symlink', path: link, target: `usr/${link}` });
    layer.dir('tmp', 0o1777);
    return layer;
  }

  dir(path: string, mode?: number, owner?: number): void {
    if (this.dirs.has(path)) return;
    const parent = dirname(path);
    if (parent !== '.') this.dir(parent);
    this.dirs.add(path);
    this.entries.push({
      type: 'dir',
      path,
      ...(mode !== undefined ? { mode } : {}),
      ...(owner !== undefined ? { uid: owner, gid: owner } : {}),
    });
  }

  content(path: string, content: Uint8Array, mode = 0o644): void {
    this.dir(dirname(path));
    this.entries.push({ type: 'file', path, mode, content });
  }

  async file(path: string, from: string, mode = 0o644): Promise<void> {
    this.content(path, await readFile(from), mode);
  }

  /** Binaries at their place in the image, and the shared libraries they need at theirs. */
  async programs(binaries: ReadonlyMap<string, string>, libs: ReadonlyMap<string, string>): Promise<void> {
    for (const [inImage, path] of binaries) await this.file(inImage, path, 0o755);
    for (const [inImage, path] of libs) await this.file(inImage, path, 0o755);
  }

  /** node-pty's files under `modules` (the node_modules folder beside a bundle). */
  async nodePty(modules: string, files: readonly string[]): Promise<void> {
    for (const path of files)
      await this.file(join(modules, 'node-pty', relative(NODE_PTY_ROOT, path)), path, path.endsWith('.node') ? 0o755 : 0o644);
  }
}
