import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../cluster/src/cli.ts';

async function cli(args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  return { code, stdout, stderr };
}

describe('npm run cluster', () => {
  it('prints the usage and fails without a command', async () => {
    const result = await cli([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage: npm run cluster');
  });

  it('names an unknown command', async () => {
    const result = await cli(['launch', '--provider', 'local']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Unknown command "launch"');
  });

  it('names an unknown provider in one line with what to use instead', async () => {
    const result = await cli(['status', '--provider', 'minikube']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: Unknown provider "minikube" (from --provider).\nUse one of: local, kind, external.\n');
  });

  it('lists every control-plane process of a local cluster in status --json, running or not', async () => {
    const env = { PATH: process.env.PATH, CDL_CLUSTER_NAME: 'cdl-never-started' };
    const result = await cli(['status', '--json', '--provider', 'local'], env);
    expect(result.code).toBe(1);
    const status = JSON.parse(result.stdout);
    expect(status).toMatchObject({ provider: 'local', state: 'stopped' });
    expect(status.components).toEqual(
      ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok-controller'].map((name) => ({ name, running: false })),
    );
    const text = await cli(['status', '--provider', 'local'], env);
    expect(text.stdout).toBe('local: stopped: no local cluster; start one with `npm run cluster -- up`\n');
  });

  it('prints nothing on stdout for kubeconfig when there is no cluster', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cdl-ext-'));
    try {
      const result = await cli(['kubeconfig', '--provider', 'external'], { PATH: process.env.PATH, CDL_KUBECONFIG: join(dir, 'missing') });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/no kubeconfig yet/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
