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
import { existsSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ClusterError } from '../errors.ts';
import { which } from '../exec.ts';
import { findKubectl } from '../kubectl.ts';
import { NODE_BUNDLE } from '../node-bundle.ts';
import { projectRoot } from '../paths.ts';
import { hashFiles, inUsr, LayerFiles, librariesOf, nodePtyFiles, sha256 } from './layer-files.ts';
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

/** The programs a shell has (bash and PROGRAMS), by their name in /usr/bin, from their real files on this machine; also what the server's image runs verify scripts with. */
export function everydayPrograms(log: (line: string) => void): Map<string, string> {
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

interface ShellFiles {
  node: string;
  kubectl: string;
  programs: Map<string, string>;
  /** Library paths in the image → the real file on this machine. */
  libraries: Map<string, string>;
  nodePty: string[];
  terminfo: string[];
}

let found: Promise<ShellFiles> | undefined;

/** The files of the image, found once per process (the cache key and the layer both need them). */
function shellFiles(log: (line: string) => void): Promise<ShellFiles> {
  found ??= findShellFiles(log);
  found.catch(() => {
    found = undefined;
  });
  return found;
}

async function findShellFiles(log: (line: string) => void): Promise<ShellFiles> {
  const kubectl = findKubectl();
  if (!kubectl) throw new ClusterError('kubectl is not in the cache.', 'Run `npm run cluster -- up` once: it builds kubectl.');
  const binaries = everydayPrograms(log);
  const nodePty = nodePtyFiles();
  const native = nodePty.find((f) => f.endsWith('.node')) ?? '';
  const libs = await librariesOf([process.execPath, native, ...binaries.values()]);
  const terminfo = ['/usr/share/terminfo', '/lib/terminfo']
    .flatMap((dir) => ['x/xterm-256color', 'x/xterm', 'd/dumb'].map((name) => join(dir, name)))
    .filter((path) => existsSync(path));
  return { node: realpathSync(process.execPath), kubectl: realpathSync(kubectl), programs: binaries, libraries: libs, nodePty, terminfo };
}

/** What decides the layer's bytes, for the cache key. */
export async function shellImageInputs(log: (line: string) => void): Promise<Record<string, unknown>> {
  const files = await shellFiles(log);
  const hashes = await hashFiles([
    ...files.programs.values(),
    ...files.libraries.values(),
    ...files.nodePty,
    ...files.terminfo,
    files.kubectl,
  ]);
  return {
    agent: sha256(await agentBundle()),
    node: { path: files.node, version: process.version, size: statSync(files.node).size },
    files: hashes,
    programs: Object.fromEntries(files.programs),
    libraries: Object.fromEntries(files.libraries),
    passwd: PASSWD,
    group: GROUP,
  };
}

/** The layer: merged /usr, the programs and their libraries, Node, kubectl, the agent, a learner user. */
export async function shellImageLayer(log: (line: string) => void): Promise<TarEntry[]> {
  const files = await shellFiles(log);
  const layer = LayerFiles.mergedUsr();
  layer.dir(SHELL_WORK_DIR.slice(1), 0o755, SHELL_USER);
  const binaries = new Map([...files.programs].map(([name, path]) => [`usr/bin/${name}`, path]));
  binaries.set('usr/local/bin/node', files.node);
  binaries.set('usr/local/bin/kubectl', files.kubectl);
  await layer.programs(binaries, files.libraries);
  for (const path of files.terminfo) await layer.file(inUsr(path), path);
  await layer.nodePty('app/node_modules', files.nodePty);
  layer.content('app/agent.mjs', await agentBundle());
  layer.content('etc/passwd', Buffer.from(PASSWD));
  layer.content('etc/group', Buffer.from(GROUP));
  return layer.entries;
}
