/**
 * How the project's Node programs are bundled by esbuild (the lab server,
 * scripts/server-bundle.ts; the terminal agent, local/shell-image.ts): one
 * ESM file for Node 22 and later, minified with names kept (errors and
 * classes stay readable in logs), node-pty left outside (it is native).
 */
import type { BuildOptions } from 'esbuild';

/**
 * `import.meta.url`, spelled in pieces: the server's bundle rewrites that
 * expression wherever it appears in the project's sources, strings included
 * (scripts/server-bundle.ts), and this module is part of it.
 */
const META_URL = ['import', 'meta', 'url'].join('.');

export const NODE_BUNDLE: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minify: true,
  keepNames: true,
  external: ['node-pty'],
  logLevel: 'warning',
  // A module that is also a script (scripts/build-site.ts builds the site when it is the main module) is never the main one in a bundle.
  define: { 'import.meta.main': 'false' },
  // The bundle is ESM; the CommonJS packages inside it still call require().
  banner: { js: `import { createRequire as __cdlRequire } from 'node:module'; const require = __cdlRequire(${META_URL});` },
};
