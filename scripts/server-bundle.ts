/**
 * The lab server as one JavaScript file, for `npm start`. Run from its
 * TypeScript sources, the server holds every module's source text and
 * module record (about two thousand of @kubernetes/client-node's alone) and
 * the type stripper's WebAssembly: a bundle, minified, made once by esbuild
 * (about a second and a half) and again only when a source changes, starts
 * faster and holds about 45 MiB less. node-pty, being native, stays outside.
 *
 * Modules that find files beside themselves (`import.meta.url`: the
 * project's root, the labs' folder) keep their own URL inside the bundle.
 */
import { readFile, rename } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { NODE_BUNDLE } from '../cluster/src/node-bundle.ts';
import { projectRoot } from '../cluster/src/paths.ts';
import { olderThanSources } from './freshness.ts';

export const SERVER_BUNDLE = join(projectRoot, '.build', 'server.mjs');
const ENTRY = join(projectRoot, 'scripts', 'start.ts');
/** The code the bundle holds (the labs' YAML and the lessons are read at run time, so their changes need no new bundle). */
const SOURCES = [
  'cluster/src',
  'contract',
  'content/load.ts',
  'content/lessons.ts',
  'checks',
  'labs-server/src',
  'scripts',
  'package-lock.json',
].map((p) => join(projectRoot, p));

/** Whether the bundle is missing or older than a source. */
export function bundleStale(): boolean {
  return olderThanSources(SERVER_BUNDLE, SOURCES);
}

/**
 * `import.meta.url` of each of the project's modules, kept as the module's
 * own file: where it is in this checkout, or where it is under `root` (a
 * bundle for an image, whose project lives elsewhere).
 */
function ownUrls(root = projectRoot): Plugin {
  return {
    name: 'own-import-meta-url',
    setup(esbuild) {
      esbuild.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (!args.path.startsWith(projectRoot) || args.path.includes('/node_modules/')) return undefined;
        const text = await readFile(args.path, 'utf8');
        const url = pathToFileURL(join(root, relative(projectRoot, args.path))).href;
        return { contents: text.replaceAll('import.meta.url', JSON.stringify(url)), loader: 'ts' };
      });
    },
  };
}

/** The server's bundle for an image whose project root is `root`, with its licence comments: the bundle, then the licences. */
export async function serverBundleFor(root: string): Promise<{ bundle: Buffer; legal: Buffer }> {
  const result = await build({
    ...NODE_BUNDLE,
    entryPoints: [ENTRY],
    outfile: join(root, '.build', 'server.mjs'),
    write: false,
    legalComments: 'external',
    plugins: [ownUrls(root)],
  });
  const output = (suffix: string) => Buffer.from(result.outputFiles.find((file) => file.path.endsWith(suffix))?.contents ?? []);
  return { bundle: output('server.mjs'), legal: output('.LEGAL.txt') };
}

/** Builds the bundle when it is stale; returns its path. */
export async function serverBundle(say: (line: string) => void): Promise<string> {
  if (!bundleStale()) return SERVER_BUNDLE;
  const started = Date.now();
  // Written beside it and renamed into place: a server started meanwhile (another test, another terminal) never runs half a bundle.
  const next = SERVER_BUNDLE.replace(/\.mjs$/, `.${process.pid}.mjs`);
  await build({
    ...NODE_BUNDLE,
    entryPoints: [ENTRY],
    outfile: next,
    // Licence comments go beside the bundle: one non-ASCII letter in one would make V8 hold the whole source at two bytes a character.
    legalComments: 'external',
    plugins: [ownUrls()],
  });
  await rename(`${next}.LEGAL.txt`, `${SERVER_BUNDLE}.LEGAL.txt`).catch(() => undefined);
  await rename(next, SERVER_BUNDLE);
  say(`Bundled the server (${((Date.now() - started) / 1000).toFixed(1)} s).`);
  return SERVER_BUNDLE;
}
