/**
 * Cluster-scope labs change what the whole cluster shares (admission
 * policies, ClusterRoleBindings, CRDs), so two of their attempts at once
 * would grade each other's objects: the proof suite and the lesson-commands
 * test run in separate processes, so within a file `describe` keeps them
 * one at a time, and across files this lock does, one per test cluster.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withLock } from '../../cluster/src/local/binaries.ts';
import type { LabDefinition } from '../../contract/catalog.ts';
import { testSettings } from '../../contract/settings.ts';

const LOCK = join(tmpdir(), `cdl-cluster-scope-${testSettings().CDL_TEST_CLUSTER}.lock`);

/** Runs `body` alone among the cluster-scope attempts on this test cluster; a namespace-scope lab's runs at once. */
export function oneClusterScopeAtATime<T>(lab: Pick<LabDefinition, 'scope'>, body: () => Promise<T>): Promise<T> {
  return lab.scope === 'cluster' ? withLock(LOCK, () => undefined, body) : body();
}
