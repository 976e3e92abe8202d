/**
 * The lab server's image, made without a registry like the others
 * (images.ts), for the Helm chart on the local cluster: the Node.js that
 * runs this very build with the shared libraries it needs, the server's
 * bundle (scripts/server-bundle.ts, made for a project at /app) with
 * node-pty beside it, the labs and the lessons it reads at run time, and
 * the built site. It runs as uid 65532 on a read-only root, as the chart
 * runs it; what it writes goes to /tmp. Verify scripts (a lab step checked
 * by a shell script) need bash, kubectl and a shell's everyday programs:
 * the shell image's, from the same machine.
 *
 * The site must be built first (`npm run build`, which `npm test` does):
 * an image without it would serve no lessons, so that is an error.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { serverBundleFor } from '../../../scripts/server-bundle.ts';
import { ClusterError } from '../errors.ts';
import { findKubectl } from '../kubectl.ts';
import { projectRoot } from '../paths.ts';
import { filesUnder, hashFiles, LayerFiles, librariesOf, nodePtyFiles, sha256 } from './layer-files.ts';
import { everydayPrograms } from './shell-image.ts';
import type { TarEntry } from './tar.ts';

/** Where the project is in the image. */
export const SERVER_APP_DIR = '/app';
/** The server's user in the image (and in the chart's securityContext). */
export const SERVER_USER = 65532;
export const SERVER_PORT = 4321;

const PASSWD = `root:x:0:0:root:/root:/usr/sbin/nologin\nserver:x:${SERVER_USER}:${SERVER_USER}:server:/tmp:/usr/sbin/nologin\n`;
const GROUP = `root:x:0:\nserver:x:${SERVER_USER}:\n`;

/** What the server reads beside its bundle at run time: the labs and lessons, and the site. */
const RUNTIME_DIRS = ['content/labs', 'content/lessons', 'site/dist'] as const;

interface ServerFiles {
  node: string;
  kubectl: string;
  /** Programs by their name in /usr/bin → their file on this machine. */
  programs: Map<string, string>;
  libraries: Map<string, string>;
  nodePty: string[];
  /** Files of RUNTIME_DIRS, by their path in this checkout. */
  runtime: string[];
}

async function findServerFiles(log: (line: string) => void): Promise<ServerFiles> {
  if (!existsSync(join(projectRoot, 'site', 'dist', 'index.html'))) {
    throw new ClusterError('The site is not built, and the server image serves it.', 'Run `npm run build` first.');
  }
  const kubectl = findKubectl();
  if (!kubectl) throw new ClusterError('kubectl is not in the cache.', 'Run `npm run cluster -- up` once: it builds kubectl.');
  const programs = everydayPrograms(log);
  const nodePty = nodePtyFiles();
  const native = nodePty.find((f) => f.endsWith('.node')) ?? '';
  return {
    node: realpathSync(process.execPath),
    kubectl: realpathSync(kubectl),
    programs,
    libraries: await librariesOf([process.execPath, native, ...programs.values()]),
    nodePty,
    runtime: RUNTIME_DIRS.flatMap((dir) => filesUnder(join(projectRoot, dir))),
  };
}

let found: Promise<ServerFiles> | undefined;
let bundled: Promise<{ bundle: Buffer; legal: Buffer }> | undefined;

/** The files, found once per process (the cache key and the layer both need them). */
function serverFiles(log: (line: string) => void): Promise<ServerFiles> {
  found ??= findServerFiles(log);
  found.catch(() => {
    found = undefined;
  });
  return found;
}

/** The bundle, made once per process. */
function bundle(): Promise<{ bundle: Buffer; legal: Buffer }> {
  bundled ??= serverBundleFor(SERVER_APP_DIR);
  bundled.catch(() => {
    bundled = undefined;
  });
  return bundled;
}

/** What decides the layer's bytes, for the cache key. */
export async function serverImageInputs(log: (line: string) => void): Promise<Record<string, unknown>> {
  const files = await serverFiles(log);
  return {
    bundle: sha256((await bundle()).bundle),
    node: { path: files.node, version: process.version, size: statSync(files.node).size },
    programs: Object.fromEntries(files.programs),
    libraries: Object.fromEntries(files.libraries),
    files: await hashFiles([files.kubectl, ...files.programs.values(), ...files.libraries.values(), ...files.nodePty, ...files.runtime]),
    passwd: PASSWD,
  };
}

/** The layer: merged /usr, Node, kubectl, bash and the everyday programs with their libraries, /app with the bundle, node-pty, the content and the site. */
export async function serverImageLayer(log: (line: string) => void): Promise<TarEntry[]> {
  const files = await serverFiles(log);
  const { bundle: code, legal } = await bundle();
  const app = SERVER_APP_DIR.slice(1);
  const layer = LayerFiles.mergedUsr();
  const binaries = new Map([...files.programs].map(([name, path]) => [`usr/bin/${name}`, path]));
  binaries.set('usr/local/bin/node', files.node);
  binaries.set('usr/local/bin/kubectl', files.kubectl);
  await layer.programs(binaries, files.libraries);
  await layer.nodePty(`${app}/node_modules`, files.nodePty);
  layer.content(`${app}/.build/server.mjs`, code);
  layer.content(`${app}/.build/server.mjs.LEGAL.txt`, legal);
  for (const path of files.runtime) await layer.file(join(app, relative(projectRoot, path)), path);
  layer.content('etc/passwd', Buffer.from(PASSWD));
  layer.content('etc/group', Buffer.from(GROUP));
  return layer.entries;
}
