/**
 * How long a learner waits for a sandbox: namespace, quota, limit range,
 * RoleBinding, ServiceAccount, a TokenRequest and the kubeconfig, on the
 * running cluster (`npm run cluster -- up` first). A script, not a test:
 *
 *   node labs-server/bench/sandbox.ts [rounds]
 */

import { loadKubeConfig } from '../../cluster/src/kube.ts';
import { chooseProvider, createProvider } from '../../cluster/src/select.ts';
import { defaultNamespace } from '../../contract/sandbox.ts';
import { Sandboxes } from '../src/sandbox/provision.ts';
import { ensureCrd } from '../src/sessions/crd.ts';
import { SessionStore } from '../src/sessions/store.ts';
import { quantile } from './support.ts';

const rounds = Number(process.argv[2] ?? 40);
const provider = createProvider(await chooseProvider(undefined));
await provider.up((line) => console.error(line));
const kc = loadKubeConfig(provider.kubeconfig);
const store = new SessionStore(kc, { ttlMs: 600_000 });
const sandboxes = new Sandboxes(kc);
await ensureCrd(kc);
await sandboxes.ensureSystemNamespace();

const sessionTimes: number[] = [];
const sandboxTimes: number[] = [];
const created: string[] = [];
for (let i = 0; i < rounds; i += 1) {
  const t0 = performance.now();
  const { session } = await store.create(`bench-${i}`);
  const t1 = performance.now();
  const namespaces = await sandboxes.provision(session, 'first-deployment', [{ name: 'app' }]);
  const { token } = await sandboxes.issueToken(session, 600);
  sandboxes.learnerKubeconfig(token, defaultNamespace(namespaces) ?? '');
  const t2 = performance.now();
  sessionTimes.push(t1 - t0);
  sandboxTimes.push(t2 - t1);
  created.push(session.metadata.name);
}

function summary(name: string, values: number[]) {
  const at = (q: number) => quantile(values, q).toFixed(1);
  console.log(`${name.padEnd(42)} p50 ${at(0.5)} ms   p95 ${at(0.95)} ms   max ${at(1)} ms   (n=${values.length})`);
}
console.log(`provider ${provider.name}, ${rounds} rounds`);
summary('session (LabSession create + status)', sessionTimes);
summary('sandbox (namespace, quota, RBAC, token)', sandboxTimes);
summary(
  'both',
  sessionTimes.map((t, i) => t + (sandboxTimes[i] ?? 0)),
);
await Promise.all(created.map((name) => store.end(name)));
