/**
 * A terminal's folder and the files its shell starts from: the kubeconfig
 * rewritten through @kubernetes/client-node (the API server as the shell
 * reaches it, the token by path, nothing else lost), the rc file, the
 * folder's ownership, and the token's renewal on a timer (fake intervals),
 * which stops with the shell and never writes after it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { type ShellApiServer, shellCredentials } from '../../labs-server/src/terminal/credentials.ts';
import { bashrc, ShellHome, type ShellHomeOptions, workspaceId } from '../../labs-server/src/terminal/shell-home.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cdl-shell-home-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

afterEach(() => {
  vi.useRealTimers();
});

/** The learner's kubeconfig as the sandbox provisioner writes it. */
function learnerKubeconfig(token: string): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: workshop
    cluster:
      server: https://10.0.0.5:6443
      certificate-authority-data: Q0EgREFUQQ==
users:
  - name: learner
    user:
      token: ${token}
contexts:
  - name: workshop
    context:
      cluster: workshop
      user: learner
      namespace: s-1-palette
current-context: workshop
`;
}

/** The cluster's administrator, for a cluster-scope lab (client certificates, no token). */
const ADMIN_KUBECONFIG = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name: 'local', cluster: { server: 'https://127.0.0.1:32764', 'certificate-authority-data': 'Q0E=' } }],
  users: [{ name: 'admin', user: { 'client-certificate-data': 'Q0VSVA==', 'client-key-data': 'S0VZ' } }],
  contexts: [{ name: 'local', context: { cluster: 'local', user: 'admin', namespace: 'palette' } }],
  'current-context': 'local',
});

const SANDBOXED: ShellApiServer = (url) => {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' ? { server: 'https://127.0.0.1:6443' } : { server: 'https://127.0.0.1:6443', tlsServerName: host };
};

describe("a shell's kubeconfig", () => {
  it('names its token by path, reaches the API server the way the shell does, and keeps the rest', () => {
    const { kubeconfig, token } = shellCredentials(learnerKubeconfig('secret-token'), '/run/cdl/terminal/token', SANDBOXED);
    expect(token).toBe('secret-token');
    expect(kubeconfig).not.toContain('secret-token');
    // YAML a learner can read and edit, not one line of JSON, and no empty fields.
    expect(kubeconfig.trimStart().startsWith('{')).toBe(false);
    expect(kubeconfig).not.toMatch(/null/);
    expect(parse(kubeconfig)).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'workshop',
          cluster: {
            server: 'https://127.0.0.1:6443',
            'certificate-authority-data': 'Q0EgREFUQQ==',
            'insecure-skip-tls-verify': false,
            'tls-server-name': '10.0.0.5',
          },
        },
      ],
      users: [{ name: 'learner', user: { tokenFile: '/run/cdl/terminal/token' } }],
      contexts: [{ name: 'workshop', context: { cluster: 'workshop', user: 'learner', name: 'workshop', namespace: 's-1-palette' } }],
      preferences: {},
      'current-context': 'workshop',
    });
    // client-node reads it back as the same cluster and context.
    const back = new KubeConfig();
    back.loadFromString(kubeconfig);
    expect(back.getCurrentCluster()).toMatchObject({ server: 'https://127.0.0.1:6443', tlsServerName: '10.0.0.5', caData: 'Q0EgREFUQQ==' });
    expect(back.getContextObject('workshop')?.namespace).toBe('s-1-palette');
  });

  it("keeps an administrator's client certificate and names no token", () => {
    const { kubeconfig, token } = shellCredentials(ADMIN_KUBECONFIG, '/ws/token', (url) => ({ server: url }));
    expect(token).toBeUndefined();
    const document = parse(kubeconfig);
    expect(document.users).toEqual([{ name: 'admin', user: { 'client-certificate-data': 'Q0VSVA==', 'client-key-data': 'S0VZ' } }]);
    expect(document.clusters[0].cluster.server).toBe('https://127.0.0.1:32764');
    expect(document.clusters[0].cluster['tls-server-name']).toBeUndefined();
    expect(document['current-context']).toBe('local');
  });

  it('refuses a kubeconfig that is not one', () => {
    expect(() => shellCredentials('clusters: [{ cluster: {} }]', '/ws/token', SANDBOXED)).toThrow(/name is missing/);
  });
});

describe("a shell's rc file", () => {
  it("shows the lab and namespace in the prompt, reads the learner's own .bashrc, and starts in the home", () => {
    const rc = bashrc({ labId: 'palette', namespace: 's-1-palette' }, '/home/learner', '/inside');
    expect(rc).toContain('export KUBECONFIG=/home/learner/.kube/config\n');
    expect(rc).toContain('if [ -f /home/learner/.bashrc ]; then . /home/learner/.bashrc; fi\n');
    expect(rc).toContain(String.raw`PS1='\[\e[1;32m\]learner\[\e[0m\]@\[\e[1;34m\]palette\[\e[0m\] (s-1-palette) \w $ '`);
    expect(rc).toContain('alias k=kubectl\n');
    expect(rc.endsWith('cd "/home/learner"\n')).toBe(true);
  });

  it("sources kubectl's completion from the workspace instead of running kubectl at every start", () => {
    const rc = bashrc({ labId: 'palette', namespace: 's-1-palette' }, '/home/learner', '/inside');
    expect(rc).toContain('. /inside/kubectl-completion.bash\n');
    expect(rc).not.toMatch(/kubectl completion/);
  });
});

/** A backend that shows the shell its workspace at /inside and its home at /home/learner. */
const BACKEND: ShellHomeOptions['backend'] = {
  kubectl: undefined,
  apiServer: SANDBOXED,
  workspaceInside: () => '/inside',
  homeInside: () => '/home/learner',
};

function homeOptions(overrides: Partial<ShellHomeOptions> = {}): ShellHomeOptions {
  let issued = 0;
  return {
    backend: BACKEND,
    workDir: join(scratch, 'terminals'),
    key: 's-1/palette',
    kubeconfig: async () => {
      issued += 1;
      return learnerKubeconfig(`token-${issued}`);
    },
    prompt: { labId: 'palette', namespace: 's-1-palette' },
    ...overrides,
  };
}

describe("a terminal's folder", () => {
  it('is named safely after its key, made afresh, and private', async () => {
    expect(workspaceId('s-1/palette')).toBe('s-1_palette');
    expect(workspaceId('../Évil key')).toBe('____vil_key');
    const home = new ShellHome(homeOptions());
    mkdirSync(home.workspace.dir, { recursive: true });
    writeFileSync(join(home.workspace.dir, 'left-behind'), 'x');
    await home.create();
    const { dir } = home.workspace;
    expect(dir).toBe(join(scratch, 'terminals', 's-1_palette'));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(() => statSync(join(dir, 'left-behind'))).toThrow();
    expect(readFileSync(join(dir, 'token'), 'utf8')).toBe('token-1');
    expect(statSync(join(dir, 'token')).mode & 0o777).toBe(0o600);
    expect(parse(readFileSync(join(dir, 'kubeconfig'), 'utf8')).users[0].user).toEqual({ tokenFile: '/inside/token' });
    expect(readFileSync(join(dir, 'bashrc'), 'utf8')).toBe(
      bashrc({ labId: 'palette', namespace: 's-1-palette' }, '/home/learner', '/inside'),
    );
    expect(home.kubeconfigInside).toBe('/home/learner/.kube/config');
    await home.remove();
    expect(() => statSync(dir)).toThrow();
  });

  it("holds kubectl's completion, made by running kubectl once for every shell and shared read-only", async () => {
    const kubectl = join(scratch, 'fake-kubectl');
    const runs = join(scratch, 'kubectl-runs');
    writeFileSync(kubectl, `#!/bin/sh\necho run >> ${runs}\necho '__start_kubectl() { :; }'\n`, { mode: 0o755 });
    const homes = ['s-3/palette', 's-4/palette'].map((key) => new ShellHome(homeOptions({ key, backend: { ...BACKEND, kubectl } })));
    for (const home of homes) await home.create();
    const files = homes.map((home) => statSync(join(home.workspace.dir, 'kubectl-completion.bash')));
    expect(files[0]?.ino, 'one file, linked into each workspace').toBe(files[1]?.ino);
    expect((files[0]?.mode ?? 0) & 0o777, 'which no one may write').toBe(0o444);
    for (const home of homes) {
      expect(readFileSync(join(home.workspace.dir, 'kubectl-completion.bash'), 'utf8')).toBe('__start_kubectl() { :; }\n');
      await home.remove();
    }
    expect(readFileSync(runs, 'utf8')).toBe('run\n');
  });

  it.runIf(process.getuid?.() === 0)("belongs to root, and only the shell's group may read it", async () => {
    const home = new ShellHome(homeOptions({ key: 's-2/palette', identity: { uid: 200_123, gid: 200_123 } }));
    await home.create();
    const { dir } = home.workspace;
    expect(home.workspace).toMatchObject({ uid: 200_123, gid: 200_123 });
    expect(statSync(dir)).toMatchObject({ uid: 0, gid: 200_123 });
    expect(statSync(dir).mode & 0o777).toBe(0o750);
    for (const file of ['kubeconfig', 'token', 'bashrc']) {
      expect(statSync(join(dir, file))).toMatchObject({ uid: 0, gid: 200_123 });
      expect(statSync(join(dir, file)).mode & 0o777).toBe(0o640);
    }
    await home.remove();
  });

  it('renews the token on its timer, reports a failed renewal, and writes nothing once stopped', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let fail = false;
    let issued = 0;
    const errors: unknown[] = [];
    const home = new ShellHome(
      homeOptions({
        key: 's-3/palette',
        kubeconfig: async () => {
          if (fail) throw new Error('the API server is away');
          issued += 1;
          return learnerKubeconfig(`token-${issued}`);
        },
      }),
    );
    await home.create();
    const token = join(home.workspace.dir, 'token');
    home.renewEvery(60_000, (error) => errors.push(error));
    await vi.advanceTimersByTimeAsync(59_999);
    expect(issued).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(readFileSync(token, 'utf8')).toBe('token-2'));
    fail = true;
    await vi.advanceTimersByTimeAsync(60_000);
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(readFileSync(token, 'utf8')).toBe('token-2');
    fail = false;
    await vi.advanceTimersByTimeAsync(60_000);
    await vi.waitFor(() => expect(readFileSync(token, 'utf8')).toBe('token-3'));
    // A renewal under way when the shell stops writes nothing.
    const renewal = home.renewToken();
    home.stop();
    await renewal;
    expect(readFileSync(token, 'utf8')).toBe('token-3');
    await vi.advanceTimersByTimeAsync(600_000);
    expect(issued).toBe(4);
    expect(vi.getTimerCount()).toBe(0);
    await home.remove();
  });
});
