/**
 * The images the real node will run, proven without a container runtime:
 * each is built into a scratch cache, unpacked the way containerd would
 * (the archive's manifest, its config, its one layer), and its program run
 * as a plain process, checked by what it answers, logs and exits with.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureNodeBinaries } from '../../cluster/src/local/binaries.ts';
import { ensureImages, type ImageName, isStaticElf, type LocalImage, NODE_IMAGE_SOURCES } from '../../cluster/src/local/images.ts';

let dir = '';
let images: LocalImage[] = [];
const buildLog: string[] = [];
const children: ChildProcess[] = [];

interface Unpacked {
  rootfs: string;
  config: { architecture: string; os: string; config: { User: string; Entrypoint?: string[]; Cmd?: string[]; Env: string[] } };
  diffId: string;
}

async function unpack(name: ImageName): Promise<Unpacked> {
  const image = images.find((i) => i.name === name);
  if (!image) throw new Error(`no image ${name}`);
  const out = await mkdtemp(join(dir, `${name}-`));
  execFileSync('tar', ['-xf', image.archive, '-C', out]);
  const [manifest] = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
  const config = JSON.parse(await readFile(join(out, manifest.Config), 'utf8'));
  const rootfs = join(out, 'rootfs');
  await mkdir(rootfs);
  execFileSync('tar', ['-xf', join(out, manifest.Layers[0]), '-C', rootfs]);
  return { rootfs, config, diffId: config.rootfs.diff_ids[0] };
}

/** A started program, its output as it comes, and its exit. */
function start(command: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(command, args, { env: { PATH: '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdl-images-'));
  const env = { ...process.env, CDL_CACHE_DIR: join(dir, 'cache') };
  // The CoreDNS image is made from the binary cache's CoreDNS: the scratch cache gets a copy of that bundle.
  const { coredns } = await ensureNodeBinaries({ log: () => undefined });
  await cp(dirname(coredns), join(dir, 'cache', 'bin', basename(dirname(coredns))), { recursive: true });
  // The node's own images; the shell pods' image is built and run by the shell-pod tests, on the real node.
  images = await ensureImages({ env, log: (line) => buildLog.push(line), only: NODE_IMAGE_SOURCES });
}, 180_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('the image cache', () => {
  it('builds each image once, then finds it', async () => {
    expect(images.map((i) => i.ref).sort()).toEqual([
      'localhost/cdl/busybox:1',
      'localhost/cdl/coredns:1.15.0',
      'localhost/cdl/demo-app-root:1',
      'localhost/cdl/demo-app:1',
      'localhost/cdl/pause:1',
      'localhost/cdl/shop:1.26',
      'localhost/cdl/shop:1.27',
    ]);
    expect(buildLog.filter((line) => line.startsWith('Built '))).toHaveLength(4);
    const again: string[] = [];
    const cached = await ensureImages({
      env: { ...process.env, CDL_CACHE_DIR: join(dir, 'cache') },
      log: (line) => again.push(line),
      only: NODE_IMAGE_SOURCES,
    });
    expect(again).toEqual([]);
    expect(cached).toEqual(images);
  });
});

describe('demo-app', () => {
  it('runs as a non-root user, and its -root twin as root, from the same layer', async () => {
    const app = await unpack('demoApp');
    const root = await unpack('demoAppRoot');
    expect(app.config.config.User).toBe('65532:65532');
    expect(root.config.config.User).toBe('0:0');
    expect(app.diffId).toBe(root.diffId);
    expect(app.config.config.Entrypoint).toEqual(['/demo-app']);
    expect(app.config.os).toBe('linux');
    expect(isStaticElf(await readFile(join(app.rootfs, 'demo-app')))).toBe(true);
  });

  it('serves its version, turns ready after the delay, hangs after N s, logs, holds memory, and stops on SIGTERM', async () => {
    const { rootfs } = await unpack('demoApp');
    const started = Date.now();
    const app = start(join(rootfs, 'demo-app'), [], {
      PORT: '0',
      VERSION: '2',
      READY_AFTER: '1',
      HANG_AFTER: '1.5s',
      LOG_EVERY: '200ms',
      ALLOC_MB: '32',
    });
    const port = await waitFor('the listening line', () => /listening on \S*:(\d+)/.exec(app.output())?.[1]);
    const url = (path: string) => `http://127.0.0.1:${port}${path}`;

    const home = await fetch(url('/'));
    expect(home.headers.get('x-app-version')).toBe('2');
    expect(await home.text()).toMatch(/^demo-app 2 on /);

    expect((await fetch(url('/readyz'))).status).toBe(503);
    expect((await fetch(url('/healthz'))).status).toBe(200);
    await waitFor('ready', async () => ((await fetch(url('/readyz'))).status === 200 ? true : undefined));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    await waitFor('hung', async () => ((await fetch(url('/healthz'))).status === 500 ? true : undefined));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);

    // Allocated memory is touched, so it is resident: what a memory limit counts.
    const rss = async () => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${app.child.pid}/status`, 'utf8'))?.[1]) / 1024;
    expect(await rss()).toBeGreaterThan(32);
    const alloc = await fetch(url('/alloc?mb=16'), { method: 'POST' });
    expect(await alloc.text()).toBe('allocated 16 MiB, holding 48 MiB\n');
    expect(await rss()).toBeGreaterThan(48);

    await waitFor('three log lines', () => (/tick 3/.test(app.output()) ? true : undefined));
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
    expect(app.output()).toMatch(/received terminated: stopping/);
    expect(app.output()).toMatch(/stopped\n$/);
  });

  it('exits with the code it is given, as a worker that serves nothing', async () => {
    const { rootfs } = await unpack('demoApp');
    const job = start(join(rootfs, 'demo-app'), ['-mode', 'worker', '-exit-after', '300ms'], { EXIT_CODE: '42' });
    expect(await job.exited).toBe(42);
    expect(job.output()).not.toMatch(/listening/);
    expect(job.output()).toMatch(/exiting with code 42/);
  });

  it("makes shop's releases from the same layer, 1.27 with settings that keep it from ever turning ready", async () => {
    const good = await unpack('shopGood');
    const bad = await unpack('shopBad');
    expect(good.diffId).toBe((await unpack('demoApp')).diffId);
    expect(bad.diffId).toBe(good.diffId);
    expect(good.config.config.User).toBe('65532:65532');
    // The image's environment is what a container starts with: run 1.27 with exactly that.
    const imageEnv = (env: string[]) => Object.fromEntries(env.map((e) => e.split(/=(.*)/s).slice(0, 2)));
    const release = start(join(bad.rootfs, 'demo-app'), [], { ...imageEnv(bad.config.config.Env), PORT: '0' });
    const port = await waitFor('the listening line', () => /listening on \S*:(\d+)/.exec(release.output())?.[1]);
    const home = await fetch(`http://127.0.0.1:${port}/`);
    expect(home.headers.get('x-app-version')).toBe('1.27');
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/^not ready: cannot reach payments:8080: /);
    await waitFor('the reason in its log', () => (/not ready: cannot reach payments:8080/.test(release.output()) ? true : undefined));
    release.child.kill('SIGTERM');
    expect(await release.exited).toBe(0);
    expect(imageEnv(good.config.config.Env)).toMatchObject({ VERSION: '1.26' });
    expect(imageEnv(good.config.config.Env).REQUIRES).toBeUndefined();
  });

  it('refuses a bad setting with its name and exit code 2', async () => {
    const { rootfs } = await unpack('demoApp');
    const bad = start(join(rootfs, 'demo-app'), [], { READY_AFTER: 'soon' });
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toMatch(/READY_AFTER="soon"/);
  });
});

describe('pause', () => {
  it('sleeps until SIGTERM, then exits 0', async () => {
    const { rootfs, config } = await unpack('pause');
    expect(config.config).toMatchObject({ User: '65535:65535', Entrypoint: ['/pause'] });
    expect(execFileSync(join(rootfs, 'pause'), ['-v'], { encoding: 'utf8' })).toBe('pause 1\n');
    const pause = start(join(rootfs, 'pause'), []);
    await sleep(200);
    expect(pause.child.exitCode).toBeNull();
    pause.child.kill('SIGTERM');
    expect(await pause.exited).toBe(0);
  });
});

describe('busybox', () => {
  it("runs a shell through its applet links, as root, with busybox's tools", async () => {
    const { rootfs, config } = await unpack('busybox');
    expect(config.config).toMatchObject({ User: '0:0', Cmd: ['sh'] });
    const bin = join(rootfs, 'bin');
    // Each applet is a link that busybox answers by the name it was called with.
    for (const applet of ['sh', 'ls', 'cat', 'wget', 'nc', 'sleep']) expect(await readlink(join(bin, applet))).toBe('busybox');
    expect(execFileSync(join(bin, 'sh'), ['-c', 'echo hello | cat'], { encoding: 'utf8' })).toBe('hello\n');
    expect(execFileSync(join(bin, 'ls'), [rootfs], { encoding: 'utf8' }).split('\n')).toEqual(['bin', 'etc', 'root', 'tmp', '']);
    expect(execFileSync(join(bin, 'cat'), [join(rootfs, 'etc/passwd')], { encoding: 'utf8' })).toMatch(/^root:x:0:0:/);
    // What a lab's probe pod does: ask the demo app over HTTP with wget, and over TCP with nc.
    const app = start(join((await unpack('demoApp')).rootfs, 'demo-app'), [], { PORT: '0', VERSION: '7' });
    const port = await waitFor('the listening line', () => /listening on \S*:(\d+)/.exec(app.output())?.[1]);
    expect(execFileSync(join(bin, 'wget'), ['-qO-', `http://127.0.0.1:${port}/`], { encoding: 'utf8' })).toMatch(/^demo-app 7 on /);
    // This busybox's nc has no -z: a TCP check sends something and reads the answer.
    const reply = execFileSync(join(bin, 'nc'), ['-w', '2', '127.0.0.1', port], {
      input: 'GET /readyz HTTP/1.0\r\n\r\n',
      encoding: 'utf8',
    });
    expect(reply).toMatch(/^HTTP\/1.0 200 OK/);
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
    expect(execFileSync('stat', ['-c', '%a', join(rootfs, 'tmp')], { encoding: 'utf8' }).trim()).toBe('1777');
  });
});

describe('coredns', () => {
  it('is the cached CoreDNS alone, static, and says its version', async () => {
    const { rootfs, config } = await unpack('coredns');
    expect(config.config).toMatchObject({ User: '0:0', Entrypoint: ['/coredns'] });
    const binary = join(rootfs, 'coredns');
    expect(isStaticElf(await readFile(binary))).toBe(true);
    expect(execFileSync(binary, ['-version'], { encoding: 'utf8' })).toContain('CoreDNS-1.15.0');
  });
});
