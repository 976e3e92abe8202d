/**
 * What the real node costs: `up` to Ready with it (a warm cache: binaries
 * and images already made), the memory of its processes idle and with pods,
 * and how long a pod takes from create to Running on it. A script, not a
 * test; it starts a cluster of its own (`<CDL_CLUSTER_NAME>-bench`) and
 * removes it at the end:
 *
 *   node cluster/bench/real-node.ts [pods=20]
 */
import { readFileSync } from 'node:fs';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { UserError } from '../../contract/errors.ts';
import { clusterSettings } from '../../contract/settings.ts';
import { loadKubeConfig, waitFor } from '../src/kube.ts';
import { IMAGE_REFS } from '../src/local/images.ts';
import { LocalProvider } from '../src/local/provider.ts';
import { REAL_NODE_LABEL, REAL_NODE_TAINT } from '../src/local/real-node.ts';
import { hostNames, nodeLayout } from '../src/local/real-node-config.ts';
import { nodeProcesses } from '../src/local/real-node-host.ts';
import { stateDir } from '../src/paths.ts';

const pods = Number(process.argv[2] ?? 20);
if (!Number.isInteger(pods) || pods < 1) {
  console.error('usage: node cluster/bench/real-node.ts [pods=20]   (on a cluster of its own, <CDL_CLUSTER_NAME>-bench)');
  process.exit(2);
}
const name = `${clusterSettings().CDL_CLUSTER_NAME}-bench`;
const provider = new LocalProvider({ clusterName: name, realNode: 'on' });
const lines: string[] = [];
const say = (line: string) => console.log(line);

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

/** Resident memory of the node's processes, in MiB: each agent by name, the shims and containers (CoreDNS among them) together. */
function memory(): Record<string, number> {
  const rss = (pid: number) => {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  };
  const totals: Record<string, number> = { containerd: 0, kubelet: 0, 'kube-proxy': 0, 'kube-router': 0, 'shims and containers': 0 };
  for (const p of nodeProcesses(nodeLayout(stateDir(name)).dir, hostNames(name).cgroupRoot)) {
    const base = (p.argv[0] ?? '').split('/').at(-1) ?? '';
    const key = base in totals && base !== 'shims and containers' ? base : 'shims and containers';
    totals[key] = (totals[key] ?? 0) + rss(p.pid);
  }
  return Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

await provider.down(() => {});
const started = Date.now();
try {
  await provider.up((line) => lines.push(line));
} catch (error) {
  // Another cluster's real node on this machine, a package missing: a sentence, not a stack.
  if (!(error instanceof UserError)) throw error;
  console.error(`error: ${error.message}\n${error.hint ?? ''}`);
  await provider.down(() => {});
  process.exit(1);
}
const upMs = Date.now() - started;
const nodeLine = lines.find((line) => line.startsWith('The real node'));
say(`up to Ready with the real node: ${(upMs / 1000).toFixed(1)} s (${nodeLine ?? 'no line from the real node'})`);

const core = loadKubeConfig(provider.kubeconfig).makeApiClient(CoreV1Api);
await waitFor(
  'the default ServiceAccount',
  async () => Boolean(await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' })),
  30_000,
);
await new Promise((resolve) => setTimeout(resolve, 10_000));
const idle = memory();
say(`memory, idle (RSS, MiB): ${JSON.stringify(idle)}`);

const times: number[] = [];
for (let i = 0; i < pods; i++) {
  const body: V1Pod = {
    metadata: { name: `bench-${i}` },
    spec: {
      nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
      tolerations: [{ key: REAL_NODE_TAINT.key, operator: 'Exists', effect: REAL_NODE_TAINT.effect }],
      containers: [{ name: 'app', image: IMAGE_REFS.busybox, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }],
      terminationGracePeriodSeconds: 0,
    },
  };
  const t = Date.now();
  await core.createNamespacedPod({ namespace: 'default', body });
  await waitFor(
    `bench-${i} to run`,
    async () => (await core.readNamespacedPod({ name: `bench-${i}`, namespace: 'default' })).status?.phase === 'Running',
    60_000,
    50,
  );
  times.push(Date.now() - t);
}
const ms = (v: number) => `${Math.round(v)} ms`;
say(
  `pod create to Running, ${pods} pods one after another: p50 ${ms(quantile(times, 0.5))}, p90 ${ms(quantile(times, 0.9))}, max ${ms(Math.max(...times))}`,
);
say(`memory with ${pods} pods (RSS, MiB): ${JSON.stringify(memory())}`);

await provider.down(() => {});
