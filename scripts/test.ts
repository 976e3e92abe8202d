/**
 * `npm test`: every check the project has, in order of cost: the type check,
 * the linter (Biome, over the `.astro` files too), the site's build, the
 * site's type check (its `.ts` files with TypeScript 7, then its `.astro`
 * files with scripts/astro-check.ts, Astro's checker on TypeScript 6), Vitest (unit
 * tests, and the tests on a real local cluster with a real node beside the
 * simulated ones, which its global setup starts; then the tests that need
 * the machine to themselves, test/machine/), then the browser tests (Playwright in the system's Chromium, against the
 * real server and cluster).
 * Arguments go to Vitest, e.g. `npm test -- --project unit`, and leave the
 * browser tests out (`npm run test:browser` runs them alone).
 */
import { spawnSync } from 'node:child_process';
import { BROWSER_PROGRAMS, chromiumPath, ensurePrograms, SANDBOX_PROGRAMS, SystemPackageError } from '../cluster/src/system-packages.ts';

const vitestArgs = process.argv.slice(2);
const browserTests = vitestArgs.length === 0;

// The terminal tests run shells in bubblewrap, as a workshop does; the browser tests drive Chromium.
try {
  const browser = browserTests && !chromiumPath() ? BROWSER_PROGRAMS : [];
  ensurePrograms([...SANDBOX_PROGRAMS, ...browser], (line) => process.stderr.write(`${line}\n`));
} catch (error) {
  if (!(error instanceof SystemPackageError)) throw error;
  process.stderr.write(`error: ${error.message}\n${error.hint}\n`);
  process.exit(1);
}

const steps: Array<{ name: string; args: string[] }> = [
  { name: 'type check', args: ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'] },
  { name: 'lint', args: ['node_modules/@biomejs/biome/bin/biome', 'check', '.'] },
  // The lessons' front matter is validated by the content schema as the site builds.
  { name: 'site build', args: ['scripts/build-site.ts'] },
  // The browser code, with the content types the build generated.
  { name: 'site type check', args: ['node_modules/typescript/bin/tsc', '--noEmit', '-p', 'site'] },
  // The components and pages, which tsc does not read (`astro check` cannot run on TypeScript 7: scripts/astro-check.ts says why).
  { name: 'astro check', args: ['scripts/astro-check.ts'] },
  // The unit tests and those on the shared cluster; then those that need the machine to themselves.
  ...(vitestArgs.length > 0
    ? [{ name: 'tests', args: ['node_modules/vitest/vitest.mjs', 'run', ...vitestArgs] }]
    : [
        { name: 'tests', args: ['node_modules/vitest/vitest.mjs', 'run', '--project', 'unit', '--project', 'cluster'] },
        { name: 'tests that own the machine', args: ['node_modules/vitest/vitest.mjs', 'run', '--project', 'machine'] },
      ]),
];
if (browserTests) {
  steps.push({ name: 'browser tests', args: ['node_modules/@playwright/test/cli.js', 'test'] });
} else {
  process.stderr.write('Arguments choose Vitest tests: the browser tests are left out (npm run test:browser runs them).\n');
}

for (const step of steps) {
  process.stderr.write(`\n▶ ${step.name}\n`);
  const started = Date.now();
  const result = spawnSync(process.execPath, step.args, { stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    process.stderr.write(`✖ ${step.name} failed after ${seconds} s\n`);
    process.exit(result.status ?? 1);
  }
  process.stderr.write(`✔ ${step.name} (${seconds} s)\n`);
}
