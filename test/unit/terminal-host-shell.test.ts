/**
 * The single-user backend with a real bash in a real pty: its home is a
 * folder of the terminal's, with the first kubeconfig copied in and private,
 * and the shell starts there from the terminal's rc file, with the
 * environment the terminal gives it.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostShell } from '../../labs-server/src/terminal/host-shell.ts';
import { ShellHome } from '../../labs-server/src/terminal/shell-home.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cdl-host-shell-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:6443' } }]
users: [{ name: u, user: { token: t0k } }]
contexts: [{ name: x, context: { cluster: c, user: u, namespace: s-1-palette } }]
current-context: x
`;

describe('the host shell', () => {
  it('starts bash in a home of its own, from the terminal rc file, with the kubeconfig copied in', async () => {
    const backend = new HostShell(undefined);
    const home = new ShellHome({
      backend,
      workDir: scratch,
      key: 's-1/palette',
      kubeconfig: async () => KUBECONFIG,
      prompt: { labId: 'palette', namespace: 's-1-palette' },
    });
    await home.create();
    await backend.prepare(home.workspace);
    const inside = backend.homeInside(home.workspace);
    expect(inside).toBe(join(home.workspace.dir, 'home'));
    const config = join(inside, '.kube', 'config');
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(readFileSync(config, 'utf8')).toBe(readFileSync(join(home.workspace.dir, 'kubeconfig'), 'utf8'));

    const pty = backend.spawn(home.workspace, { cols: 120, rows: 30 }, { KUBECONFIG: home.kubeconfigInside });
    let output = '';
    pty.onData((data) => {
      output += String(data);
    });
    const exited = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
    pty.write('echo "at=$PWD home=$HOME kc=$KUBECONFIG term=$TERM"; exit 3\r');
    expect(await exited).toBe(3);
    expect(output).toContain(`at=${inside} home=${inside} kc=${inside}/.kube/config term=xterm-256color`);
    // The prompt names the lab and the namespace.
    expect(output).toMatch(/learner.*@.*palette.* \(s-1-palette\)/);
    await home.remove();
  });
});
