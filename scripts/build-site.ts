/**
 * Builds the lesson site into site/dist (Astro, with every lesson's front
 * matter validated by the content schema) and its search index (Pagefind,
 * which runs offline in the page), then fails if anything in it would load
 * from another origin (offline-check.ts). `npm start` calls it when the site is
 * missing or older than its sources; `npm test` always does.
 */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../cluster/src/paths.ts';
import { UserError } from '../contract/errors.ts';
import { olderThanSources } from './freshness.ts';
import { externalReferences } from './offline-check.ts';

export const SITE_DIST = join(projectRoot, 'site', 'dist');
const SOURCES = ['site/src', 'site/astro.config.mjs', 'content/lessons', 'contract'].map((p) => join(projectRoot, p));

/** Whether site/dist is missing or older than anything it is built from. */
export function siteStale(): boolean {
  // A copy without the site's sources (the server's image) serves the site it was made with.
  if (!existsSync(join(projectRoot, 'site', 'src'))) return false;
  const index = join(SITE_DIST, 'index.html');
  if (!existsSync(index) || !existsSync(join(SITE_DIST, 'pagefind'))) return true;
  // The site's type check reads the content types that a build generates.
  if (!existsSync(join(projectRoot, 'site', '.astro', 'types.d.ts'))) return true;
  return olderThanSources(index, SOURCES);
}

export class SiteBuildError extends UserError {
  constructor(message: string) {
    super(
      'site_build',
      message,
      'Fix what it names in content/lessons or site/, then start again; `npm run dev` shows a lesson as it is saved.',
    );
  }
}

export async function buildSite(say: (line: string) => void): Promise<void> {
  const started = Date.now();
  say('Building the lesson site…');
  const astro = spawnSync(
    process.execPath,
    [join(projectRoot, 'node_modules/astro/bin/astro.mjs'), 'build', '--root', join(projectRoot, 'site'), '--silent'],
    {
      cwd: projectRoot,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ASTRO_TELEMETRY_DISABLED: '1' },
    },
  );
  if (astro.status !== 0)
    throw new SiteBuildError(`the site did not build (astro exited with ${astro.status ?? astro.signal}); its messages are above`);
  const pagefind = await import('pagefind');
  const { index, errors } = await pagefind.createIndex({});
  if (!index) throw new SiteBuildError(`Pagefind could not start: ${errors.join('; ')}`);
  const added = await index.addDirectory({ path: SITE_DIST });
  if (added.errors.length > 0) throw new SiteBuildError(`Pagefind could not index the site: ${added.errors.join('; ')}`);
  const written = await index.writeFiles({ outputPath: join(SITE_DIST, 'pagefind') });
  if (written.errors.length > 0) throw new SiteBuildError(`Pagefind could not write its index: ${written.errors.join('; ')}`);
  await pagefind.close();
  // Nothing may come from another origin: the lessons work without internet.
  const external = externalReferences(SITE_DIST);
  if (external.length > 0) {
    const list = external.slice(0, 10).map((r) => `${r.file} loads ${r.url}`);
    throw new SiteBuildError(
      `the site loads ${external.length} thing${external.length === 1 ? '' : 's'} from other origins, and must work offline: ${list.join('; ')}`,
    );
  }
  say(`Built the lesson site: ${added.page_count} pages indexed for search (${((Date.now() - started) / 1000).toFixed(1)} s).`);
}

// `node scripts/build-site.ts` builds it once.
if (import.meta.main) {
  await buildSite((line) => process.stderr.write(`${line}\n`));
}
