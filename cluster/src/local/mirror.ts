/**
 * A mirror of the release servers, written from this machine's cache: for
 * an event that pre-stages the binaries on a server of its own (any static
 * file server will do; point CDL_BINARY_MIRROR at it). Every file sits at
 * its official URL's host and path, with the checksum each project
 * publishes beside it, computed here from the cached binaries: a mirror of
 * built binaries holds their checksums, not the official ones.
 *
 *   npm run cluster -- mirror <folder>
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ClusterError } from '../errors.ts';
import { run, tail } from '../exec.ts';
import type { Log } from '../provider.ts';
import { BUNDLES, cachedFile, ensureBinaries, ensureNodeBinaries, NODE_BUNDLES } from './binaries.ts';
import { type Platform, releaseFiles } from './releases.ts';

/** Where an official URL's file goes in the mirror folder. */
function pathIn(root: string, url: string): string {
  const { host, pathname } = new URL(url);
  return join(root, host, ...pathname.split('/').filter(Boolean));
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** A hard link where the two folders share a file system (no copy of 400 MB), a copy elsewhere. */
async function place(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await rm(to, { force: true });
  await link(from, to).catch(() => copyFile(from, to));
}

/**
 * Writes the mirror of every bundle for `platform` into `root`, from the
 * cache (made first if it lacks something). Returns the files written.
 */
export async function stageMirror(root: string, platform: Platform, options: { log: Log; env?: NodeJS.ProcessEnv }): Promise<number> {
  await ensureBinaries(options);
  await ensureNodeBinaries(options);
  await mkdir(root, { recursive: true });
  let written = 0;
  const sums = new Map<string, string[]>();
  const github = new Map<string, Array<{ name: string; digest: string }>>();
  for (const bundle of [...BUNDLES, ...NODE_BUNDLES]) {
    const files = releaseFiles(bundle, platform);
    if (typeof files === 'string') throw new ClusterError(`cannot mirror ${bundle.id}: ${files}`, 'Mirror for linux/amd64 or linux/arm64.');
    // Archives (etcd's) hold their files in a folder named after the archive.
    const archives = new Map<string, typeof files>();
    for (const item of files) {
      if (item.member) archives.set(item.url, [...(archives.get(item.url) ?? []), item]);
    }
    for (const [url, members] of archives) {
      const staging = await mkdtemp(join(root, '.staging-'));
      try {
        for (const item of members) await place(cachedFile(bundle, item.file, options.env), join(staging, item.member as string));
        const target = pathIn(root, url);
        await mkdir(dirname(target), { recursive: true });
        const result = await run('tar', ['-czf', target, '-C', staging, ...members.map((m) => m.member as string)]);
        if (result.code !== 0) throw new ClusterError(`could not pack ${target}:\n${tail(result.stderr)}`, 'Check the folder is writable.');
        written += 1;
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    }
    for (const item of files) {
      if (!item.member) {
        await place(cachedFile(bundle, item.file, options.env), pathIn(root, item.url));
        written += 1;
      }
      const digest = await sha256(pathIn(root, item.url));
      const { checksum } = item;
      if (checksum.kind === 'file') {
        await writeFile(pathIn(root, checksum.url), `${digest}\n`);
        written += 1;
      } else if (checksum.kind === 'sums') {
        const lines = sums.get(checksum.url) ?? [];
        if (!lines.some((line) => line.endsWith(`  ${checksum.name}`))) lines.push(`${digest}  ${checksum.name}`);
        sums.set(checksum.url, lines);
      } else {
        github.set(checksum.url, [...(github.get(checksum.url) ?? []), { name: checksum.name, digest: `sha256:${digest}` }]);
      }
    }
  }
  for (const [url, lines] of sums) {
    await writeFile(pathIn(root, url), `${lines.join('\n')}\n`);
    written += 1;
  }
  for (const [url, assets] of github) {
    await mkdir(dirname(pathIn(root, url)), { recursive: true });
    await writeFile(pathIn(root, url), `${JSON.stringify({ assets }, null, 2)}\n`);
    written += 1;
  }
  return written;
}
