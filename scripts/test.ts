/**
 * `npm test`: every check the project has, in order of cost: the type check,
 * the linter, the site's build, then Vitest (unit tests, and the tests on a real local cluster
 * that its global setup starts). Arguments go to Vitest, e.g.
 * `npm test -- --project unit`.
 */
import { spawnSync } from 'node:child_process';
import { ensurePrograms, SANDBOX_PROGRAMS, SystemPackageError } from './system-packages.ts';

// The terminal tests run shells in bubblewrap, as a workshop does.
try {
  ensurePrograms(SANDBOX_PROGRAMS, (line) => process.stderr.write(`${line}\n`));
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
  { name: 'tests', args: ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)] },
];

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
