/**
 * `npm run cluster` as a user meets it, on a cluster of its own (beside the
 * suite's shared one): up, up again, kubeconfig, a crash, recovery in place,
 * and a down that leaves no process behind.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cluster/src/cli.ts';
import { processAlive } from '../../cluster/src/exec.ts';
import { waitFor } from '../../cluster/src/kube.ts';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import { projectRoot, stateDir } from '../../cluster/src/paths.ts';

const NAME = 'cdl-lifecycle';
// The control plane's lifecycle, without the real node (`--no-real-node` on every up): test/machine/real-node.test.ts proves that one's.
const env = { ...process.env, CDL_PROVIDER: 'local', CDL_CLUSTER_NAME: NAME };
const provider = new LocalProvider({ clusterName: NAME, realNode: 'off' });

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  return { code, stdout, stderr };
}

/** Every process on the machine whose command line mentions this cluster's state folder. */
function processesOfCluster(): number[] {
  const marker = stateDir(NAME);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(join('/proc', entry, 'cmdline'), 'utf8');
      if (cmdline.includes(marker)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

afterAll(async () => {
  await provider.down(() => {});
});

describe('npm run cluster', () => {
  it('brings a cluster up, and a second up only confirms it', async () => {
    const first = await cli('up', '--no-real-node');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^running: Kubernetes v1\.36\.\d+, 7\/7 nodes Ready/);
    expect(first.stdout, 'a node turned off on purpose is not worth a note').not.toContain('containers do not run');
    expect(processesOfCluster().length).toBeGreaterThanOrEqual(5);

    const started = Date.now();
    const second = await cli('up', '--no-real-node');
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('already running');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('prints only the project-local kubeconfig path', async () => {
    const result = await cli('kubeconfig');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${join(projectRoot, '.cluster', NAME, 'kubeconfig')}\n`);
    expect(readFileSync(result.stdout.trim(), 'utf8')).toContain('server: https://127.0.0.1:');
  });

  it('recovers on up after the API server was killed', async () => {
    const apiserver = (await provider.livePids()).find((p) => p.name === 'kube-apiserver');
    expect(apiserver).toBeDefined();
    process.kill(apiserver?.pid ?? 0, 'SIGKILL');
    await waitFor('kube-apiserver to exit', async () => !processAlive(apiserver?.pid ?? 0), 5_000, 50);

    const status = await cli('status');
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/^local: degraded: /);

    expect(status.stdout).toMatch(/^local: degraded: kube-apiserver not running; /);

    const again = await cli('up', '--no-real-node');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('Restarting kube-apiserver…');
    expect(again.stdout).toMatch(/^running: /);
  });

  let karpenter: number | undefined;

  it('runs Karpenter beside the cluster, which status counts and up restarts', { timeout: 120_000 }, async () => {
    const added = await cli('karpenter');
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^running: .*6 of 6 processes \(.*karpenter\)/);
    karpenter = (await provider.livePids()).find((p) => p.name === 'karpenter')?.pid;
    expect(karpenter).toBeDefined();
    const again = await cli('karpenter');
    expect(again.code).toBe(0);
    expect((await provider.livePids()).find((p) => p.name === 'karpenter')?.pid, 'a second start leaves the first alone').toBe(karpenter);

    process.kill(karpenter ?? 0, 'SIGKILL');
    await waitFor('karpenter to exit', async () => !processAlive(karpenter ?? 0), 5_000, 50);
    const status = await cli('status');
    expect(status.stdout).toMatch(/^local: degraded: karpenter not running; /);
    const repaired = await cli('up', '--no-real-node');
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stderr).toContain('Restarting karpenter…');
    karpenter = (await provider.livePids()).find((p) => p.name === 'karpenter')?.pid;
    expect(karpenter).toBeDefined();
  });

  it('reports in --json whether containers run, and why not', async () => {
    const result = await cli('status', '--json');
    const status = JSON.parse(result.stdout);
    expect(status).toMatchObject({ state: 'running', runsContainers: false, capabilities: { runsContainers: false } });
    expect(status.realNode).toMatch(/off/);
  });

  it('down leaves no process behind', async () => {
    expect(processesOfCluster().length).toBeGreaterThan(0);
    const result = await cli('down');
    expect(result.code).toBe(0);
    expect(processesOfCluster()).toEqual([]);
    expect(processAlive(karpenter ?? 0), 'Karpenter stopped with the cluster').toBe(false);
    const status = await cli('status');
    expect(status.stdout).toMatch(/^local: stopped: /);
  });
});
