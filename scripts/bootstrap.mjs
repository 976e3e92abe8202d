#!/usr/bin/env node
// The one entry point behind every npm script. Plain JavaScript with no
// dependencies, so it runs on whatever Node the machine has: it makes sure a
// Node new enough for the project is at hand (bringing a current LTS from the
// npm registry into .tools/ when the machine's is older), installs the
// project's packages when the lockfile changed, then runs the task's
// TypeScript entry with that Node. Progress goes to stderr so that stdout
// stays the task's own (`npm run -s cluster -- kubeconfig` prints a path only).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
/** The oldest Node the project runs on: Astro 7 and Vitest 5 need 22.12, type stripping 22.18. */
const MINIMUM = [22, 18, 0];
/** The Node brought in when the machine's is older. */
const LTS = '24.21.0';

const TASKS = {
  start: ['scripts/serve.ts'],
  dev: ['scripts/dev.ts'],
  test: ['scripts/test.ts'],
  'test:browser': ['node_modules/@playwright/test/cli.js', 'test'],
  cluster: ['cluster/src/main.ts'],
  typecheck: ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'],
  lint: ['node_modules/@biomejs/biome/bin/biome', 'check', '.'],
  openapi: ['scripts/openapi.ts'],
};

function say(line) {
  process.stderr.write(`${line}\n`);
}

function fail(line, hint) {
  say(`error: ${line}`);
  if (hint) say(hint);
  process.exit(1);
}

function newEnough(version) {
  const parts = version.replace(/^v/, '').split('.').map(Number);
  for (let i = 0; i < 3; i += 1) {
    if (parts[i] !== MINIMUM[i]) return parts[i] > MINIMUM[i];
  }
  return true;
}

/** The folder holding `include/node` for native builds, inside an npm-installed Node. */
function headersDir(prefix) {
  const arch = `node-${process.platform}-${process.arch}`;
  const candidates = [join(prefix, 'node_modules', 'node', 'node_modules', arch), join(prefix, 'node_modules', arch)];
  return candidates.find((dir) => existsSync(join(dir, 'include', 'node', 'node.h')));
}

function projectNode() {
  const prefix = join(root, '.tools', `node-v${LTS}`);
  const bin = join(prefix, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(bin)) {
    say(`Node ${process.version} is older than ${MINIMUM.join('.')}; fetching Node ${LTS} from the npm registry into .tools/ (once)…`);
    const started = Date.now();
    // A package.json of its own, so the install does not touch the project's
    // and so npm lets the `node` package run the script that fetches its binary.
    mkdirSync(prefix, { recursive: true });
    const manifest = { private: true, dependencies: { node: LTS }, allowScripts: { node: true } };
    writeFileSync(join(prefix, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const result = spawnSync('npm', ['install', '--no-package-lock', '--no-audit', '--no-fund'], { cwd: prefix, stdio: ['ignore', 2, 2] });
    if (result.error || result.status !== 0 || !existsSync(bin)) {
      fail(
        `could not install Node ${LTS} with npm (${result.error?.message ?? `exit ${result.status}`}).`,
        `Install Node ${MINIMUM.join('.')} or newer yourself (https://nodejs.org) and run the command again.`,
      );
    }
    say(`Node ${LTS} is ready (${((Date.now() - started) / 1000).toFixed(1)} s).`);
  }
  return { bin, headers: headersDir(prefix) };
}

function lockHash() {
  return createHash('sha256')
    .update(readFileSync(join(root, 'package-lock.json')))
    .digest('hex');
}

function ensurePackages(env) {
  const marker = join(root, 'node_modules', '.container-day-labs-installed');
  const wanted = lockHash();
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === wanted) return;
  say("Installing the project's packages (npm ci)…");
  const started = Date.now();
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, env, stdio: ['ignore', 2, 2] });
  if (result.error || result.status !== 0) {
    fail(
      `npm ci failed (${result.error?.message ?? `exit ${result.status}`}); its output is above.`,
      'Fix what it names (network, disk space, a compiler for node-pty), then run the command again.',
    );
  }
  writeFileSync(marker, `${wanted}\n`);
  say(`Packages installed (${((Date.now() - started) / 1000).toFixed(1)} s).`);
}

function main() {
  const [task, ...args] = process.argv.slice(2);
  const entry = TASKS[task];
  if (!entry) fail(`unknown task "${task}"; one of: ${Object.keys(TASKS).join(', ')}.`);

  let node = process.execPath;
  const env = { ...process.env };
  if (!newEnough(process.version)) {
    const local = projectNode();
    node = local.bin;
    env.PATH = `${dirname(local.bin)}${delimiter}${env.PATH ?? ''}`;
    if (local.headers) env.npm_config_nodedir = local.headers;
  }
  ensurePackages(env);

  // Where Node can, the task takes over this process (one process, not a child kept alive by this one).
  if (typeof process.execve === 'function') {
    process.chdir(root);
    process.execve(node, [node, ...entry, ...args], env);
  }
  const child = spawn(node, [...entry, ...args], { cwd: root, env, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1);
  });
}

main();
