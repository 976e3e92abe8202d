/**
 * The local provider's binaries: Kubernetes (apiserver, controller-manager,
 * scheduler, kubectl), etcd, kwok and kwokctl, once per version in the
 * per-user cache. Each bundle the cache lacks is downloaded from its
 * project's official releases (releases.ts, download.ts: every file checked
 * against its published checksum) or built from the Go module proxy, as
 * CDL_BINARIES says: `auto` (the default) downloads, and builds what could
 * not be downloaded; `download` and `build` do only that. The bundles are
 * fetched side by side (built side by side where the machine has the memory).
 *
 * Each bundle is made in a temporary folder and renamed into place only
 * when complete, with a manifest of what it holds and where it came from; a
 * folder without a matching manifest is treated as a broken cache and made
 * again, with a line saying so. A lock file stops two processes from making
 * the same bundle at once.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { clusterSettings } from '../../../contract/settings.ts';
import { ClusterError } from '../errors.ts';
import { formatDuration, processAlive, run, tail, which } from '../exec.ts';
import { cacheDir } from '../paths.ts';
import type { UpProgress } from '../provider.ts';
import { DownloadError, downloadBinary } from './download.ts';
import { localReplacements, renderGoMod, renderToolsFile, stagingVersion } from './gomod.ts';
import { type BundleRef, hostPlatform, releaseFiles } from './releases.ts';

/** The versions the local provider builds. Change one and the next `up` builds it. */
export const VERSIONS = {
  kubernetes: 'v1.36.3',
  etcd: 'v3.6.16',
  kwok: 'v0.8.0',
  karpenter: 'v1.15.0',
  coredns: 'v1.15.0',
  kubeRouter: 'v2.1.0',
  helm: 'v4.3.2',
} as const;

/**
 * The Go toolchain that builds what needs a newer Go than the machine's
 * (Karpenter's go.mod asks for more than some machines have): the go command
 * fetches it from the module proxy like a module.
 */
export const GO_TOOLCHAIN = 'go1.27.3';

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
  /** Packages compiled so far, of at most `total`. */
  onPackages: (done: number, total: number | undefined) => void;
}

interface Bundle extends BundleRef {
  /** Files of the bundle that are not programs (manifests), checked like the others but not for being executable. */
  data?: readonly string[];
  /** What a cold build costs on two cores, for the progress line. */
  coldEstimate: string;
  build(ctx: BuildContext): Promise<void>;
}

const ManifestSchema = z.object({
  id: z.string(),
  version: z.string(),
  /** Downloaded from the official releases (or a mirror of them), or built with Go. Older caches were all built. */
  source: z.enum(['download', 'build']).default('build'),
  goVersion: z.string().optional(),
  builtAt: z.string(),
  buildSeconds: z.number(),
  files: z.record(
    z.string(),
    z.object({
      size: z.number().int().positive(),
      /** For a download: where from, and the published SHA-256 it matched (of the archive, where it came in one). */
      url: z.string().optional(),
      sha256: z.string().optional(),
    }),
  ),
});
type Manifest = z.infer<typeof ManifestSchema>;

/** Import paths as `go build -v` and `go list` print them, one per line. */
const PACKAGE_LINE = /^[\w.~-]+(\/[\w.~+-]+)*$/;

async function go(ctx: BuildContext, args: string[], what: string, env: NodeJS.ProcessEnv = {}, total?: number): Promise<string> {
  let compiled = 0;
  const started = Date.now();
  const result = await run(ctx.go, args, {
    cwd: ctx.workDir,
    env: { ...process.env, CGO_ENABLED: '0', ...env },
    tickMs: 30_000,
    onTick: (elapsed) => {
      const count = compiled === 0 ? '' : total ? `: ${compiled} of at most ${total} packages` : `: ${compiled} packages`;
      ctx.log(`  … ${what}${count} (${formatDuration(elapsed)})`);
    },
    onStderrLine: (line) => {
      if (!args.includes('-v') || !PACKAGE_LINE.test(line)) return;
      compiled += 1;
      ctx.onPackages(compiled, total);
    },
  });
  if (args.includes('-v') && compiled > 0) {
    ctx.log(`  ${what}: compiled ${compiled} packages in ${formatDuration(Date.now() - started)}.`);
  }
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

/** How many packages a build of `packages` needs at most (every dependency, the standard library's too). */
async function packageCount(ctx: BuildContext, packages: readonly string[]): Promise<number | undefined> {
  // One short line per package (the output kept is capped; Kubernetes needs thousands of packages).
  const result = await run(ctx.go, ['list', '-deps', '-f', 'p', ...packages], {
    cwd: ctx.workDir,
    env: { ...process.env, CGO_ENABLED: '0' },
  });
  if (result.code !== 0) return undefined;
  return result.stdout.split('\n').filter((line) => line === 'p').length;
}

/** Builds Kubernetes commands (`cmd/<file>`) of VERSIONS.kubernetes, stamped with their version. */
async function buildKubernetes(ctx: BuildContext, files: readonly string[]): Promise<void> {
  const version = VERSIONS.kubernetes;
  const packages = files.map((f) => `k8s.io/kubernetes/cmd/${f}`);
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
    ['build', '-v', '-trimpath', '-ldflags', ['-s', '-w', ...stamp].join(' '), '-o', `${ctx.outDir}/`, ...packages],
    `compiling Kubernetes ${version} (${files.join(', ')})`,
    {},
    await packageCount(ctx, packages),
  );
}

const kubernetes: Bundle = {
  id: 'kubernetes',
  version: VERSIONS.kubernetes,
  files: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'],
  coldEstimate: 'about 15 minutes alone, 19 beside etcd and kwok',
  build(ctx) {
    return buildKubernetes(ctx, this.files);
  },
};

/** A real node's Kubernetes programs, for the local cluster's real node (real-node.ts). */
const kubernetesNode: Bundle = {
  id: 'kubernetes-node',
  version: VERSIONS.kubernetes,
  files: ['kubelet', 'kube-proxy'],
  coldEstimate: 'about 5 minutes after the control plane, 12 alone',
  build(ctx) {
    return buildKubernetes(ctx, this.files);
  },
};

/** Cluster DNS for the real node's pods: CoreDNS, with its default plugins. */
const coredns: Bundle = {
  id: 'coredns',
  version: VERSIONS.coredns,
  files: ['coredns'],
  coldEstimate: 'about 3 minutes alone',
  async build(ctx) {
    await go(
      ctx,
      ['install', '-v', '-trimpath', '-ldflags', '-s -w', `github.com/coredns/coredns@${VERSIONS.coredns}`],
      `compiling CoreDNS ${VERSIONS.coredns}`,
      { GOBIN: ctx.outDir },
    );
  },
};

/** The real node's NetworkPolicy firewall: kube-router, of which only the firewall runs (real-node.ts). */
const kubeRouter: Bundle = {
  id: 'kube-router',
  version: VERSIONS.kubeRouter,
  files: ['kube-router'],
  coldEstimate: 'about 4 minutes alone',
  async build(ctx) {
    const pkg = 'github.com/cloudnativelabs/kube-router/v2';
    const stamp = `-X ${pkg}/pkg/version.Version=${VERSIONS.kubeRouter}`;
    await go(
      ctx,
      ['install', '-v', '-trimpath', '-ldflags', `-s -w ${stamp}`, `${pkg}/cmd/kube-router@${VERSIONS.kubeRouter}`],
      `compiling kube-router ${VERSIONS.kubeRouter}`,
      { GOBIN: ctx.outDir },
    );
  },
};

/** What the real node runs beside containerd, downloaded or built like the control plane (ensureNodeBinaries). */
export const NODE_BUNDLES: readonly Bundle[] = [kubernetesNode, coredns, kubeRouter];

const etcd: Bundle = {
  id: 'etcd',
  version: VERSIONS.etcd,
  files: ['etcd'],
  coldEstimate: 'about 2 minutes alone, 7 beside the others',
  async build(ctx) {
    const modulePath = 'go.etcd.io/etcd/server/v3';
    await prepareModule(ctx, modulePath, VERSIONS.etcd, VERSIONS.etcd, [modulePath]);
    await go(
      ctx,
      ['build', '-v', '-trimpath', '-ldflags', '-s -w', '-o', join(ctx.outDir, 'etcd'), modulePath],
      `compiling etcd ${VERSIONS.etcd}`,
      {},
      await packageCount(ctx, [modulePath]),
    );
  },
};

const kwok: Bundle = {
  id: 'kwok',
  version: VERSIONS.kwok,
  files: ['kwok', 'kwokctl'],
  coldEstimate: 'about 3 minutes alone, 12 beside the others',
  async build(ctx) {
    const packages = this.files.map((f) => `sigs.k8s.io/kwok/cmd/${f}@${VERSIONS.kwok}`);
    await go(ctx, ['install', '-v', '-trimpath', '-ldflags', '-s -w', ...packages], `compiling kwok ${VERSIONS.kwok}`, {
      GOBIN: ctx.outDir,
    });
  },
};

export const BUNDLES: readonly Bundle[] = [kubernetes, etcd, kwok];

/** Helm, for the platform's chart (deploy/helm): its tests lint, render and install it; no cluster start needs it. */
const helm: Bundle = {
  id: 'helm',
  version: VERSIONS.helm,
  files: ['helm'],
  coldEstimate: 'about 2 minutes after the control plane, 6 alone',
  async build(ctx) {
    const stamp = `-X helm.sh/helm/v4/internal/version.version=${VERSIONS.helm}`;
    await go(
      ctx,
      ['install', '-v', '-trimpath', '-ldflags', `-s -w ${stamp}`, `helm.sh/helm/v4/cmd/helm@${VERSIONS.helm}`],
      `compiling Helm ${VERSIONS.helm}`,
      { GOBIN: ctx.outDir },
    );
  },
};

/**
 * Karpenter with its kwok cloud provider: the real Karpenter, whose "cloud"
 * creates kwok nodes, with the CRDs it needs. It publishes no binary, so it
 * is always built; it is not part of BUNDLES because a cluster starts without
 * it (ensureKarpenter, when a lab needs it).
 */
const karpenter: Bundle = {
  id: 'karpenter',
  version: VERSIONS.karpenter,
  files: ['karpenter'],
  data: ['crds.yaml'],
  coldEstimate: 'about 10 minutes',
  async build(ctx) {
    const modulePath = 'sigs.k8s.io/karpenter';
    const version = VERSIONS.karpenter;
    // A module that needs a newer Go than the machine's says so, and is then
    // fetched and built with that toolchain, which the go command fetches too.
    const args = ['mod', 'download', '-json', `${modulePath}@${version}`];
    const first = await run(ctx.go, args, { cwd: ctx.workDir, env: { ...process.env, CGO_ENABLED: '0' } });
    const error = z.object({ Error: z.string().optional() }).safeParse(JSON.parse(first.stdout || '{}')).data?.Error ?? '';
    const needs = /requires go >= (\S+) \(running go (\S+);/.exec(error);
    const toolchain = needs ? GO_TOOLCHAIN : undefined;
    if (needs)
      ctx.log(
        `  Karpenter ${version} needs Go ${needs[1]} (this machine has ${needs[2]}): building it with ${GO_TOOLCHAIN} from the module proxy.`,
      );
    const env = toolchain ? { GOTOOLCHAIN: toolchain } : {};
    const out = first.code === 0 ? first.stdout : await go(ctx, args, `downloading Karpenter ${version}`, env);
    const module = z.object({ Dir: z.string() }).parse(JSON.parse(out));
    const bin = join(ctx.workDir, 'bin');
    await go(ctx, ['install', '-v', '-trimpath', '-ldflags', '-s -w', `${modulePath}/kwok@${version}`], `compiling Karpenter ${version}`, {
      GOBIN: bin,
      ...env,
    });
    await rename(join(bin, 'kwok'), join(ctx.outDir, 'karpenter'));
    // The CRDs of this very version: Karpenter's own, and its kwok provider's node class.
    const folders = ['kwok/charts/crds', 'kwok/apis/crds'].map((f) => join(module.Dir, f));
    const documents: string[] = [];
    for (const folder of folders) {
      for (const name of (await readdir(folder)).filter((n) => n.endsWith('.yaml')).sort()) {
        documents.push((await readFile(join(folder, name), 'utf8')).replace(/^---\s*\n/, '').trimEnd());
      }
    }
    await writeFile(join(ctx.outDir, 'crds.yaml'), `${documents.join('\n---\n')}\n`);
  },
};

export interface KarpenterBinaries {
  karpenter: string;
  /** Its CRDs (NodePool, NodeClaim, …, KWOKNodeClass), as one multi-document YAML file. */
  crds: string;
}

function bundleDir(bundle: BundleRef, root: string): string {
  return join(root, 'bin', `${bundle.id}-${bundle.version}`);
}

/** Why a cached bundle cannot be used, or undefined if it can. */
export async function inspectBundle(dir: string, bundle: Pick<Bundle, 'id' | 'version' | 'files' | 'data'>): Promise<string | undefined> {
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
  const data = new Set(bundle.data ?? []);
  for (const file of [...bundle.files, ...data]) {
    const expected = manifest.files[file];
    const actual = await stat(join(dir, file)).catch(() => undefined);
    if (!expected || !actual) return `${file} is missing`;
    if (actual.size !== expected.size) return `${file} is ${actual.size} bytes, the manifest says ${expected.size}`;
    if (!data.has(file) && (actual.mode & 0o111) === 0) return `${file} is not executable`;
  }
  return undefined;
}

/** Takes a lock file; waits while a live process holds it, clears it if its holder died. */
export async function withLock<T>(path: string, log: Log, body: () => Promise<T>): Promise<T> {
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

export interface EnsureOptions {
  log: Log;
  env?: NodeJS.ProcessEnv;
  /** How far each bundle is, as it is downloaded or built. */
  onProgress?: (progress: UpProgress) => void;
}

/** A Go build of one bundle needs about this much memory; bundles are built side by side only where the machine has it for each. */
const BUILD_MEMORY_BYTES = 4 * 1024 ** 3;

/** Where each downloaded file came from, and the published SHA-256 it matched. */
type Origin = Record<string, { url: string; sha256: string }>;

/** Writes the manifest of a bundle made in `outDir` (which the caller renames into place), checking every file is there. */
async function writeManifest(bundle: Bundle, outDir: string, manifest: Omit<Manifest, 'files'>, from: Origin) {
  const files: Manifest['files'] = {};
  for (const file of [...bundle.files, ...(bundle.data ?? [])]) {
    const info = await stat(join(outDir, file)).catch(() => undefined);
    if (!info?.isFile()) {
      throw new ClusterError(
        `making ${bundle.id} ${bundle.version} did not produce ${file}`,
        'Run the command again; if it repeats, report it with the output above.',
      );
    }
    files[file] = { ...from[file], size: info.size };
  }
  await writeFile(join(outDir, 'manifest.json'), `${JSON.stringify({ ...manifest, files }, null, 2)}\n`);
}

/** Downloads every file of a bundle into `outDir`, each checked against its published checksum. */
async function downloadBundle(bundle: Bundle, outDir: string, env: NodeJS.ProcessEnv, options: EnsureOptions): Promise<void> {
  const { CDL_BINARY_MIRROR: mirror } = clusterSettings(env);
  const files = releaseFiles(bundle, hostPlatform());
  if (typeof files === 'string') throw new DownloadError('refused', files, 'The binaries are built instead (CDL_BINARIES=auto or build).');
  const started = Date.now();
  const where = mirror ? `the mirror ${mirror}` : 'the official releases';
  options.log(`Downloading ${bundle.files.join(', ')} (${bundle.id} ${bundle.version}) from ${where}…`);
  const received = new Map<string, { done: number; total?: number }>();
  const report = () => {
    const done = [...received.values()].reduce((sum, r) => sum + r.done, 0);
    const known = [...received.values()].every((r) => r.total !== undefined) && received.size === files.length;
    const total = known ? [...received.values()].reduce((sum, r) => sum + (r.total ?? 0), 0) : undefined;
    return { done, total };
  };
  const tick = setInterval(() => {
    const { done, total } = report();
    const mb = (n: number) => (n / 1e6).toFixed(1);
    options.log(`  … downloading ${bundle.id}: ${mb(done)}${total ? ` of ${mb(total)}` : ''} MB (${formatDuration(Date.now() - started)})`);
  }, 5000);
  const from: Origin = {};
  try {
    // An archive that holds several files is downloaded once per file; the bundles published so have one.
    const results = await Promise.allSettled(
      files.map(async (item) => {
        const sha256 = await downloadBinary(item, join(outDir, item.file), {
          ...(mirror ? { mirror } : {}),
          log: options.log,
          onBytes: (done, total) => {
            received.set(item.file, { done, ...(total !== undefined ? { total } : {}) });
            options.onProgress?.({ part: bundle.id, action: 'downloading', unit: 'bytes', ...report() });
          },
        });
        from[item.file] = { url: item.url, sha256 };
      }),
    );
    // All have ended before the folder is given up: no download is left writing into it.
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    clearInterval(tick);
  }
  await writeManifest(
    bundle,
    outDir,
    {
      id: bundle.id,
      version: bundle.version,
      source: 'download',
      builtAt: new Date().toISOString(),
      buildSeconds: (Date.now() - started) / 1000,
    },
    from,
  );
  const { done } = report();
  options.log(
    `Downloaded ${bundle.id} ${bundle.version} (${(done / 1e6).toFixed(1)} MB, checksums verified) in ${formatDuration(Date.now() - started)}.`,
  );
}

/** Builds a bundle into `outDir` with Go. */
async function buildBundle(bundle: Bundle, outDir: string, workDir: string, goPath: string, options: EnsureOptions): Promise<void> {
  const { log } = options;
  const started = Date.now();
  log(
    `Building ${bundle.files.join(', ')} (${bundle.id} ${bundle.version}) with Go; a cold build takes ${bundle.coldEstimate} on two cores.`,
  );
  await mkdir(workDir, { recursive: true });
  await bundle.build({
    outDir,
    workDir,
    go: goPath,
    log,
    onPackages: (done, total) =>
      options.onProgress?.({ part: bundle.id, action: 'building', unit: 'packages', done, ...(total ? { total } : {}) }),
  });
  await writeManifest(
    bundle,
    outDir,
    {
      id: bundle.id,
      version: bundle.version,
      source: 'build',
      goVersion: await goVersion(goPath),
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round((Date.now() - started) / 100) / 10,
    },
    {},
  );
  log(`Built ${bundle.id} ${bundle.version} in ${formatDuration(Date.now() - started)}.`);
}

/** Gets one bundle into the cache: downloaded, or built, as CDL_BINARIES says. */
async function makeBundle(bundle: Bundle, root: string, env: NodeJS.ProcessEnv, options: EnsureOptions): Promise<void> {
  const { CDL_BINARIES: how } = clusterSettings(env);
  const dir = bundleDir(bundle, root);
  const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const outDir = `${dir}.partial-${suffix}`;
  const workDir = join(root, 'build', `${bundle.id}-${bundle.version}-${suffix}`);
  try {
    let made = false;
    if (how !== 'build') {
      await mkdir(outDir, { recursive: true });
      try {
        await downloadBundle(bundle, outDir, env, options);
        made = true;
      } catch (error) {
        if (how === 'download' || !(error instanceof DownloadError)) throw error;
        options.log(`Could not download ${bundle.id} ${bundle.version} (${error.message}); building it instead.`);
        await rm(outDir, { recursive: true, force: true });
      }
    }
    if (!made) {
      const goPath = which('go', env);
      if (!goPath) {
        throw new ClusterError(
          `Go is not installed, and the local cluster's ${bundle.id} ${bundle.version} binaries are neither in the cache (${dir}) nor downloadable.`,
          'Install Go 1.25 or newer (https://go.dev/dl/) and run the command again, let it download the binaries (CDL_BINARIES=auto, a network or CDL_BINARY_MIRROR), or use `--provider kind` if you have Docker.',
        );
      }
      await mkdir(outDir, { recursive: true });
      await buildBundle(bundle, outDir, workDir, goPath, options);
    }
    await rm(dir, { recursive: true, force: true });
    await rename(outDir, dir);
  } finally {
    await rm(outDir, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Makes one bundle unless the cache has it; one process at a time. */
function ensureBundle(bundle: Bundle, root: string, env: NodeJS.ProcessEnv, options: EnsureOptions): Promise<void> {
  return withLock(join(root, 'locks', `${bundle.id}-${bundle.version}.lock`), options.log, async () => {
    // Another process may have finished it while this one waited.
    const dir = bundleDir(bundle, root);
    const problem = await inspectBundle(dir, bundle);
    if (problem === undefined) return;
    if (problem !== 'not built yet')
      options.log(`The cached ${bundle.id} ${bundle.version} at ${dir} is unusable: ${problem}. Making it again.`);
    await makeBundle(bundle, root, env, options);
  });
}

export interface NodeBinaries {
  kubelet: string;
  kubeProxy: string;
  coredns: string;
  kubeRouter: string;
}

/**
 * Makes every bundle of `bundles` the cache lacks: side by side where there
 * is memory (or nothing to build), else one by one. Returns where a file of
 * a bundle is in the cache.
 */
async function ensureAll(
  bundles: readonly Bundle[],
  options: EnsureOptions,
  env: NodeJS.ProcessEnv = options.env ?? process.env,
): Promise<(bundle: BundleRef, file: string) => string> {
  const root = cacheDir(env);
  const { CDL_BINARIES: how } = clusterSettings(env);
  await mkdir(join(root, 'locks'), { recursive: true });
  const missing: Bundle[] = [];
  for (const bundle of bundles) if ((await inspectBundle(bundleDir(bundle, root), bundle)) !== undefined) missing.push(bundle);
  const ensure = (bundle: Bundle) => ensureBundle(bundle, root, env, options);
  const sideBySide = how === 'download' || totalmem() >= BUILD_MEMORY_BYTES * missing.length;
  if (sideBySide) {
    // Every bundle finishes (or fails) before this returns: none is left writing into the cache.
    const failed = (await Promise.allSettled(missing.map(ensure))).find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  } else {
    for (const bundle of missing) await ensure(bundle);
  }
  return (bundle, file) => join(bundleDir(bundle, root), file);
}

/** A real node's programs (kubelet, kube-proxy, CoreDNS, kube-router): downloaded or built as CDL_BINARIES says. */
export async function ensureNodeBinaries(options: EnsureOptions): Promise<NodeBinaries> {
  const path = await ensureAll(NODE_BUNDLES, options);
  return {
    kubelet: path(kubernetesNode, 'kubelet'),
    kubeProxy: path(kubernetesNode, 'kube-proxy'),
    coredns: path(coredns, 'coredns'),
    kubeRouter: path(kubeRouter, 'kube-router'),
  };
}

/** CoreDNS alone (its image is made from it), downloaded or built as CDL_BINARIES says. */
export async function ensureCoredns(options: EnsureOptions): Promise<string> {
  const path = await ensureAll([coredns], options);
  return path(coredns, 'coredns');
}

/** Karpenter's binary and CRDs, built once per version into the cache (there is nothing to download). */
export async function ensureKarpenter(options: EnsureOptions): Promise<KarpenterBinaries> {
  const path = await ensureAll([karpenter], options, { ...(options.env ?? process.env), CDL_BINARIES: 'build' });
  return { karpenter: path(karpenter, 'karpenter'), crds: path(karpenter, 'crds.yaml') };
}

/** Helm's binary, downloaded or built as CDL_BINARIES says. */
export async function ensureHelm(options: EnsureOptions): Promise<string> {
  const path = await ensureAll([helm], options);
  return path(helm, 'helm');
}

/** Returns the paths of every binary, downloading or building what the cache lacks. */
export async function ensureBinaries(options: EnsureOptions): Promise<LocalBinaries> {
  const path = await ensureAll(BUNDLES, options);
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

/** Where a cached bundle's file is (for the mirror). */
export function cachedFile(bundle: BundleRef, file: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(bundleDir(bundle, cacheDir(env)), file);
}
