/**
 * How long the YAML editor waits for a kind's schema (GET /api/schema): cold
 * (a server that has read nothing yet: discovery, the group-version document
 * and the conversion), another kind of a document already read (the
 * conversion only), and cached (the text made once). A fresh server per
 * round, on the cluster (started if it is not running). A script, not a test:
 *
 *   node labs-server/bench/schema.ts [rounds=5]
 */
import { API_VERSION } from '../../contract/session.ts';
import { Client } from '../../test/support/server.ts';
import { median, quantile, startBenchServer } from './support.ts';

const USAGE = 'node labs-server/bench/schema.ts [rounds=5]';
const rounds = Number(process.argv[2] ?? 5);
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`usage: ${USAGE}`);
  process.exit(process.argv[2] === '--help' || process.argv[2] === '-h' ? 0 : 2);
}
const ACCESS_CODE = 'schema-bench';
const CACHED_ASKS = 20;

/** What is asked, in this order, of each fresh server. */
const ASKS = [
  { label: 'cold: Deployment (apps/v1)', apiVersion: 'apps/v1', kind: 'Deployment' },
  { label: 'document read: StatefulSet (apps/v1)', apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { label: 'cold document: Pod (v1)', apiVersion: 'v1', kind: 'Pod' },
  { label: 'cold document, a CRD: LabSession', apiVersion: API_VERSION, kind: 'LabSession' },
] as const;

const times = new Map<string, number[]>();
const sizes = new Map<string, number>();
function record(label: string, ms: number): void {
  times.set(label, [...(times.get(label) ?? []), ms]);
}

async function ask(client: Client, apiVersion: string, kind: string): Promise<{ ms: number; bytes: number }> {
  const query = new URLSearchParams({ apiVersion, kind });
  const started = performance.now();
  const answer = await client.get(`/api/schema?${query}`);
  const ms = performance.now() - started;
  if (answer.status !== 200) throw new Error(`GET /api/schema ${apiVersion} ${kind}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return { ms, bytes: JSON.stringify(answer.body).length };
}

for (let round = 1; round <= rounds; round++) {
  const { server, origin } = await startBenchServer('single', ACCESS_CODE);
  try {
    const learner = new Client(origin);
    const joined = await learner.post('/api/session');
    if (joined.status !== 200 && joined.status !== 201) throw new Error(`joining: ${joined.status} ${JSON.stringify(joined.body)}`);
    for (const { label, apiVersion, kind } of ASKS) {
      const { ms, bytes } = await ask(learner, apiVersion, kind);
      record(label, ms);
      sizes.set(label, bytes);
    }
    for (let i = 0; i < CACHED_ASKS; i++) record('cached: Deployment (apps/v1)', (await ask(learner, 'apps/v1', 'Deployment')).ms);
    console.error(`round ${round}/${rounds} done`);
  } finally {
    await server.close();
  }
}

const rows = [...times].map(([label, values]) => ({
  asked: label,
  n: values.length,
  p50_ms: Number(median(values).toFixed(1)),
  p95_ms: Number(quantile(values, 0.95).toFixed(1)),
  schema_kb: Number(((sizes.get(label) ?? sizes.get('cold: Deployment (apps/v1)') ?? 0) / 1024).toFixed(0)),
}));
console.table(rows);
process.exit(0);
