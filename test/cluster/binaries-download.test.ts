/**
 * The local provider's binaries downloaded as from the release servers, from
 * a mirror on 127.0.0.1 that serves this machine's own cached binaries in
 * the official layout with their checksums (`npm run cluster -- mirror`):
 * no test reaches the internet. Into an empty cache each time: a download
 * that matches, one that does not (refused and deleted), one that breaks off
 * and one that goes quiet (nothing left that looks complete), and `auto`
 * falling back to a build when nothing can be downloaded.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cluster/src/cli.ts';
import { ClusterError } from '../../cluster/src/errors.ts';
import { poll } from '../../cluster/src/kube.ts';
import {
  ensureBinaries,
  ensureNodeBinaries,
  inspectBundle,
  type LocalBinaries,
  type NodeBinaries,
  VERSIONS,
} from '../../cluster/src/local/binaries.ts';
import { DownloadError, downloadBinary } from '../../cluster/src/local/download.ts';
import { hostPlatform, mirrored, type Platform, releaseFiles } from '../../cluster/src/local/releases.ts';
import { type MirrorServer, startMirrorServer } from '../support/mirror-server.ts';

const platform = hostPlatform() as Platform;
const quiet = () => undefined;
let scratch: string;
let mirrorDir: string;
let mirror: MirrorServer;
let cached: LocalBinaries;

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Where the mirror holds an official URL's file. */
function inMirror(url: string): string {
  return join(mirrorDir, new URL(mirrored(url, 'http://m')).pathname);
}

function kubernetesFile(file: string) {
  const files = releaseFiles({ id: 'kubernetes', version: VERSIONS.kubernetes, files: [file] }, platform);
  if (typeof files === 'string') throw new Error(files);
  return files[0] as (typeof files)[number];
}

/** An empty cache, downloading only (or as `how` says), from the mirror (or `from`). */
async function emptyCache(how = 'download', from?: string): Promise<NodeJS.ProcessEnv> {
  const cache = await mkdtemp(join(scratch, 'cache-'));
  return { ...process.env, CDL_CACHE_DIR: cache, CDL_BINARIES: how, CDL_BINARY_MIRROR: from ?? mirror.url };
}

/** What of a bundle is left in a cache: its folder and any partial one. */
function leftovers(env: NodeJS.ProcessEnv, id: string): string[] {
  const bin = join(env.CDL_CACHE_DIR as string, 'bin');
  return existsSync(bin) ? readdirSync(bin).filter((name) => name.startsWith(id)) : [];
}

/** `python3 -m http.server` over `root` on a free port of 127.0.0.1, and what it logged. */
async function pythonServer(root: string): Promise<{ url: string; log: () => string; close: () => void }> {
  const child = spawn('python3', ['-u', '-m', 'http.server', '--bind', '127.0.0.1', '--directory', root, '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const port = await poll(async () => /port (\d+)/.exec(output)?.[1], { what: 'python3 -m http.server to listen', timeoutMs: 10_000 });
  return { url: `http://127.0.0.1:${port}`, log: () => output, close: () => child.kill() };
}

beforeAll(async () => {
  // Beside the cache where possible, so that the mirror's files are hard links, not 400 MB of copies.
  const base = join(homedir(), '.cache');
  scratch = await mkdtemp(join(existsSync(base) ? base : tmpdir(), 'cdl-download-test-'));
  mirrorDir = join(scratch, 'mirror');
  cached = await ensureBinaries({ log: quiet });
  const io = { stdout: quiet, stderr: quiet, env: process.env };
  expect(await runCli(['mirror', mirrorDir], io)).toBe(0);
  mirror = await startMirrorServer(mirrorDir);
}, 120_000);

afterAll(async () => {
  await mirror?.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('the mirror', () => {
  it('holds every binary at its official path, with the checksum each project publishes', () => {
    const kubectl = kubernetesFile('kubectl');
    expect(readFileSync(inMirror(kubectl.checksum.url), 'utf8').trim()).toBe(sha256(cached.kubectl));
    const etcdArchive = `etcd-${VERSIONS.etcd}-${platform.os}-${platform.arch}.tar.gz`;
    const sums = readFileSync(join(mirrorDir, 'github.com/etcd-io/etcd/releases/download', VERSIONS.etcd, 'SHA256SUMS'), 'utf8');
    expect(sums).toMatch(new RegExp(`^[0-9a-f]{64}  ${etcdArchive.replace(/\./g, '\\.')}$`, 'm'));
    const release = JSON.parse(
      readFileSync(join(mirrorDir, 'api.github.com/repos/kubernetes-sigs/kwok/releases/tags', VERSIONS.kwok), 'utf8'),
    ) as { assets: Array<{ name: string; digest: string }> };
    expect(release.assets).toContainEqual({ name: `kwokctl-${platform.os}-${platform.arch}`, digest: `sha256:${sha256(cached.kwokctl)}` });
  });
});

describe('downloading the binaries', () => {
  it('fills an empty cache from the mirror, every file matching its published checksum', { timeout: 120_000 }, async () => {
    const env = await emptyCache();
    const lines: string[] = [];
    const started = Date.now();
    const got = await ensureBinaries({ log: (line) => lines.push(line), env });
    process.stderr.write(`[download test] an empty cache filled from the mirror in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    for (const key of Object.keys(cached) as Array<keyof LocalBinaries>) {
      expect(got[key].startsWith(env.CDL_CACHE_DIR as string), key).toBe(true);
      expect(sha256(got[key]), key).toBe(sha256(cached[key]));
    }
    const manifest = JSON.parse(await readFile(join(env.CDL_CACHE_DIR as string, 'bin', `etcd-${VERSIONS.etcd}`, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ source: 'download', files: { etcd: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } } });
    expect(lines.filter((line) => /checksums verified/.test(line))).toHaveLength(3);
    expect(execFileSync(got.kubectl, ['version', '--client'], { encoding: 'utf8' })).toContain(VERSIONS.kubernetes);
    // The checksums were asked for where each project publishes them.
    expect(mirror.requests).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/dl\.k8s\.io\/release\/.*\/kube-apiserver\.sha256$/),
        expect.stringMatching(/^\/github\.com\/etcd-io\/etcd\/releases\/download\/.*\/SHA256SUMS$/),
        `/api.github.com/repos/kubernetes-sigs/kwok/releases/tags/${VERSIONS.kwok}`,
      ]),
    );
  });

  it("fills the real node's bundles too, from the simplest static server there is", { timeout: 120_000 }, async () => {
    // python3 -m http.server ends each connection after its file, often while a download still
    // waits for the disk: fetch's HTTP client crashed the whole process there (undici#5360).
    const closing = await pythonServer(mirrorDir);
    try {
      const env = await emptyCache('download', closing.url);
      const lines: string[] = [];
      const [control, node] = await Promise.all([
        ensureBinaries({ log: (line) => lines.push(line), env }),
        ensureNodeBinaries({ log: (line) => lines.push(line), env }),
      ]);
      const own = await ensureNodeBinaries({ log: quiet });
      for (const key of Object.keys(own) as Array<keyof NodeBinaries>) expect(sha256(node[key]), key).toBe(sha256(own[key]));
      expect(sha256(control.kubeApiserver)).toBe(sha256(cached.kubeApiserver));
      expect(lines.filter((line) => /checksums verified/.test(line))).toHaveLength(6);
      expect(closing.log()).toMatch(/GET \/github\.com\/coredns\/coredns\/releases\/download\/\S+\.tgz\.sha256 HTTP/);
      expect(closing.log()).toMatch(/GET \/github\.com\/cloudnativelabs\/kube-router\/releases\/download\/\S+_checksums\.txt HTTP/);
    } finally {
      closing.close();
    }
  });

  it('refuses a binary that does not match its checksum, deletes it, and keeps nothing of its bundle', { timeout: 120_000 }, async () => {
    const scheduler = inMirror(kubernetesFile('kube-scheduler').url);
    const original = `${scheduler}.original`;
    renameSync(scheduler, original);
    copyFileSync(original, scheduler);
    await appendFile(scheduler, 'one byte too many');
    try {
      const env = await emptyCache();
      const lines: string[] = [];
      const failure = await ensureBinaries({ log: (line) => lines.push(line), env }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(DownloadError);
      expect((failure as DownloadError).reason).toBe('checksum');
      expect((failure as DownloadError).message).toMatch(/kube-scheduler.*SHA-256 does not match/);
      expect(lines.join('\n')).toMatch(/refused .*kube-scheduler: its SHA-256 is [0-9a-f]{64}, the published one [0-9a-f]{64}; deleted it/);
      expect(leftovers(env, 'kubernetes'), 'nothing of Kubernetes in the cache').toEqual([]);
      // The other bundles were downloaded, and are complete.
      expect(
        await inspectBundle(join(env.CDL_CACHE_DIR as string, 'bin', `etcd-${VERSIONS.etcd}`), {
          id: 'etcd',
          version: VERSIONS.etcd,
          files: ['etcd'],
        }),
      ).toBeUndefined();
    } finally {
      renameSync(original, scheduler);
    }
  });

  it('gives up a download that breaks off, leaving nothing that looks complete', { timeout: 120_000 }, async () => {
    const path = new URL(mirrored(kubernetesFile('kubectl').url, mirror.url)).pathname;
    mirror.faults.set(path, 'truncate');
    try {
      const env = await emptyCache();
      const failure = await ensureBinaries({ log: quiet, env }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(DownloadError);
      expect((failure as DownloadError).reason).toBe('incomplete');
      expect((failure as DownloadError).message).toMatch(/kubectl/);
      expect(leftovers(env, 'kubernetes')).toEqual([]);
    } finally {
      mirror.faults.delete(path);
    }
  });

  it('gives up a server that stops sending mid-file, and leaves nothing where the binary would go', { timeout: 30_000 }, async () => {
    const item = kubernetesFile('kube-scheduler');
    const path = new URL(mirrored(item.url, mirror.url)).pathname;
    mirror.faults.set(path, 'stall');
    const folder = await mkdtemp(join(scratch, 'stall-'));
    try {
      const started = Date.now();
      const failure = await downloadBinary(item, join(folder, 'kube-scheduler'), { mirror: mirror.url, log: quiet, idleMs: 1500 }).catch(
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(DownloadError);
      expect((failure as DownloadError).reason).toBe('incomplete');
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(readdirSync(folder)).toEqual([]);
    } finally {
      mirror.faults.delete(path);
    }
  });

  it('builds what it could not download, in auto mode, and says why', async () => {
    // Nothing answers on port 1; without Go on the PATH the build cannot start, which shows the way it took.
    const env = { ...(await emptyCache('auto', 'http://127.0.0.1:1')), PATH: '/usr/bin:/bin' };
    const lines: string[] = [];
    const failure = await ensureBinaries({ log: (line) => lines.push(line), env }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ClusterError);
    expect((failure as ClusterError).message).toMatch(/Go is not installed.*neither in the cache .* nor downloadable/);
    expect(lines.join('\n')).toMatch(
      /Could not download kubernetes .*could not reach http:\/\/127\.0\.0\.1:1\/dl\.k8s\.io\/.*building it instead/,
    );
  });

  it('says in download mode that nothing could be reached, and builds nothing', async () => {
    const env = await emptyCache('download', 'http://127.0.0.1:1');
    const failure = await ensureBinaries({ log: quiet, env }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DownloadError);
    expect((failure as DownloadError).reason).toBe('unreachable');
    expect((failure as DownloadError).hint).toMatch(/CDL_BINARIES=build/);
    expect(leftovers(env, '')).toEqual([]);
  });
});
