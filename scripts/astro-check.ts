/**
 * Type-checks the site's `.astro` components and pages (front matter,
 * templates and `<script>`s), as `astro check` would; their `.ts` imports are
 * read for their types but are the site type check's to report (`tsc -p site`).
 * `npm test` runs it after the site build, which generates the content types
 * it reads. Exits 1 on any error.
 *
 * Why not `astro check` itself: it needs TypeScript's programmatic Language
 * Service API, which TypeScript 7's native compiler does not ship yet
 * (withastro/roadmap#1321), and it refuses to run when the project's
 * `typescript` is 7. So this drives the same checker, AstroCheck from
 * @astrojs/language-server, on TypeScript 6. package.json's `overrides` set
 * that up:
 * - `@astrojs/language-server` → `typescript` is Microsoft's side-by-side
 *   TypeScript 6 (@typescript/typescript6), for the language server and the
 *   @volar/kit inside it only; everything else keeps TypeScript 7;
 * - `@astrojs/astro2tsx` → `@emnapi/runtime` 1.11.3, the version its
 *   `@emnapi/core` is pinned to (the 2.0 beta hoisted for Astro's compiler
 *   makes it crash with "this.bridge.setLastError is not a function").
 * Once Astro checks `.astro` files with TypeScript 7.1+
 * (@astrojs/ts-content-mapper), this file and those overrides can go.
 */

import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AstroCheck } from '@astrojs/language-server';

const siteRoot = fileURLToPath(new URL('../site/', import.meta.url));
// The TypeScript 6 that @volar/kit, inside the language server, loads for itself: the checker must use the same one.
const fromLanguageServer = createRequire(createRequire(import.meta.url).resolve('@astrojs/language-server'));
const typescript = fromLanguageServer.resolve('typescript');
const { version } = fromLanguageServer('typescript') as { version: string };

const started = Date.now();
const checker = new AstroCheck(siteRoot, typescript, 'tsconfig.json');
// The .ts files are the site type check's (TypeScript 7); they are still read here for their types.
const astroFiles = checker.linter.getRootFileNames().filter((file) => file.endsWith('.astro'));
if (astroFiles.length === 0) {
  process.stderr.write(`error: no .astro file is in ${relative(process.cwd(), siteRoot)}/tsconfig.json's "include", so none was checked\n`);
  process.exit(1);
}
const result = await checker.lint({ fileNames: astroFiles, logErrors: { level: 'warning' } });
const seconds = ((Date.now() - started) / 1000).toFixed(1);
process.stderr.write(
  `Checked ${result.fileChecked} .astro files with TypeScript ${version} in ${seconds} s: ` +
    `${result.errors} errors, ${result.warnings} warnings.\n`,
);
if (result.errors > 0) process.exit(1);
