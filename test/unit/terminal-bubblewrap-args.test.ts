/**
 * The workshop sandbox's command line, pinned flag by flag: any change to
 * an isolation flag, a mount, a size or the order bubblewrap applies them
 * in fails here and shows in review. Also the environment the shell starts
 * with and the /etc files it sees.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bubblewrapArgs, type SandboxLayout, sandboxEntry, sandboxEnv } from '../../labs-server/src/terminal/bubblewrap-args.ts';
import { group, HOSTS, passwd, writeAccountFiles } from '../../labs-server/src/terminal/sandbox-etc.ts';
import { DEFAULT_SHELL_LIMITS } from '../../labs-server/src/terminal/shell-limits.ts';

const MiB = 1024 * 1024;

const LAYOUT: SandboxLayout = {
  workspaceDir: '/run/state/terminals/s-1_palette',
  relaySocket: '/run/state/run/200001.sock',
  passwdFile: '/run/state/terminals/s-1_palette/passwd',
  groupFile: '/run/state/terminals/s-1_palette/group',
  hostsFile: '/run/state/etc/hosts',
  kubectl: '/run/state/bin/kubectl',
  tmpBytes: DEFAULT_SHELL_LIMITS.tmpBytes,
  homeBytes: DEFAULT_SHELL_LIMITS.homeBytes,
  lib64: true,
  filesDir: '/run/state/terminals/s-1_palette/files',
};

describe("the sandbox's command line", () => {
  it('is exactly this list', () => {
    expect(DEFAULT_SHELL_LIMITS).toMatchObject({ tmpBytes: 64 * MiB, homeBytes: 128 * MiB });
    expect(bubblewrapArgs(LAYOUT)).toEqual([
      'bwrap',
      // isolation
      '--die-with-parent',
      '--unshare-all',
      '--unshare-user',
      '--disable-userns',
      '--cap-drop',
      'ALL',
      '--seccomp',
      '3',
      '--hostname',
      'workshop',
      // system: /usr read-only, nothing else of the host's
      '--ro-bind',
      '/usr',
      '/usr',
      '--symlink',
      'usr/bin',
      '/bin',
      '--symlink',
      'usr/sbin',
      '/sbin',
      '--symlink',
      'usr/lib',
      '/lib',
      '--symlink',
      'usr/lib64',
      '/lib64',
      // processes
      '--proc',
      '/proc',
      // devices
      '--dev',
      '/dev',
      '--size',
      String(16 * MiB),
      '--tmpfs',
      '/dev/shm',
      // scratch
      '--size',
      String(64 * MiB),
      '--tmpfs',
      '/tmp',
      // workspace
      '--dir',
      '/run/cdl',
      '--bind',
      '/run/state/run/200001.sock',
      '/run/cdl/api.sock',
      '--ro-bind',
      '/run/state/terminals/s-1_palette',
      '/run/cdl/terminal',
      // etc
      '--ro-bind',
      '/run/state/terminals/s-1_palette/passwd',
      '/etc/passwd',
      '--ro-bind',
      '/run/state/terminals/s-1_palette/group',
      '/etc/group',
      '--ro-bind',
      '/run/state/etc/hosts',
      '/etc/hosts',
      '--ro-bind-try',
      '/etc/terminfo',
      '/etc/terminfo',
      '--ro-bind-try',
      '/etc/inputrc',
      '/etc/inputrc',
      // tools
      '--ro-bind',
      '/run/state/bin/kubectl',
      '/opt/cdl/bin/kubectl',
      // home
      '--size',
      String(128 * MiB),
      '--tmpfs',
      '/home/learner',
      '--dir',
      '/home/learner/.kube',
      '--ro-bind',
      '/run/state/terminals/s-1_palette/files',
      '/home/learner/files',
      // lockdown
      '--remount-ro',
      '/dev',
      '--remount-ro',
      '/',
      // entry
      '--chdir',
      '/home/learner',
      '/bin/bash',
      '--noprofile',
      '--norc',
      '-c',
      sandboxEntry(),
    ]);
  });

  it('waits for its learner, then copies their kubeconfig, starts the relay and becomes their bash, with builtins only', () => {
    expect(sandboxEntry().split('\n')).toEqual([
      'read -r _ < /run/cdl/terminal/start || exit 1',
      `umask 077; IFS= read -r -d '' config < /run/cdl/terminal/kubeconfig; printf '%s' "$config" > /home/learner/.kube/config; unset config; umask 022`,
      'socat TCP-LISTEN:6443,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:/run/cdl/api.sock 2>/dev/null &',
      'exec /bin/bash --noprofile --rcfile /run/cdl/terminal/bashrc -i',
    ]);
  });

  it('links /lib64 only where the host has /usr/lib64, and takes its sizes from the limits', () => {
    const args = bubblewrapArgs({ ...LAYOUT, lib64: false, tmpBytes: 1000, homeBytes: 2000 });
    expect(args).not.toContain('/lib64');
    expect(args.length).toBe(bubblewrapArgs(LAYOUT).length - 3);
    expect(args.slice(args.indexOf('/tmp') - 3, args.indexOf('/tmp') + 1)).toEqual(['--size', '1000', '--tmpfs', '/tmp']);
    expect(args.slice(args.indexOf('/home/learner') - 3, args.indexOf('/home/learner') + 1)).toEqual([
      '--size',
      '2000',
      '--tmpfs',
      '/home/learner',
    ]);
  });

  it('binds nothing writable but the relay socket, and remounts the root read-only after every mount', () => {
    const args = bubblewrapArgs(LAYOUT);
    const writable = args.flatMap((arg, i) => (arg === '--bind' || arg === '--dev-bind' ? [args[i + 1]] : []));
    expect(writable).toEqual([LAYOUT.relaySocket]);
    const lastMount = Math.max(
      ...['--bind', '--ro-bind', '--ro-bind-try', '--tmpfs', '--file', '--dir'].map((flag) => args.lastIndexOf(flag)),
    );
    expect(args.indexOf('--remount-ro')).toBeGreaterThan(lastMount);
  });
});

describe("the lab's saved files in the sandbox", () => {
  it('binds the folder read-only into the home, after the home is made and before the lockdown', () => {
    const args = bubblewrapArgs({ ...LAYOUT, filesDir: '/run/state/files/s-1/palette' });
    expect(args.length).toBe(bubblewrapArgs(LAYOUT).length);
    const at = args.indexOf('/run/state/files/s-1/palette');
    expect(args.slice(at - 1, at + 2)).toEqual(['--ro-bind', '/run/state/files/s-1/palette', '/home/learner/files']);
    expect(at).toBeGreaterThan(args.indexOf('/home/learner'));
    expect(at).toBeLessThan(args.indexOf('--remount-ro'));
    // Still nothing writable but the relay socket.
    const writable = args.flatMap((arg, i) => (arg === '--bind' || arg === '--dev-bind' ? [args[i + 1]] : []));
    expect(writable).toEqual([LAYOUT.relaySocket]);
  });
});

describe("the sandbox's environment", () => {
  it("puts the sandbox's kubectl first on the PATH, and lets the terminal's own settings win", () => {
    expect(sandboxEnv({ KUBECONFIG: '/home/learner/.kube/config' })).toEqual({
      TERM: 'xterm-256color',
      LANG: 'C.UTF-8',
      COLORTERM: 'truecolor',
      PATH: '/opt/cdl/bin:/usr/local/bin:/usr/bin:/bin',
      HOME: '/home/learner',
      USER: 'learner',
      KUBECONFIG: '/home/learner/.kube/config',
    });
  });
});

describe("the sandbox's /etc", () => {
  const scratch = mkdtempSync(join(tmpdir(), 'cdl-sandbox-etc-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('names only the learner, with the uid and gid of their shell, or nobody', async () => {
    expect(passwd(200_001, 200_001)).toBe('learner:x:200001:200001:Learner:/home/learner:/bin/bash\n');
    expect(group(200_001)).toBe('learner:x:200001:\n');
    expect(HOSTS).toBe('127.0.0.1 localhost workshop\n::1 localhost\n');
    await writeAccountFiles({ id: 'a', dir: scratch, uid: 200_002, gid: 200_003 });
    expect(readFileSync(join(scratch, 'passwd'), 'utf8')).toBe(passwd(200_002, 200_003));
    expect(readFileSync(join(scratch, 'group'), 'utf8')).toBe(group(200_003));
    expect(statSync(join(scratch, 'passwd')).mode & 0o777).toBe(0o644);
    await writeAccountFiles({ id: 'b', dir: scratch, uid: undefined, gid: undefined });
    expect(readFileSync(join(scratch, 'passwd'), 'utf8')).toBe(passwd(65534, 65534));
  });
});
