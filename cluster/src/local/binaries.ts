/**
 * The local provider's binaries: Kubernetes (apiserver, controller-manager,
 * scheduler, kubectl), etcd, kwok and kwokctl, built from the Go module proxy
 * once per version and kept in the per-user cache.
 *
 * Each bundle is built into a temporary folder and renamed into place only
 * when complete, with a manifest of what it holds; a folder without a matching
 * manifest is treated as a broken cache and rebuilt, with a line saying so.
 * A lock file stops two processes from building the same bundle at once.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ClusterError } from '../errors.ts';
import { formatDuration, processAlive, run, tail, which } from '../exec.ts';
import { cacheDir } from '../paths.ts';
import { localReplacements, renderGoMod, renderToolsFile, stagingVersion } from './gomod.ts';

/** The versions the local provider builds. Change one and the next `up` builds it. */
export const VERSIONS = {
  kubernetes: 'v1.36.3',
  etcd: 'v3.6.16',
  kwok: 'v0.8.0',
} as const;

export interface LocalBinaries {
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  etcd: string;
  kwok: string;
  kwokctl: string;
}

export type Log = (line: string) => void;

interface BuildContext {
  /** Where the bundle's binaries go. */
  outDir: string;
  /** A scratch folder for the bundle's Go module. */
  workDir: string;
  go: string;
  log: Log;
}

interface Bundle {
  id: 'kubernetes' | 'etcd' | 'kwok';
  version: string;
  files: readonly string[];
  /** What a cold build costs on two cores, for the progress line. */
  coldEstimate: string;
  build(ctx: BuildContext): Promise<void>;
}

const ManifestSchema = z.object({
  id: z.string(),
  version: z.string(),
  goVersion: z.string(),
  builtAt: z.string(),
  buildSeconds: z.number(),
  files: z.record(z.string(), z.object({ size: z.number().int().positive() })),
});
type Manifest = z.infer<typeof ManifestSchema>;

async function go(ctx: BuildContext, args: string[], what: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await run(ctx.go, args, {
    cwd: ctx.workDir,
    env: { ...process.env, CGO_ENABLED: '0', ...env },
    tickMs: 30_000,
    onTick: (elapsed) => ctx.log(`  … still ${what} (${formatDuration(elapsed)})`),
  });
  if (result.code !== 0) {
    throw new ClusterError(
      `\`go ${args.join(' ')}\` failed while ${what}:\n${tail(result.stderr || result.stdout)}`,
      'Check that the Go module proxy is reachable (GOPROXY) and that Go is 1.25 or newer, then run the command again.',
    );
  }
  return result.stdout;
}

/** Downloads a module and returns the text of its go.mod. */
async function upstreamGoMod(ctx: BuildContext, modulePath: string, version: string): Promise<string> {
  const out = await go(ctx, ['mod', 'download', '-json', `${modulePath}@${version}`], `downloading ${modulePath}`);
  const info = z.object({ GoMod: z.string() }).parse(JSON.parse(out));
  return readFile(info.GoMod, 'utf8');
}

/** Writes a build module that requires `modulePath` with its local replacements resolved. */
async function prepareModule(
  ctx: BuildContext,
  modulePath: string,
  version: string,
  siblingVersion: string,
  packages: readonly string[],
): Promise<void> {
  const upstream = await upstreamGoMod(ctx, modulePath, version);
  const replace = localReplacements(upstream).map((path) => ({ path, version: siblingVersion }));
  await writeFile(
    join(ctx.workDir, 'go.mod'),
    renderGoMod({ module: 'containerdaylabs.local/build', require: { path: modulePath, version }, replace }),
  );
  await writeFile(join(ctx.workDir, 'tools.go'), renderToolsFile(packages));
  await go(ctx, ['mod', 'tidy'], `resolving ${modulePath} ${version}`);
}

const kubernetes: Bundle = {
  id: 'kubernetes',
  version: VERSIONS.kubernetes,
  files: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'],
  coldEstimate: 'about 6 minutes',
  async build(ctx) {
    const version = VERSIONS.kubernetes;
    const packages = this.files.map((f) => `k8s.io/kubernetes/cmd/${f}`);
    await prepareModule(ctx, 'k8s.io/kubernetes', version, stagingVersion(version), packages);
    // Without these the binaries call themselves v0.0.0-master, and kwokctl
    // picks its flags from the version the apiserver reports.
    const [, major, minor] = /^v(\d+)\.(\d+)/.exec(version) ?? [];
    const stamp = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
      `-X ${pkg}.gitVersion=${version}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    ]);
    await go(
      ctx,
      ['build', '-trimpath', '-ldflags', ['-s', '-w', ...stamp].join(' '), '-o', `${ctx.outDir}/`, ...packages],
      `compiling Kubernetes ${version}`,
    );
  },
};

const etcd: Bundle = {
  id: 'etcd',
  version: VERSIONS.etcd,
  files: ['etcd'],
  coldEstimate: 'about 30 seconds',
  async build(ctx) {
    const modulePath = 'go.etcd.io/etcd/server/v3';
    await prepareModule(ctx, modulePath, VERSIONS.etcd, VERSIONS.etcd, [modulePath]);
    await go(
      ctx,
      ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(ctx.outDir, 'etcd'), modulePath],
      `compiling etcd ${VERSIONS.etcd}`,
    );
  },
};

const kwok: Bundle = {
  id: 'kwok',
  version: VERSIONS.kwok,
  files: ['kwok', 'kwokctl'],
  coldEstimate: 'about 90 seconds',
  async build(ctx) {
    const packages = this.files.map((f) => `sigs.k8s.io/kwok/cmd/${f}@${VERSIONS.kwok}`);
    await go(ctx, ['install', '-trimpath', '-ldflags', '-s -w', ...packages], `compiling kwok ${VERSIONS.kwok}`, {
      GOBIN: ctx.outDir,
    });
  },
};

export const BUNDLES: readonly Bundle[] = [kubernetes, etcd, kwok];

function bundleDir(bundle: Bundle, root: string): string {
  return join(root, 'bin', `${bundle.id}-${bundle.version}`);
}

/** Why a cached bundle cannot be used, or undefined if it can. */
export async function inspectBundle(dir: string, bundle: Pick<Bundle, 'id' | 'version' | 'files'>): Promise<string | undefined> {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(dir)) return 'not built yet';
  let manifest: Manifest;
  try {
    manifest = ManifestSchema.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
  } catch {
    return `its manifest ${manifestPath} is missing or unreadable (an interrupted build?)`;
  }
  if (manifest.id !== bundle.id || manifest.version !== bundle.version) {
    return `it holds ${manifest.id} ${manifest.version}, not ${bundle.id} ${bundle.version}`;
  }
  for (const file of bundle.files) {
    const expected = manifest.files[file];
    const actual = await stat(join(dir, file)).catch(() => undefined);
    if (!expected || !actual) return `${file} is missing`;
    if (actual.size !== expected.size) return `${file} is ${actual.size} bytes, the manifest says ${expected.size}`;
    if ((actual.mode & 0o111) === 0) return `${file} is not executable`;
  }
  return undefined;
}

/** Takes a lock file; waits while a live process holds it, clears it if its holder died. */
async function withLock<T>(path: string, log: Log, body: () => Promise<T>): Promise<T> {
  let told = false;
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
        if (!told) log(`  waiting for another build of the same binaries (pid ${holder}) to finish…`);
        told = true;
        await sleep(2000);
      } else {
        await rm(path, { force: true });
      }
    }
  }
  try {
    return await body();
  } finally {
    await rm(path, { force: true });
  }
}

async function goVersion(goPath: string): Promise<string> {
  const result = await run(goPath, ['env', 'GOVERSION']);
  return result.stdout.trim() || 'unknown';
}

async function buildBundle(bundle: Bundle, root: string, goPath: string, log: Log): Promise<void> {
  const dir = bundleDir(bundle, root);
  const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const outDir = `${dir}.partial-${suffix}`;
  const workDir = join(root, 'build', `${bundle.id}-${bundle.version}-${suffix}`);
  await mkdir(outDir, { recursive: true });
  await mkdir(workDir, { recursive: true });
  const started = Date.now();
  log(
    `Building ${bundle.files.join(', ')} (${bundle.id} ${bundle.version}) with Go; a cold build takes ${bundle.coldEstimate} on two cores.`,
  );
  try {
    await bundle.build({ outDir, workDir, go: goPath, log });
    const files: Manifest['files'] = {};
    for (const file of bundle.files) {
      const info = await stat(join(outDir, file)).catch(() => undefined);
      if (!info?.isFile()) {
        throw new ClusterError(
          `the build of ${bundle.id} ${bundle.version} did not produce ${file}`,
          'Run the command again; if it repeats, report it with the output above.',
        );
      }
      files[file] = { size: info.size };
    }
    const manifest: Manifest = {
      id: bundle.id,
      version: bundle.version,
      goVersion: await goVersion(goPath),
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round((Date.now() - started) / 100) / 10,
      files,
    };
    await writeFile(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(outDir, dir);
    log(`Built ${bundle.id} ${bundle.version} in ${formatDuration(Date.now() - started)}.`);
  } finally {
    await rm(outDir, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  }
}

export interface EnsureOptions {
  log: Log;
  env?: NodeJS.ProcessEnv;
}

/** Returns the paths of every binary, building what the cache lacks. */
export async function ensureBinaries(options: EnsureOptions): Promise<LocalBinaries> {
  const env = options.env ?? process.env;
  const root = cacheDir(env);
  await mkdir(join(root, 'locks'), { recursive: true });
  for (const bundle of BUNDLES) {
    const dir = bundleDir(bundle, root);
    if ((await inspectBundle(dir, bundle)) === undefined) continue;
    const goPath = which('go', env);
    if (!goPath) {
      throw new ClusterError(
        `Go is not installed, and the local cluster's ${bundle.id} ${bundle.version} binaries are not in the cache (${dir}).`,
        'Install Go 1.25 or newer (https://go.dev/dl/) and run the command again, or use `--provider kind` if you have Docker.',
      );
    }
    await withLock(join(root, 'locks', `${bundle.id}-${bundle.version}.lock`), options.log, async () => {
      // Another process may have finished the build while this one waited.
      const problem = await inspectBundle(dir, bundle);
      if (problem === undefined) return;
      if (problem !== 'not built yet')
        options.log(`The cached ${bundle.id} ${bundle.version} at ${dir} is unusable: ${problem}. Rebuilding it.`);
      await buildBundle(bundle, root, goPath, options.log);
    });
  }
  const path = (bundle: Bundle, file: string) => join(bundleDir(bundle, root), file);
  return {
    kubeApiserver: path(kubernetes, 'kube-apiserver'),
    kubeControllerManager: path(kubernetes, 'kube-controller-manager'),
    kubeScheduler: path(kubernetes, 'kube-scheduler'),
    kubectl: path(kubernetes, 'kubectl'),
    etcd: path(etcd, 'etcd'),
    kwok: path(kwok, 'kwok'),
    kwokctl: path(kwok, 'kwokctl'),
  };
}
