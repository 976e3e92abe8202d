/**
 * Starts the test suite's own local cluster (`cdl-test`, beside any cluster a
 * developer runs as `cdl`) once for every test file, and removes it at the
 * end. If it cannot start, this throws and the whole suite fails with the
 * reason: the cluster tests never skip and never fall back to a mock.
 * It has its real node beside the seven simulated ones (the labs that need
 * containers run there), and Karpenter runs beside it, as it does for a
 * learner who starts its lab.
 */
import type { TestProject } from 'vitest/node';
import { ensureHelm } from '../../cluster/src/local/binaries.ts';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import { testSettings } from '../../contract/settings.ts';

/** `CDL_TEST_CLUSTER` lets two checkouts' or two people's test runs on one machine keep apart. */
export const TEST_CLUSTER = testSettings().CDL_TEST_CLUSTER;

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    /** The API server's audit log (JSON lines). */
    auditLog: string;
  }
}

export default async function setup(project: TestProject) {
  // With its real node, forced on: a machine that cannot run it fails the suite here, with the reason.
  const provider = new LocalProvider({ clusterName: TEST_CLUSTER, realNode: 'on' });
  const log = (line: string) => process.stderr.write(`[test cluster] ${line}\n`);
  const status = await provider.up(log);
  if (status.state !== 'running') {
    throw new Error(`The test cluster did not become ready: ${status.detail}`);
  }
  // The Karpenter lab and its test need it; built once into the cache (minutes the first time).
  await provider.addKarpenter(log);
  // The shell pods' image on the real node (the shell-pod tests), and Helm (the chart's tests): made once into the cache.
  await provider.importImages(['shell'], log);
  await ensureHelm({ log });
  project.provide('kubeconfig', provider.kubeconfig);
  project.provide('auditLog', provider.auditLog);
  return async () => {
    await provider.down(log);
  };
}
