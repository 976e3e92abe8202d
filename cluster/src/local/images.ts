/**
 * The container images the real node's pods run, made without a registry:
 * the demo app (images/demo-app, one program behind the probe, crash-loop,
 * OOM, Job, logs and rollout labs), the pod sandbox's pause program
 * (images/pause), and busybox from Debian's `busybox-static`. Each is a
 * static binary on a single layer, written as a tar in Docker's archive
 * format (`manifest.json`, the image config, one `layer.tar`), which
 * `ctr -n k8s.io images import` takes as it is.
 *
 * Images are made once per content: the cache key is a hash of what goes
 * into them (the Go sources, the Go version and the target architecture, or
 * the busybox binary) and of how they run (user, entrypoint, ports), so an
 * edit to either makes them again and nothing else does. They live in the
 * per-user cache beside the binaries, one folder per source and key, made
 * under a temporary name and renamed into place with a manifest, under the
 * same lock files as the binaries.
 *
 * Names are honest (`localhost/cdl/…`, no public registry's name). The demo
 * app comes twice, from the same layer: `demo-app` runs as the non-root user
 * 65532 (what a pod should run), `demo-app-root` as root (what a
 * `runAsNonRoot` pod must be refused), and as `shop:1.26` and `shop:1.27`,
 * two releases whose settings are in the image (1.27 never turns ready).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ClusterError } from '../errors.ts';
import { formatDuration, run, tail, which } from '../exec.ts';
import { cacheDir, projectRoot } from '../paths.ts';
import { ensurePrograms, IMAGE_PROGRAMS } from '../system-packages.ts';
import { type EnsureOptions, ensureCoredns, VERSIONS, withLock } from './binaries.ts';
import { hostPlatform } from './releases.ts';
import { SERVER_APP_DIR, SERVER_PORT, SERVER_USER, serverImageInputs, serverImageLayer } from './server-image.ts';
import { SHELL_AGENT_PORT, SHELL_USER, SHELL_WORK_DIR, shellImageInputs, shellImageLayer } from './shell-image.ts';
import { type TarEntry, tarArchive } from './tar.ts';

/** The tag of every image; raise it when an image changes in a way a lesson should see. */
export const IMAGE_TAG = '1';

/** The images, by the names lessons and the node's containerd config use. */
export const IMAGE_REFS = {
  demoApp: `localhost/cdl/demo-app:${IMAGE_TAG}`,
  demoAppRoot: `localhost/cdl/demo-app-root:${IMAGE_TAG}`,
  /** deploy-changes-safely's releases: a good one, and one that never turns ready (it requires a service nobody runs). */
  shopGood: 'localhost/cdl/shop:1.26',
  shopBad: 'localhost/cdl/shop:1.27',
  /** The CRI config's `sandbox_image`. */
  pause: `localhost/cdl/pause:${IMAGE_TAG}`,
  busybox: `localhost/cdl/busybox:${IMAGE_TAG}`,
  /** The real node's cluster DNS, from the cached CoreDNS binary, tagged with its version. */
  coredns: `localhost/cdl/coredns:${VERSIONS.coredns.replace(/^v/, '')}`,
  /** The shell pods': the terminal agent, Node, kubectl, bash and a learner's everyday programs (shell-image.ts). */
  shell: `localhost/cdl/shell:${IMAGE_TAG}`,
  /** The lab server's, for the Helm chart on the local cluster: Node, the server's bundle, the content and the site (server-image.ts). */
  server: `localhost/cdl/server:${IMAGE_TAG}`,
} as const;
export type ImageName = keyof typeof IMAGE_REFS;

/** The part of an image config that says how a container runs (Docker's and OCI's `config`). */
export interface RunConfig {
  /** `uid:gid`, numeric, so that the kubelet can check `runAsNonRoot` without an /etc/passwd. */
  User: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env: string[];
  ExposedPorts?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
}

export interface LocalImage {
  name: ImageName;
  ref: string;
  /** The image archive, for `ctr -n k8s.io images import`. */
  archive: string;
  /** `sha256:…` of the image config: the image ID containerd reports. */
  id: string;
}

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEMO_APP_PORT = 8080;

/** How the Go programs are linked: no symbol tables (smaller), the version stamped to match the tag. */
const GO_LDFLAGS = `-s -w -X main.version=${IMAGE_TAG}`;

/** Raise when the archive layout changes, so cached archives are made again. */
const FORMAT = 1;

interface ImageDef {
  name: ImageName;
  config: RunConfig;
}

interface SourceContext {
  arch: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /** A scratch folder, removed afterwards. */
  workDir: string;
}

export type ImageSourceId = 'demo-app' | 'pause' | 'busybox' | 'coredns' | 'shell' | 'server';

/** One thing that is built, and the images made from its single layer. */
interface ImageSource {
  id: ImageSourceId;
  images: readonly ImageDef[];
  /** Everything besides `images` that decides the layer's content, for the cache key. */
  inputs(ctx: SourceContext): Promise<Record<string, unknown>>;
  /** The layer's files. */
  layer(ctx: SourceContext): Promise<TarEntry[]>;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Where a Go program of images/ lives. */
function goSourceDir(id: string): string {
  return join(projectRoot, 'images', id);
}

/** SHA-256 of each file a Go build reads (go.mod, go.sum, the non-test .go files), by path. */
async function goSources(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(dir, { recursive: true }))
    .filter((name) => /(^|\/)go\.(mod|sum)$/.test(name) || (name.endsWith('.go') && !name.endsWith('_test.go')))
    .sort();
  const hashes: Record<string, string> = {};
  for (const name of names) hashes[name] = sha256(await readFile(join(dir, name)));
  return hashes;
}

function goPath(env: NodeJS.ProcessEnv): string {
  const path = which('go', env);
  if (!path) {
    throw new ClusterError(
      "Go is not installed, and the real node's images are built from the Go programs in images/.",
      'Install Go 1.25 or newer (https://go.dev/dl/) and run the command again.',
    );
  }
  return path;
}

/** The Go version that builds in `dir` (go.mod may select another toolchain than the one on PATH). */
async function goVersionIn(dir: string, env: NodeJS.ProcessEnv): Promise<string> {
  const result = await run(goPath(env), ['env', 'GOVERSION'], { cwd: dir, env: { ...env, GOWORK: 'off' } });
  if (result.code !== 0)
    throw new ClusterError(`\`go env GOVERSION\` failed in ${dir}:\n${tail(result.stderr)}`, 'Check the Go installation.');
  return result.stdout.trim();
}

/** Builds the Go program in images/<id> for Linux, statically, reproducibly; returns the binary. */
async function goBuild(id: string, ctx: SourceContext): Promise<Buffer> {
  const dir = goSourceDir(id);
  const out = join(ctx.workDir, id);
  const started = Date.now();
  const result = await run(goPath(ctx.env), ['build', '-trimpath', '-buildvcs=false', '-ldflags', GO_LDFLAGS, '-o', out, '.'], {
    cwd: dir,
    env: { ...ctx.env, CGO_ENABLED: '0', GOOS: 'linux', GOARCH: ctx.arch, GOWORK: 'off' },
    tickMs: 15_000,
    onTick: (elapsed) => ctx.log(`  … compiling ${id} (${formatDuration(elapsed)})`),
  });
  if (result.code !== 0) {
    throw new ClusterError(
      `\`go build\` of images/${id} failed:\n${tail(result.stderr || result.stdout)}`,
      'Fix the Go program, or report it.',
    );
  }
  ctx.log(`  compiled ${id} in ${formatDuration(Date.now() - started)}.`);
  return readFile(out);
}

/** A Go program alone at the root of its layer, as `/<id>`. */
function goSource(id: 'demo-app' | 'pause', images: ImageDef[]): ImageSource {
  return {
    id,
    images,
    async inputs(ctx) {
      const dir = goSourceDir(id);
      return { go: await goVersionIn(dir, ctx.env), ldflags: GO_LDFLAGS, sources: await goSources(dir) };
    },
    async layer(ctx) {
      return [{ type: 'file', path: id, mode: 0o755, content: await goBuild(id, ctx) }];
    },
  };
}

const demoAppConfig = (user: string, title = 'demo-app', version = IMAGE_TAG, settings: string[] = []): RunConfig => ({
  User: user,
  Entrypoint: ['/demo-app'],
  Env: [PATH_ENV, ...settings],
  ExposedPorts: { [`${DEMO_APP_PORT}/tcp`]: {} },
  Labels: { 'org.opencontainers.image.title': title, 'org.opencontainers.image.version': version },
});

const demoApp = goSource('demo-app', [
  { name: 'demoApp', config: demoAppConfig('65532:65532') },
  { name: 'demoAppRoot', config: demoAppConfig('0:0') },
  // A release is its image: the settings that make 1.27 bad are baked in, so a rollout changes only the tag.
  { name: 'shopGood', config: demoAppConfig('65532:65532', 'shop', '1.26', ['VERSION=1.26']) },
  { name: 'shopBad', config: demoAppConfig('65532:65532', 'shop', '1.27', ['VERSION=1.27', 'REQUIRES=payments:8080']) },
]);

// 65535 is the user Kubernetes' own pause image runs as.
const pause = goSource('pause', [{ name: 'pause', config: { User: '65535:65535', Entrypoint: ['/pause'], Env: [PATH_ENV] } }]);

/** Whether an ELF binary needs no dynamic loader (it has no PT_INTERP program header). */
export function isStaticElf(binary: Uint8Array): boolean {
  const b = Buffer.from(binary.buffer, binary.byteOffset, binary.length);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) return false;
  const is64 = b[4] === 2;
  const le = b[5] === 1;
  const u16 = (at: number) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at));
  const u32 = (at: number) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const phoff = is64 ? Number(le ? b.readBigUInt64LE(32) : b.readBigUInt64BE(32)) : u32(28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  const PT_INTERP = 3;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > b.length) return false;
    if (u32(at) === PT_INTERP) return false;
  }
  return true;
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nnobody:x:65534:\n';

/** Debian's static busybox, found on PATH (installed with apt-get where missing and root). */
async function busyboxBinary(ctx: SourceContext): Promise<{ path: string; binary: Buffer }> {
  ensurePrograms(IMAGE_PROGRAMS, ctx.log);
  const path = which('busybox');
  if (!path) throw new ClusterError('busybox is not on PATH.', 'Install it: sudo apt-get install busybox-static');
  const binary = await readFile(path);
  if (!isStaticElf(binary)) {
    throw new ClusterError(
      `${path} is dynamically linked, and cannot run alone in a container.`,
      "Install Debian's static build instead (it replaces the other): sudo apt-get install busybox-static",
    );
  }
  return { path, binary };
}

/** Busybox in /bin with a link for every applet it has, a root and a nobody user, /tmp and /root. */
const busybox: ImageSource = {
  id: 'busybox',
  images: [{ name: 'busybox', config: { User: '0:0', Cmd: ['sh'], Env: [PATH_ENV] } }],
  async inputs(ctx) {
    const { binary } = await busyboxBinary(ctx);
    return { busybox: sha256(binary), passwd: PASSWD, group: GROUP };
  },
  async layer(ctx) {
    const { path, binary } = await busyboxBinary(ctx);
    const listed = await run(path, ['--list']);
    const applets = listed.stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
    if (listed.code !== 0 || !applets.includes('sh')) {
      throw new ClusterError(`\`${path} --list\` did not list its applets:\n${tail(listed.stderr)}`, 'Reinstall busybox-static.');
    }
    return [
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/busybox', mode: 0o755, content: binary },
      ...applets.sort().map((applet): TarEntry => ({ type: 'symlink', path: `bin/${applet}`, target: 'busybox' })),
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/passwd', content: Buffer.from(PASSWD) },
      { type: 'file', path: 'etc/group', content: Buffer.from(GROUP) },
      { type: 'dir', path: 'root', mode: 0o700 },
      { type: 'dir', path: 'tmp', mode: 0o1777 },
    ];
  },
};

/** The CoreDNS binary of the cache (downloaded or built like the kubelet). */
function corednsBinary(ctx: SourceContext): Promise<string> {
  return ensureCoredns({ log: ctx.log, env: ctx.env });
}

/**
 * CoreDNS alone at the root of its layer, as root (the pod drops every
 * capability but binding port 53, and reads its key as root). The cache key
 * is the bundle's manifest, which changes whenever the binary is made
 * again: 78 MB are read only to build the image, not at every start.
 */
const coredns: ImageSource = {
  id: 'coredns',
  images: [{ name: 'coredns', config: { User: '0:0', Entrypoint: ['/coredns'], Env: [PATH_ENV] } }],
  async inputs(ctx) {
    const manifest = await readFile(join(dirname(await corednsBinary(ctx)), 'manifest.json'));
    return { corednsBundle: sha256(manifest) };
  },
  async layer(ctx) {
    const path = await corednsBinary(ctx);
    const binary = await readFile(path);
    if (!isStaticElf(binary))
      throw new ClusterError(`${path} is dynamically linked.`, 'Remove it from the cache and run the command again.');
    return [{ type: 'file', path: 'coredns', mode: 0o755, content: binary }];
  },
};

/** The shell pods' image: large (Node alone is 120 MB), so a node imports it only where shells run in pods. */
const shell: ImageSource = {
  id: 'shell',
  images: [
    {
      name: 'shell',
      config: {
        User: `${SHELL_USER}:${SHELL_USER}`,
        Entrypoint: ['/usr/local/bin/node', '/app/agent.mjs'],
        Env: [PATH_ENV, `HOME=${SHELL_WORK_DIR}`, `CDL_AGENT_DIR=${SHELL_WORK_DIR}/shells`, `CDL_AGENT_PORT=${SHELL_AGENT_PORT}`],
        ExposedPorts: { [`${SHELL_AGENT_PORT}/tcp`]: {} },
        WorkingDir: SHELL_WORK_DIR,
        Labels: { 'org.opencontainers.image.title': 'container-day-labs shell' },
      },
    },
  ],
  inputs: (ctx) => shellImageInputs(ctx.log),
  layer: (ctx) => shellImageLayer(ctx.log),
};

/** The lab server's image: what the Helm chart runs (deploy/helm), imported only where the chart is installed. */
const server: ImageSource = {
  id: 'server',
  images: [
    {
      name: 'server',
      config: {
        User: `${SERVER_USER}:${SERVER_USER}`,
        Entrypoint: ['/usr/local/bin/node', '--max-semi-space-size=1', `${SERVER_APP_DIR}/.build/server.mjs`],
        Env: [
          PATH_ENV,
          'HOME=/tmp',
          'CDL_PROVIDER=external',
          'CDL_MODE=workshop',
          'TERMINAL_SHELLS=pods',
          'HOST=0.0.0.0',
          `PORT=${SERVER_PORT}`,
        ],
        ExposedPorts: { [`${SERVER_PORT}/tcp`]: {} },
        WorkingDir: SERVER_APP_DIR,
        Labels: { 'org.opencontainers.image.title': 'container-day-labs server' },
      },
    },
  ],
  inputs: (ctx) => serverImageInputs(ctx.log),
  layer: (ctx) => serverImageLayer(ctx.log),
};

const IMAGE_SOURCES: readonly ImageSource[] = [demoApp, pause, busybox, coredns, shell, server];

/** The images every real node imports at its start; the others are imported when asked for (`importImages`). */
export const NODE_IMAGE_SOURCES: readonly ImageSourceId[] = ['demo-app', 'pause', 'busybox', 'coredns'];

export interface ImageArchive {
  archive: Buffer;
  /** `sha256:…` of the config. */
  id: string;
  /** `sha256:…` of the layer tar, the config's `rootfs.diff_ids[0]`. */
  diffId: string;
}

/** One image in Docker's archive format: its layer, its config named by its digest, and `manifest.json`. */
export function imageArchive(ref: string, layer: Buffer, config: RunConfig, arch: string, createdBy: string): ImageArchive {
  const layerHex = sha256(layer);
  const imageConfig = {
    architecture: arch,
    os: 'linux',
    config,
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerHex}`] },
    history: [{ created_by: createdBy }],
  };
  const configBytes = Buffer.from(JSON.stringify(imageConfig));
  const configHex = sha256(configBytes);
  const manifest = [{ Config: `${configHex}.json`, RepoTags: [ref], Layers: [`${layerHex}/layer.tar`] }];
  const archive = tarArchive([
    { type: 'dir', path: layerHex },
    { type: 'file', path: `${layerHex}/layer.tar`, content: layer },
    { type: 'file', path: `${configHex}.json`, content: configBytes },
    { type: 'file', path: 'manifest.json', content: Buffer.from(JSON.stringify(manifest)) },
  ]);
  return { archive, id: `sha256:${configHex}`, diffId: `sha256:${layerHex}` };
}

const CacheManifestSchema = z.object({
  source: z.string(),
  key: z.string(),
  arch: z.string(),
  inputs: z.record(z.string(), z.unknown()),
  builtAt: z.string(),
  buildSeconds: z.number(),
  images: z.array(
    z.object({
      name: z.enum(Object.keys(IMAGE_REFS) as [ImageName, ...ImageName[]]),
      ref: z.string(),
      file: z.string(),
      size: z.number().int().positive(),
      id: z.string(),
      diffId: z.string(),
    }),
  ),
});
type CacheManifest = z.infer<typeof CacheManifestSchema>;

/** The cache key: a hash of everything that decides the archives' bytes. */
export function cacheKey(source: Pick<ImageSource, 'id' | 'images'>, arch: string, inputs: Record<string, unknown>): string {
  const refs = source.images.map((image) => ({ ref: IMAGE_REFS[image.name], config: image.config }));
  return sha256(JSON.stringify({ format: FORMAT, source: source.id, arch, images: refs, inputs })).slice(0, 16);
}

/** The cached images of a source, or why they cannot be used. */
async function readCache(dir: string, source: ImageSource, key: string): Promise<CacheManifest | string> {
  if (!existsSync(dir)) return 'not built yet';
  let manifest: CacheManifest;
  try {
    manifest = CacheManifestSchema.parse(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
  } catch {
    return 'its manifest is missing or unreadable (an interrupted build?)';
  }
  if (manifest.key !== key || manifest.source !== source.id) return `it holds ${manifest.source} ${manifest.key}, not ${source.id} ${key}`;
  for (const image of source.images) {
    const entry = manifest.images.find((i) => i.name === image.name);
    const actual = entry && (await stat(join(dir, entry.file)).catch(() => undefined));
    if (!entry || !actual) return `the archive of ${IMAGE_REFS[image.name]} is missing`;
    if (actual.size !== entry.size) return `${entry.file} is ${actual.size} bytes, the manifest says ${entry.size}`;
  }
  return manifest;
}

/** Builds a source's archives into a temporary folder and renames it into place. */
async function buildSource(source: ImageSource, dir: string, key: string, inputs: Record<string, unknown>, ctx: SourceContext) {
  const started = Date.now();
  const refs = source.images.map((image) => IMAGE_REFS[image.name]);
  const what = `image${refs.length > 1 ? 's' : ''} ${refs.join(' and ')}`;
  ctx.log(`Building ${what} (${ctx.arch})…`);
  const partial = `${dir}.partial-${process.pid}-${randomBytes(3).toString('hex')}`;
  await mkdir(partial, { recursive: true });
  try {
    const layer = tarArchive(await source.layer(ctx));
    const images: CacheManifest['images'] = [];
    for (const image of source.images) {
      const ref = IMAGE_REFS[image.name];
      const made = imageArchive(ref, layer, image.config, ctx.arch, `container-day-labs image builder: ${source.id}`);
      const file = `${ref.replace(/^localhost\/cdl\//, '').replace(/[^\w.-]/g, '-')}.tar`;
      await writeFile(join(partial, file), made.archive);
      images.push({ name: image.name, ref, file, size: made.archive.length, id: made.id, diffId: made.diffId });
    }
    const buildSeconds = Math.round((Date.now() - started) / 100) / 10;
    const manifest: CacheManifest = {
      source: source.id,
      key,
      arch: ctx.arch,
      inputs,
      builtAt: new Date().toISOString(),
      buildSeconds,
      images,
    };
    await writeFile(join(partial, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
    const size = images.reduce((sum, image) => sum + image.size, 0);
    ctx.log(`Built ${what} (${(size / 1e6).toFixed(1)} MB) in ${formatDuration(Date.now() - started)}.`);
    return manifest;
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}

/** Removes the cached folders of `source` made from other content than `keep` (finished ones only). */
async function pruneOthers(root: string, source: ImageSource, keep: string): Promise<void> {
  const prefix = `${source.id}-`;
  for (const name of await readdir(root)) {
    if (name.startsWith(prefix) && name !== keep && /^[0-9a-f]{16}$/.test(name.slice(prefix.length))) {
      await rm(join(root, name), { recursive: true, force: true });
    }
  }
}

export interface EnsureImagesOptions extends EnsureOptions {
  /** Only the images of these sources (all by default). */
  only?: readonly ImageSourceId[];
}

/**
 * Returns the archive of every image, building what the cache lacks (one
 * source at a time: the machine may be building other things beside).
 */
export async function ensureImages(options: EnsureImagesOptions): Promise<LocalImage[]> {
  const env = options.env ?? process.env;
  const platform = hostPlatform();
  if (!platform) throw new ClusterError(`images cannot be built on ${process.platform}/${process.arch}.`, 'Use Linux on amd64 or arm64.');
  const root = join(cacheDir(env), 'images');
  await mkdir(join(cacheDir(env), 'locks'), { recursive: true });
  await mkdir(root, { recursive: true });
  const images: LocalImage[] = [];
  for (const source of IMAGE_SOURCES.filter((s) => !options.only || options.only.includes(s.id))) {
    const workDir = join(cacheDir(env), 'build', `image-${source.id}-${process.pid}-${randomBytes(3).toString('hex')}`);
    const ctx: SourceContext = { arch: platform.arch, env, log: options.log, workDir };
    const inputs = await source.inputs(ctx);
    const key = cacheKey(source, platform.arch, inputs);
    const name = `${source.id}-${key}`;
    const dir = join(root, name);
    const manifest = await withLock(join(cacheDir(env), 'locks', `image-${name}.lock`), options.log, async () => {
      const cached = await readCache(dir, source, key);
      if (typeof cached !== 'string') return cached;
      if (cached !== 'not built yet') options.log(`The cached image ${source.id} at ${dir} is unusable: ${cached}. Making it again.`);
      await mkdir(workDir, { recursive: true });
      try {
        const made = await buildSource(source, dir, key, inputs, ctx);
        await pruneOthers(root, source, name);
        return made;
      } finally {
        await rm(workDir, { recursive: true, force: true });
      }
    });
    for (const image of manifest.images) {
      images.push({ name: image.name, ref: image.ref, archive: join(dir, image.file), id: image.id });
    }
  }
  return images;
}
