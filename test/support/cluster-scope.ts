/**
 * Cluster-scope labs change what the whole cluster shares (admission
 * policies, ClusterRoleBindings, CRDs), so two of their attempts at once
 * would grade each other's objects: the proof suite and the lesson-commands
 * test run in separate processes, so within a file `describe` keeps them
 * one at a time, and across files this lock does, one per test cluster.
 * Labs that run real containers share the real node: a few attempts at once.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withLock } from '../../cluster/src/local/binaries.ts';
import type { LabDefinition } from '../../contract/catalog.ts';
import { testSettings } from '../../contract/settings.ts';

const LOCK = join(tmpdir(), `cdl-cluster-scope-${testSettings().CDL_TEST_CLUSTER}.lock`);

/**
 * How many attempts of labs that run real containers go at once in a test
 * file: the real node starts every pod on the machine's few cores, and a
 * dozen attempts of an eight-pod Job at once would keep each check waiting
 * longer than a learner, alone on it, ever does.
 */
const CONTAINER_ATTEMPTS = 3;
let containerAttempts = 0;
const waitingForSlot: Array<() => void> = [];

async function containerSlot<T>(body: () => Promise<T>): Promise<T> {
  while (containerAttempts >= CONTAINER_ATTEMPTS) await new Promise<void>((resolve) => waitingForSlot.push(resolve));
  containerAttempts += 1;
  try {
    return await body();
  } finally {
    containerAttempts -= 1;
    waitingForSlot.shift()?.();
  }
}

/**
 * Runs one attempt of a lab: alone among the cluster-scope attempts on this
 * test cluster, a few at a time among those of labs that need containers,
 * and any other namespace-scope lab's at once.
 */
export function labAttempt<T>(lab: Pick<LabDefinition, 'scope' | 'needsContainers'>, body: () => Promise<T>): Promise<T> {
  const run = lab.needsContainers ? () => containerSlot(body) : body;
  return lab.scope === 'cluster' ? withLock(LOCK, () => undefined, run) : run();
}
