/**
 * How long a learner waits for "Check": every lab's check, run again and
 * again on a solved sandbox of its own, on the cluster (started if it is not
 * running). A script, not a test:
 *
 *   node labs-server/bench/checks.ts [rounds]
 */
import { courseCatalog } from '../../checks/catalog.ts';
import { loadKubeConfig } from '../../cluster/src/kube.ts';
import { chooseProvider, createProvider } from '../../cluster/src/select.ts';
import { Sandboxes } from '../src/sandbox/provision.ts';
import { ensureCrd } from '../src/sessions/crd.ts';
import { SessionStore } from '../src/sessions/store.ts';
import { quantile } from './support.ts';

const USAGE = 'node labs-server/bench/checks.ts [rounds=30]   (on CDL_CLUSTER_NAME, started if it is not running)';
const rounds = Number(process.argv[2] ?? 30);
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`usage: ${USAGE}`);
  process.exit(process.argv[2] === '--help' || process.argv[2] === '-h' ? 0 : 2);
}
const provider = createProvider(await chooseProvider(undefined));
await provider.up((line) => console.error(line));
const kc = loadKubeConfig(provider.kubeconfig);
const catalog = courseCatalog();
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
try {
  for (const lab of catalog.list()) {
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
      for (let i = 0; i < rounds; i += 1) {
        const t0 = performance.now();
        const result = await catalog.check(kc, lab, step.id, namespaces, AbortSignal.timeout(30_000));
        times.push(performance.now() - t0);
        if (!result.passed) throw new Error(`${lab.id}/${step.id} failed on its solution`);
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
} finally {
  for (const teardown of clusterLabs) await teardown();
  await Promise.all(
    sessions.map(async (name) => {
      await sandboxes.removeSession(name);
      await store.end(name);
    }),
  );
}
