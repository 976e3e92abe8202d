/**
 * The shell pods' image, made without a registry like the others (images.ts):
 * the terminal agent (labs-server/src/agent/, bundled by esbuild into one
 * file, with node-pty's native module beside it), the Node.js that runs this
 * very build, the cluster's kubectl, bash and the everyday programs a
 * learner types (coreutils, grep, sed, awk, jq, less, vi, watch, curl, ps …),
 * each with the shared libraries `ldd` says it needs, copied from this
 * machine. The layout is Debian's merged /usr: everything under /usr, with
 * /bin, /lib, /lib64 and /sbin as links into it. It runs as the learner,
 * uid 65532, with nothing set-uid in it.
 *
 * A program the machine lacks is left out with a line saying so (only
 * bash, node and kubectl are required). The cache key holds the agent's
 * bundle and the SHA-256 of every other file but Node (named by its path,
 * version and size: hashing 120 MB at each start is not worth it).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { build } from 'esbuild';
import { ClusterError } from '../errors.ts';
import { run, which } from '../exec.ts';
import { findKubectl } from '../kubectl.ts';
import { NODE_BUNDLE } from '../node-bundle.ts';
import { projectRoot } from '../paths.ts';
import type { TarEntry } from './tar.ts';

/** The learner's user in the shell pods (and in their securityContext). */
export const SHELL_USER = 65532;
/** Where the agent keeps its shells' folders: an emptyDir in the pod. */
export const SHELL_WORK_DIR = '/work';
/** The agent's port in the image. */
export const SHELL_AGENT_PORT = 7681;

/** Programs a learner's shell has, besides bash and kubectl: the first ones are what the lessons run. */
const PROGRAMS = [
  'jq',
  'cut',
  'tr',
  'base64',
  'tail',
  'head',
  'grep',
  'date',
  'sleep',
  'mkdir',
  'cat',
  'ls',
  'cp',
  'mv',
  'rm',
  'rmdir',
  'touch',
  'ln',
  'chmod',
  'env',
  'sed',
  'awk',
  'sort',
  'uniq',
  'wc',
  'less',
  'more',
  'vi',
  'watch',
  'clear',
  'tput',
  'find',
  'xargs',
  'tee',
  'yes',
  'timeout',
  'id',
  'ps',
  'which',
  'diff',
  'curl',
  'hostname',
  'dirname',
  'basename',
  'stat',
  'du',
  'df',
  'realpath',
  'readlink',
  'seq',
  'expr',
  'mktemp',
  'true',
  'false',
  'printf',
  'test',
  'kill',
] as const;

const PASSWD = `root:x:0:0:root:/root:/usr/sbin/nologin\nlearner:x:${SHELL_USER}:${SHELL_USER}:learner:${SHELL_WORK_DIR}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`;
const GROUP = `root:x:0:\nlearner:x:${SHELL_USER}:\nnobody:x:65534:\n`;

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

let bundled: Promise<Buffer> | undefined;

/** The agent as one file (made once per process: the cache key and the layer both need it); node-pty stays outside, copied beside it. */
export function agentBundle(): Promise<Buffer> {
  bundled ??= build({
    ...NODE_BUNDLE,
    entryPoints: [join(projectRoot, 'labs-server', 'src', 'agent', 'main.ts')],
    write: false,
    legalComments: 'none',
  }).then((result) => {
    const file = result.outputFiles?.[0];
    if (!file) throw new ClusterError('esbuild made no bundle of the terminal agent.', 'Run `npm run typecheck` to see what is wrong.');
    return Buffer.from(file.contents);
  });
  bundled.catch(() => {
    bundled = undefined;
  });
  return bundled;
}

/** node-pty's files the agent loads: its JavaScript (no tests, no Windows parts) and the native module. */
function nodePtyFiles(): string[] {
  const root = join(projectRoot, 'node_modules', 'node-pty');
  const lib = readdirSync(join(root, 'lib'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.js') && !name.endsWith('.test.js') && !/windows|conpty|conout/i.test(name))
    .map((name) => join(root, 'lib', name));
  const native = join(root, 'build', 'Release', 'pty.node');
  if (!existsSync(native)) throw new ClusterError(`${native} is missing.`, 'Run `npm ci` to build node-pty.');
  return [join(root, 'package.json'), ...lib, native].sort();
}

/** The programs the image holds, by their name in /usr/bin, from their real files on this machine. */
function programs(log: (line: string) => void): Map<string, string> {
  const found = new Map<string, string>();
  const missing: string[] = [];
  for (const name of ['bash', ...PROGRAMS]) {
    const path = which(name);
    if (path) found.set(name, realpathSync(path));
    else missing.push(name);
  }
  if (!found.has('bash')) throw new ClusterError('bash is not on PATH.', 'Install it: sudo apt-get install bash');
  if (missing.length > 0) log(`  The shell image goes without ${missing.join(', ')} (not on this machine).`);
  return found;
}

/** The shared libraries (and the loader) a dynamically linked file needs, by the path the loader looks for. */
async function libraries(file: string): Promise<string[]> {
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
function inUsr(path: string): string {
  return relative('/', join(realpathSync(dirname(path)), basename(path)));
}

interface ShellFiles {
  node: string;
  kubectl: string;
  programs: Map<string, string>;
  /** Library paths in the image → the real file on this machine. */
  libraries: Map<string, string>;
  nodePty: string[];
  terminfo: string[];
}

async function shellFiles(log: (line: string) => void): Promise<ShellFiles> {
  const kubectl = findKubectl();
  if (!kubectl) throw new ClusterError('kubectl is not in the cache.', 'Run `npm run cluster -- up` once: it builds kubectl.');
  const found = programs(log);
  const nodePty = nodePtyFiles();
  const native = nodePty.find((f) => f.endsWith('.node')) ?? '';
  const libs = new Map<string, string>();
  for (const binary of [process.execPath, native, ...found.values()]) {
    for (const lib of await libraries(binary)) libs.set(inUsr(lib), realpathSync(lib));
  }
  const terminfo = ['/usr/share/terminfo', '/lib/terminfo']
    .flatMap((dir) => ['x/xterm-256color', 'x/xterm', 'd/dumb'].map((name) => join(dir, name)))
    .filter((path) => existsSync(path));
  return { node: realpathSync(process.execPath), kubectl: realpathSync(kubectl), programs: found, libraries: libs, nodePty, terminfo };
}

/** What decides the layer's bytes, for the cache key. */
export async function shellImageInputs(log: (line: string) => void): Promise<Record<string, unknown>> {
  const files = await shellFiles(log);
  const hashOf = async (path: string) => sha256(await readFile(path));
  const hashes: Record<string, string> = {};
  for (const [name, path] of files.programs) hashes[`usr/bin/${name}`] = await hashOf(path);
  for (const [inImage, path] of files.libraries) hashes[inImage] = await hashOf(path);
  for (const path of [...files.nodePty, ...files.terminfo, files.kubectl]) hashes[path] = await hashOf(path);
  return {
    agent: sha256(await agentBundle()),
    node: { path: files.node, version: process.version, size: statSync(files.node).size },
    files: hashes,
    passwd: PASSWD,
    group: GROUP,
  };
}

/** The layer: merged /usr, the programs and their libraries, Node, kubectl, the agent, a learner user. */
export async function shellImageLayer(log: (line: string) => void): Promise<TarEntry[]> {
  const files = await shellFiles(log);
  const entries: TarEntry[] = [];
  const dirs = new Set<string>();
  const dir = (path: string, mode?: number, owner?: number) => {
    if (dirs.has(path)) return;
    const parent = dirname(path);
    if (parent !== '.') dir(parent);
    dirs.add(path);
    entries.push({
      type: 'dir',
      path,
      ...(mode !== undefined ? { mode } : {}),
      ...(owner !== undefined ? { uid: owner, gid: owner } : {}),
    });
  };
  const file = async (path: string, from: string, mode = 0o644) => {
    dir(dirname(path));
    entries.push({ type: 'file', path, mode, content: await readFile(from) });
  };
  for (const path of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'usr/local/bin', 'etc', 'app']) dir(path);
  for (const link of ['bin', 'sbin', 'lib', 'lib64']) entries.push({ type: 'symlink', path: link, target: `usr/${link}` });
  dir('tmp', 0o1777);
  dir(SHELL_WORK_DIR.slice(1), 0o755, SHELL_USER);
  for (const [name, path] of files.programs) await file(`usr/bin/${name}`, path, 0o755);
  for (const [inImage, path] of files.libraries) await file(inImage, path, 0o755);
  for (const path of files.terminfo) await file(inUsr(path), path);
  await file('usr/local/bin/node', files.node, 0o755);
  await file('usr/local/bin/kubectl', files.kubectl, 0o755);
  const ptyRoot = join(projectRoot, 'node_modules', 'node-pty');
  for (const path of files.nodePty)
    await file(join('app/node_modules/node-pty', relative(ptyRoot, path)), path, path.endsWith('.node') ? 0o755 : 0o644);
  dir('app');
  entries.push({ type: 'file', path: 'app/agent.mjs', mode: 0o644, content: await agentBundle() });
  entries.push({ type: 'file', path: 'etc/passwd', content: Buffer.from(PASSWD) });
  entries.push({ type: 'file', path: 'etc/group', content: Buffer.from(GROUP) });
  return entries;
}
