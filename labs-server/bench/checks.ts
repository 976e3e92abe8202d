/**
 * How long a learner waits for "Check": every lab's check, run again and
 * again on a solved sandbox of its own, on the cluster (started if it is not
 * running). A script, not a test:
 *
 *   node labs-server/bench/checks.ts [rounds] [lab-id …]
 *
 * A step that fails on its solution is a defect: it is reported, the others
 * are still measured, and the script exits with 1.
 */
import { courseCatalog } from '../../checks/catalog.ts';
import { loadKubeConfig } from '../../cluster/src/kube.ts';
import { chooseProvider, createProvider } from '../../cluster/src/select.ts';
import { Sandboxes } from '../src/sandbox/provision.ts';
import { ensureCrd } from '../src/sessions/crd.ts';
import { SessionStore } from '../src/sessions/store.ts';
import { quantile } from './support.ts';

const USAGE =
  'node labs-server/bench/checks.ts [rounds=30] [lab-id …]   (every lab, or those named, on CDL_CLUSTER_NAME, started if it is not running)';
const rounds = Number(process.argv[2] ?? 30);
const only = new Set(process.argv.slice(3));
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`usage: ${USAGE}`);
  process.exit(process.argv[2] === '--help' || process.argv[2] === '-h' ? 0 : 2);
}
const provider = createProvider(await chooseProvider(undefined));
await provider.up((line) => console.error(line));
const kc = loadKubeConfig(provider.kubeconfig);
const catalog = courseCatalog();
const unknown = [...only].filter((id) => !catalog.get(id));
if (unknown.length > 0) {
  console.error(
    `no lab ${unknown.join(', ')}; the labs are ${catalog
      .list()
      .map((lab) => lab.id)
      .join(', ')}`,
  );
  process.exit(2);
}
const labs = catalog.list().filter((lab) => only.size === 0 || only.has(lab.id));
if (labs.some((lab) => lab.needsKarpenter)) await provider.addKarpenter?.((line) => console.error(line));
const store = new SessionStore(kc, { ttlMs: 600_000 });
const sandboxes = new Sandboxes(kc);
await ensureCrd(kc);
await sandboxes.ensureSystemNamespace();

function quantiles(values: number[]) {
  return { p50: quantile(values, 0.5), p95: quantile(values, 0.95), max: quantile(values, 1) };
}

console.log(`provider ${provider.name}, ${rounds} checks per step on a solved sandbox`);
const all: number[] = [];
const sessions: string[] = [];
const clusterLabs: Array<() => Promise<void>> = [];
const failed: string[] = [];
try {
  for (const lab of labs) {
    const { session } = await store.create(`bench ${lab.id}`);
    sessions.push(session.metadata.name);
    const namespaces = await sandboxes.provision(session, lab.id, lab.namespaces);
    if (lab.scope === 'cluster') clusterLabs.push(() => catalog.teardown(kc, lab, namespaces));
    await catalog.setup(kc, lab, namespaces);
    await catalog.solve(kc, lab, namespaces);
    for (const step of lab.steps) {
      // The first run waits for the rollout the solution started; time the rest.
      const first = await catalog.check(kc, lab, step.id, namespaces, AbortSignal.timeout(30_000));
      const times: number[] = [];
      let failure = first.passed ? undefined : first;
      for (let i = 0; i < rounds && !failure; i += 1) {
        const t0 = performance.now();
        const result = await catalog.check(kc, lab, step.id, namespaces, AbortSignal.timeout(30_000));
        times.push(performance.now() - t0);
        if (!result.passed) failure = result;
      }
      if (failure) {
        const why = failure.criteria.filter((c) => !c.passed).map((c) => `${c.id}: ${c.message}`);
        console.log(`${`${lab.id} / ${step.id}`.padEnd(48)} FAILED on its solution: ${why.join('; ')}`);
        failed.push(`${lab.id}/${step.id}`);
        continue;
      }
      all.push(...times);
      const q = quantiles(times);
      console.log(
        `${`${lab.id} / ${step.id}`.padEnd(48)} p50 ${q.p50.toFixed(1).padStart(6)} ms  p95 ${q.p95.toFixed(1).padStart(6)} ms  max ${q.max.toFixed(1).padStart(6)} ms  (first ${first.durationMs.toFixed(0)} ms)`,
      );
    }
  }
  const q = quantiles(all);
  console.log(
    `${'all checks'.padEnd(48)} p50 ${q.p50.toFixed(1).padStart(6)} ms  p95 ${q.p95.toFixed(1).padStart(6)} ms  max ${q.max.toFixed(1).padStart(6)} ms  (n=${all.length})`,
  );
  if (failed.length > 0) {
    console.log(`failed on their solution: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
} finally {
  for (const teardown of clusterLabs) await teardown();
  await Promise.all(
    sessions.map(async (name) => {
      await sandboxes.removeSession(name);
      await store.end(name);
    }),
  );
}
