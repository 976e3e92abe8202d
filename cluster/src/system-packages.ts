/**
 * The few programs the platform needs from the operating system rather than
 * from npm: bubblewrap (the workshop terminal's sandbox) and socat (its one
 * way out, to the API server); for the browser tests, Chromium; for the
 * busybox image of the real node's pods, busybox-static; for the real node
 * itself, its container runtime and network tools. Where one is missing on a
 * Debian or Ubuntu machine and we run as root, it is installed with apt-get,
 * once; otherwise the error says which package to install.
 */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { UserError } from '../../contract/errors.ts';
import { type Environment, testSettings } from '../../contract/settings.ts';
import { which } from './exec.ts';

export type SystemProgram = {
  command: string;
  aptPackage: string;
  why: string;
  /** A file to look for instead of `command` on PATH (plugins that are run by path, not found on PATH). */
  file?: string;
};

export const SANDBOX_PROGRAMS: SystemProgram[] = [
  { command: 'bwrap', aptPackage: 'bubblewrap', why: 'sandboxes workshop terminals' },
  { command: 'socat', aptPackage: 'socat', why: "relays a sandboxed terminal's kubectl to the API server" },
  { command: 'setpriv', aptPackage: 'util-linux', why: "drops a workshop terminal's launcher to the learner's own uid" },
  { command: 'jq', aptPackage: 'jq', why: "reads JSON in a learner's shell (the audit log lab queries its log with it)" },
];

/**
 * The busybox image is Debian's statically linked busybox on an empty layer
 * (cluster/src/local/images.ts); Debian's plain `busybox` package is
 * dynamically linked and cannot run alone in a container.
 */
export const IMAGE_PROGRAMS: SystemProgram[] = [{ command: 'busybox', aptPackage: 'busybox-static', why: 'makes the busybox image' }];

/**
 * The real node's runtime (cluster/src/local/real-node.ts): containerd and
 * runc, the CNI plugins (run by path from Debian's folder), iptables for the
 * pods' masquerading and kube-proxy, ip for the bridge, openssl for the
 * node's certificates.
 */
export const NODE_PROGRAMS: SystemProgram[] = [
  { command: 'containerd', aptPackage: 'containerd', why: "runs the real node's containers" },
  { command: 'ctr', aptPackage: 'containerd', why: "imports the real node's images" },
  { command: 'runc', aptPackage: 'runc', why: "starts the real node's containers" },
  { command: 'bridge', file: '/usr/lib/cni/bridge', aptPackage: 'containernetworking-plugins', why: "connects the real node's pods" },
  { command: 'iptables', aptPackage: 'iptables', why: "routes the real node's Service traffic" },
  { command: 'ipset', aptPackage: 'ipset', why: "keeps the sets of pods the real node's NetworkPolicy rules match" },
  { command: 'ip', aptPackage: 'iproute2', why: "makes the real node's bridge" },
  { command: 'openssl', aptPackage: 'openssl', why: "signs the real node's certificates" },
];

/** The browser tests drive the system's Chromium: a test tool's own browser download needs the internet. */
export const BROWSER_PROGRAMS: SystemProgram[] = [{ command: 'chromium', aptPackage: 'chromium', why: 'runs the browser tests' }];

/** The Chromium the browser tests drive: `CHROMIUM_PATH`, else `chromium` or `chromium-browser` on PATH. */
export function chromiumPath(env: Environment = process.env): string | undefined {
  return testSettings(env).CHROMIUM_PATH ?? which('chromium', env) ?? which('chromium-browser', env);
}

export class SystemPackageError extends UserError {
  declare readonly hint: string;
  constructor(message: string, hint: string) {
    super('system_package', message, hint);
  }
}

function aptGet(args: string[], say: (line: string) => void): boolean {
  say(`  apt-get ${args.join(' ')}`);
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
  });
  if (result.status !== 0) say(`  ${result.stderr.trim().split('\n').slice(-2).join('\n  ')}`);
  return result.status === 0;
}

/** Makes sure every program is on PATH, installing the missing ones with apt-get where it can. */
export function ensurePrograms(programs: SystemProgram[], say: (line: string) => void): void {
  const present = (program: SystemProgram) => (program.file ? existsSync(program.file) : which(program.command) !== undefined);
  const missing = programs.filter((program) => !present(program));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((program) => program.aptPackage))];
  const list = missing.map((program) => `${program.command} (${program.why})`).join(', ');
  const manual = `Install them and run the command again: sudo apt-get install ${packages.join(' ')} (Debian, Ubuntu) or your system's equivalent.`;
  if (!which('apt-get')) throw new SystemPackageError(`missing ${list}, and this system has no apt-get.`, manual);
  if (process.getuid?.() !== 0) throw new SystemPackageError(`missing ${list}.`, manual);
  const started = Date.now();
  say(`Installing ${packages.join(', ')} with apt-get (once): ${list}…`);
  const install = ['install', '-y', '--no-install-recommends', ...packages];
  // An empty or stale package index makes the first install fail; refresh it once and retry.
  const installed = aptGet(install, say) || (aptGet(['update'], say) && aptGet(install, say));
  const stillMissing = missing.filter((program) => !present(program));
  if (!installed || stillMissing.length > 0) {
    throw new SystemPackageError(`apt-get could not install ${packages.join(' ')}.`, manual);
  }
  say(`Installed ${packages.join(', ')} (${((Date.now() - started) / 1000).toFixed(1)} s).`);
}
