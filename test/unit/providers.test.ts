import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ClusterError } from '../../cluster/src/errors.ts';
import { ExternalProvider } from '../../cluster/src/external/provider.ts';
import { KIND_CONFIG, kindCommands } from '../../cluster/src/kind/provider.ts';
import { FARGATE_TAINT, NODE_SPECS, nodeObject, ZONES } from '../../cluster/src/local/nodes.ts';
import { kwokctlConfig } from '../../cluster/src/local/provider.ts';
import { chooseProvider, parseProviderName } from '../../cluster/src/select.ts';

describe('the local provider', () => {
  it('binds every component to loopback and passes every binary by path', () => {
    const bins = {
      kubeApiserver: '/c/a',
      kubeControllerManager: '/c/cm',
      kubeScheduler: '/c/s',
      kubectl: '/c/k',
      etcd: '/c/e',
      kwok: '/c/kw',
      kwokctl: '/c/kc',
    };
    const config = JSON.parse(kwokctlConfig(bins));
    expect(config.kind).toBe('KwokctlConfiguration');
    expect(config.options.bindAddress).toBe('127.0.0.1');
    expect(config.options.runtime).toBe('binary');
    expect(config.options).toMatchObject({
      kubeApiserverBinary: '/c/a',
      etcdBinary: '/c/e',
      kwokControllerBinary: '/c/kw',
      kubectlBinary: '/c/k',
    });
  });

  it('simulates nodes in every zone with both architectures and one Fargate-style node', () => {
    const nodes = NODE_SPECS.map(nodeObject);
    for (const zone of ZONES) {
      const archs = nodes
        .filter((n) => n.metadata?.labels?.['topology.kubernetes.io/zone'] === zone && !n.spec?.taints)
        .map((n) => n.metadata?.labels?.['kubernetes.io/arch']);
      expect(archs.sort()).toEqual(['amd64', 'arm64']);
    }
    const tainted = nodes.filter((n) => n.spec?.taints?.length);
    expect(tainted).toHaveLength(1);
    expect(tainted[0]?.spec?.taints).toEqual([FARGATE_TAINT]);
    expect(nodes.every((n) => n.metadata?.annotations?.['kwok.x-k8s.io/node'] === 'fake')).toBe(true);
  });
});

describe('the kind provider', () => {
  it('has a config with workers in three zones and a tainted Fargate-style worker', async () => {
    const config = parse(await readFile(KIND_CONFIG, 'utf8'));
    expect(config.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    const workers = config.nodes.filter((n: { role: string }) => n.role === 'worker');
    const zones = new Set(workers.map((w: { labels: Record<string, string> }) => w.labels['topology.kubernetes.io/zone']));
    expect([...zones].sort()).toEqual([...ZONES]);
    const fargate = workers.filter((w: { labels: Record<string, string> }) => w.labels['eks.amazonaws.com/compute-type'] === 'fargate');
    expect(fargate).toHaveLength(1);
    expect(fargate[0].kubeadmConfigPatches[0]).toContain('effect: NoSchedule');
  });

  it('creates and deletes with the project-local kubeconfig, never the default one', () => {
    const commands = kindCommands('cdl', '/repo/.cluster/cdl/kubeconfig');
    for (const args of [commands.create, commands.delete]) {
      expect(args[args.indexOf('--kubeconfig') + 1]).toBe('/repo/.cluster/cdl/kubeconfig');
    }
    expect(commands.create[commands.create.indexOf('--config') + 1]).toBe(KIND_CONFIG);
  });
});

describe('choosing a provider', () => {
  it('refuses an unknown name and says which are known', () => {
    expect(() => parseProviderName('minikube', '--provider')).toThrow(/Unknown provider "minikube"/);
  });

  it('takes the flag before the environment', async () => {
    expect(await chooseProvider('kind', { CDL_PROVIDER: 'external' })).toBe('kind');
    expect(await chooseProvider(undefined, { CDL_PROVIDER: 'external' })).toBe('external');
  });

  it('falls back to local where there is no docker or kind', async () => {
    expect(await chooseProvider(undefined, { PATH: '/nonexistent' }, '/nonexistent-root')).toBe('local');
  });

  it('needs a kubeconfig for the external provider and says how to give one', () => {
    expect(() => new ExternalProvider({})).toThrow(ClusterError);
    expect(() => new ExternalProvider({})).toThrow(/kubeconfig/);
  });
});
