/**
 * upgrade-ready: before a cluster upgrade, nothing calls a deprecated API
 * and every workload survives the node drains the upgrade brings.
 *
 * The deprecated API here is v1 Endpoints (deprecated in 1.33, the one
 * deprecated built-in version a 1.36 API server serves). Its caller is a
 * Prometheus scraper, as in many clusters, so the migration has two halves
 * that are checked apart: the configuration (the discovery role, and the
 * relabel rules, whose meta labels are named after the role), and the
 * rights (asked as a matrix: EndpointSlices, services and pods read;
 * Endpoints no longer; nothing beyond).
 *
 * The drain is judged per Deployment of the namespace, as the eviction API
 * answers a drain (lib/disruption.ts): no more than one budget over its
 * pods, the controller caught up, at least one disruption allowed; and the
 * budget's protection as the controller scales it (a number or a
 * percentage, of every workload it covers), so any written form counts by
 * what it keeps. The controller updates a budget's status a moment after a
 * change, so the check waits for it, bounded, only while it trails.
 */
import type { V1ConfigMap, V1Deployment, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { rolledOut } from '../cluster/src/kube.ts';
import {
  type Access,
  type Admission,
  type CheckContext,
  type Criterion,
  criterion,
  defineCheck,
  failed,
  missing,
  passed,
} from './lib/check.ts';
import type { Difference } from './lib/compare.ts';
import { budgetSelects, budgetSettled, budgetsFor, evictionVerdict, keeps, rule } from './lib/disruption.ts';
import { askMatrix, beyondTheTask, describeRights, READ_VERBS, rights, WRITE_VERBS } from './lib/rbac-matrix.ts';
import { plural } from './lib/workloads.ts';

const OTHERS = ['default', 'kube-system'];
const CONFIG = 'scraper-config';
const CONFIG_KEY = 'prometheus.yml';
const SLICES = 'endpointslices.discovery.k8s.io';
/** Meta labels of Prometheus' endpoints role (`__meta_kubernetes_endpoint_…`, `__meta_kubernetes_endpoints_…`). */
const ENDPOINTS_META = /^__meta_kubernetes_endpoints?_/;
const PROMETHEUS_DOCS = 'https://prometheus.io/docs/prometheus/latest/configuration/configuration/#kubernetes_sd_config';
/** Scaling up on a busy cluster, then the disruption controller's turn. */
const SETTLE_MS = 10_000;

interface ScrapeJob {
  job_name?: unknown;
  kubernetes_sd_configs?: unknown;
  relabel_configs?: unknown;
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null) : [];
}

function roles(job: ScrapeJob): string[] {
  return records(job.kubernetes_sd_configs).map((sd) => String(sd.role ?? ''));
}

function jobName(job: ScrapeJob, i: number): string {
  return typeof job.job_name === 'string' ? job.job_name : `#${i + 1}`;
}

/** The scraper's configuration: every Kubernetes discovery through EndpointSlices, with rules that read its labels. */
function discovery(config: V1ConfigMap | undefined): Criterion {
  const hint = `\`kubectl get configmap ${CONFIG} -o yaml\`; Prometheus' discovery roles and their meta labels: ${PROMETHEUS_DOCS}`;
  if (!config) return missing('discovery', `The ConfigMap ${CONFIG}`, 'Was it deleted? Reset the lab to get it back.');
  const text = config.data?.[CONFIG_KEY];
  if (text === undefined) {
    return failed('discovery', `The ConfigMap ${CONFIG} has no key ${CONFIG_KEY}, the file the scraper's --config.file names.`, hint);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    return failed('discovery', `${CONFIG_KEY} in ${CONFIG} is not valid YAML: ${(error as Error).message.split('\n')[0]}`, hint);
  }
  const jobs: ScrapeJob[] = typeof doc === 'object' && doc !== null ? records((doc as Record<string, unknown>).scrape_configs) : [];
  if (jobs.length === 0)
    return failed('discovery', `${CONFIG_KEY} in ${CONFIG} has no scrape_configs: the scraper would scrape nothing.`, hint);

  const old = jobs.flatMap((job, i) => (roles(job).includes('endpoints') ? [jobName(job, i)] : []));
  if (old.length > 0) {
    return failed(
      'discovery',
      `The scrape job ${old.join(', ')} discovers with role: endpoints, which lists and watches v1 Endpoints: every one of those requests uses the deprecated API.`,
      hint,
      [
        {
          path: `${CONFIG_KEY}: scrape_configs[].kubernetes_sd_configs[].role`,
          expected: '(an EndpointSlice discovery)',
          actual: 'endpoints',
        },
      ],
    );
  }
  const sliced = jobs.map((job, i) => ({ job, name: jobName(job, i) })).filter(({ job }) => roles(job).includes('endpointslice'));
  if (sliced.length === 0) {
    const found = [...new Set(jobs.flatMap(roles))].join(', ') || 'none';
    return failed(
      'discovery',
      `No scrape job in ${CONFIG_KEY} discovers the shop's services through EndpointSlices (roles found: ${found}): the services' endpoints would no longer be scraped.`,
      hint,
    );
  }
  for (const { job, name } of sliced) {
    const stale = records(job.relabel_configs)
      .flatMap((r) => (Array.isArray(r.source_labels) ? r.source_labels.map(String) : []))
      .filter((label) => ENDPOINTS_META.test(label));
    if (stale.length > 0) {
      return failed(
        'discovery',
        `The scrape job ${name} discovers through EndpointSlices, but a relabel rule reads ${[...new Set(stale)].join(', ')}, a label only the endpoints role sets: it is always empty now, so the rule matches no target.`,
        hint,
        [
          {
            path: `${CONFIG_KEY}: ${name}.relabel_configs[].source_labels`,
            expected: '(labels the endpointslice role sets)',
            actual: stale,
          },
        ],
      );
    }
  }
  return passed(
    'discovery',
    `The scraper discovers through EndpointSlices (${sliced.map((s) => s.name).join(', ')}), and its relabel rules read their labels.`,
  );
}

interface Shop {
  deployments: V1Deployment[];
  pods: V1Pod[];
  budgets: V1PodDisruptionBudget[];
}

async function readShop(ctx: CheckContext): Promise<Shop> {
  const ns = ctx.ns();
  const [deployments, pods, budgets] = await Promise.all([
    ctx.list<V1Deployment>('apps/v1', 'Deployment', ns),
    ctx.list<V1Pod>('v1', 'Pod', ns),
    ctx.list<V1PodDisruptionBudget>('policy/v1', 'PodDisruptionBudget', ns),
  ]);
  deployments.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  return { deployments, pods, budgets };
}

function settled(shop: Shop): boolean {
  return shop.deployments.every((d) => rolledOut(d)) && shop.budgets.every((b) => budgetSettled(b, shop.pods));
}

function labelsOf(d: V1Deployment): Record<string, string> {
  return d.spec?.template.metadata?.labels ?? {};
}

function replicasOf(d: V1Deployment): number {
  return d.spec?.replicas ?? 1;
}

function selectorText(b: V1PodDisruptionBudget): string {
  const s = b.spec?.selector;
  if (!s) return 'no selector';
  const parts = [
    ...Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(s.matchExpressions ?? []).map((e) => `${e.key} ${e.operator} ${(e.values ?? []).join(',')}`.trim()),
  ];
  return parts.length > 0 ? parts.join(', ') : 'every pod';
}

/** What one budget keeps of one workload: all it may let go, spent on this workload's pods. */
function keptOf(
  budget: V1PodDisruptionBudget,
  workload: V1Deployment,
  all: readonly V1Deployment[],
): { kept: number; expected: number; keeps: number } {
  const expected = all.filter((d) => budgetSelects(budget.spec?.selector, labelsOf(d))).reduce((sum, d) => sum + replicasOf(d), 0);
  const kept = keeps(budget, expected);
  return { kept: Math.max(0, replicasOf(workload) - (expected - kept)), expected, keeps: kept };
}

/** A running pod of the Deployment, the one a drain's eviction is asked for. */
function podOf(d: V1Deployment, pods: readonly V1Pod[]): V1Pod | undefined {
  return pods.find((p) => !p.metadata?.deletionTimestamp && budgetSelects(d.spec?.selector, p.metadata?.labels ?? {}));
}

/**
 * `answers`: the eviction API's own answer to a dry-run eviction of one pod
 * of each Deployment (by its name). The budgets' rules say why a refusal
 * happened; the answer says whether it does.
 */
function drainCriteria(shop: Shop, answers: ReadonlyMap<string, Admission>): Criterion[] {
  const { deployments, pods, budgets } = shop;
  const names = (list: readonly V1PodDisruptionBudget[]) => list.map((b) => b.metadata?.name).join(', ');
  const pdbHint = '`kubectl get pdb` and `kubectl describe pdb`; `kubectl get pods --show-labels` shows the labels a selector must match.';

  const single = deployments.filter((d) => replicasOf(d) < 2);
  const replicas = criterion('replicas', single.length === 0, {
    pass: `Every Deployment runs 2 or more replicas (${deployments.map((d) => `${d.metadata?.name}: ${replicasOf(d)}`).join(', ')}).`,
    fail: `${single.map((d) => `${d.metadata?.name} runs ${plural(replicasOf(d), 'replica')}`).join('; ')}: evicting it leaves nothing serving until its replacement starts on another node.`,
    hint: '`kubectl get deployments`',
    diff: single.map((d) => ({ path: `Deployment ${d.metadata?.name}: spec.replicas`, expected: '≥ 2', actual: replicasOf(d) })),
  });

  // Budgets over no pod of the shop: usually a selector that misses.
  const idle = budgets.filter(
    (b) =>
      !deployments.some((d) => budgetSelects(b.spec?.selector, labelsOf(d))) &&
      !pods.some((p) => budgetSelects(b.spec?.selector, p.metadata?.labels ?? {})),
  );
  const idleNote =
    idle.length > 0
      ? ` ${idle.map((b) => `The PodDisruptionBudget ${b.metadata?.name} selects no pod (${selectorText(b)}).`).join(' ')}`
      : '';

  const unprotected: string[] = [];
  const protectDiff: Difference[] = [];
  for (const d of deployments) {
    const name = d.metadata?.name ?? '';
    const covering = budgetsFor(budgets, labelsOf(d));
    if (covering.length === 0) {
      unprotected.push(`No PodDisruptionBudget covers ${name}: a drain may evict all ${plural(replicasOf(d), 'pod')} at once.`);
      protectDiff.push({ path: `${name}: budgets covering its pods`, expected: 1, actual: 0 });
      continue;
    }
    const judged = covering.map((b) => ({ b, ...keptOf(b, d, deployments) }));
    const best = judged.reduce((a, b) => (b.kept > a.kept ? b : a));
    if (best.kept < 1) {
      unprotected.push(
        `The PodDisruptionBudget ${best.b.metadata?.name} (${rule(best.b)}) keeps none of ${name}'s ${plural(replicasOf(d), 'pod')}: a drain may evict them all at once.`,
      );
      protectDiff.push({ path: `${name}: pods its budget keeps`, expected: '≥ 1', actual: best.kept });
    }
  }
  const protectedCriterion = criterion('protected', unprotected.length === 0, {
    pass: 'One budget or more covers every Deployment and keeps at least one of its pods through a drain.',
    fail: `${unprotected.join(' ')}${idleNote}`,
    hint: pdbHint,
    diff: protectDiff,
  });

  const blocked: string[] = [];
  const drainDiff: Difference[] = [];
  for (const d of deployments) {
    const name = d.metadata?.name ?? '';
    const pod = podOf(d, pods);
    const answer = answers.get(name);
    if (answer?.allowed) continue;
    const verdict = evictionVerdict(budgets, pod?.metadata?.labels ?? labelsOf(d));
    if (verdict.allowed) {
      // The API refused for a reason the budgets' rules do not show: its own words.
      if (answer) blocked.push(`A drain's eviction of ${pod?.metadata?.name} (${name}) is refused: ${answer.reason}`);
      continue;
    }
    const [budget] = verdict.budgets;
    const podName = pod?.metadata?.name ?? `a pod of ${name}`;
    if (verdict.why === 'several-budgets') {
      blocked.push(
        `The pods of ${name} are covered by more than one PodDisruptionBudget (${names(verdict.budgets)}): the eviction API refuses to evict such a pod, so every drain stalls on ${podName}.`,
      );
      drainDiff.push({ path: `${name}: budgets covering its pods`, expected: 1, actual: verdict.budgets.length });
    } else if (verdict.why === 'processing') {
      blocked.push(
        `The PodDisruptionBudget ${budget?.metadata?.name} of ${name} is still being processed by the disruption controller: check again in a moment.`,
      );
    } else if (budget) {
      const { expected, keeps: kept } = keptOf(budget, d, deployments);
      const allowed = budget.status?.disruptionsAllowed ?? 0;
      blocked.push(
        `The PodDisruptionBudget ${budget.metadata?.name} (${rule(budget)}) allows no disruption (it keeps ${kept} of ${expected} pods): a drain's eviction of ${podName} is refused, and the node upgrade stalls on ${name}.`,
      );
      drainDiff.push({ path: `PodDisruptionBudget ${budget.metadata?.name}: status.disruptionsAllowed`, expected: '≥ 1', actual: allowed });
    }
  }
  const drainable = criterion('drainable', blocked.length === 0, {
    pass: 'A drain may evict a pod of every Deployment now (no pod under two budgets, every budget allowing a disruption).',
    fail: blocked.join(' '),
    hint: '`kubectl get pdb` shows ALLOWED DISRUPTIONS. An eviction asked with ?dryRun=All is answered as a drain would be, and evicts nothing.',
    diff: drainDiff,
  });
  return [replicas, protectedCriterion, drainable];
}

export default defineCheck({
  lab: 'upgrade-ready',
  steps: {
    async 'deprecated-apis'(ctx) {
      const ns = ctx.ns();
      const scraper = { serviceAccount: 'scraper', namespace: ns };
      const named = [SLICES, 'services', 'pods'];
      const need = named.flatMap((resource) => rights(['list', 'watch'], resource, ns));
      const refuse = [
        ...rights(READ_VERBS, 'endpoints', ns),
        ...named.flatMap((resource) => rights(WRITE_VERBS, resource, ns)),
        ...rights(WRITE_VERBS, 'endpoints', ns),
        ...OTHERS.flatMap((other) => rights(['list'], SLICES, other)),
        ...beyondTheTask({ own: [ns], others: OTHERS }, named),
      ];
      const [config, { lacking, extra }] = await Promise.all([
        ctx.get<V1ConfigMap>('v1', 'ConfigMap', CONFIG, ns),
        askMatrix(ctx, scraper, { need, refuse }),
      ]);
      const isEndpoints = (a: Access) =>
        a.resource === 'endpoints' && (a.group ?? '') === '' && a.namespace === ns && (READ_VERBS as readonly string[]).includes(a.verb);
      const endpoints = extra.filter(isEndpoints);
      const rest = extra.filter((a) => !isEndpoints(a));
      const who = `\`kubectl auth can-i --list --as system:serviceaccount:${ns}:scraper\``;
      return [
        discovery(config),
        criterion('reads-slices', lacking.length === 0, {
          pass: 'The scraper may list and watch EndpointSlices, services and pods.',
          fail: `ServiceAccount scraper may not ${describeRights(lacking)}: the scraper's discovery would fail on every request.`,
          hint: `${who}; EndpointSlices belong to the API group discovery.k8s.io (\`kubectl api-resources --api-group=discovery.k8s.io\`).`,
          diff: lacking.map((a) => ({
            path: `can-i ${a.verb} ${a.resource}${a.group ? `.${a.group}` : ''}`,
            expected: 'yes',
            actual: 'no',
          })),
        }),
        criterion('no-endpoints', endpoints.length === 0, {
          pass: 'The scraper no longer reads Endpoints.',
          fail: `ServiceAccount scraper may still ${describeRights(endpoints)}: the deprecated API stays in use by whatever still holds that right, and the migration cannot be told apart from no migration.`,
          hint: `${who}; \`kubectl get rolebindings -o wide\` shows which roles it is bound to.`,
          diff: endpoints.map((a) => ({ path: `can-i ${a.verb} endpoints`, expected: 'no', actual: 'yes' })),
        }),
        criterion('nothing-else', rest.length === 0, {
          pass: 'The scraper may do nothing beyond reading what it discovers.',
          fail: `ServiceAccount scraper may also ${describeRights(rest)}: a scraper reads its targets and nothing else.`,
          hint: `Built-in roles such as view read far more than a scraper needs. ${who}`,
        }),
      ];
    },

    async drain(ctx) {
      let shop = await readShop(ctx);
      if (shop.deployments.length === 0) {
        return [missing('protected', 'No Deployment of the shop', 'Were they deleted? Reset the lab to get them back.')];
      }
      if (!settled(shop)) {
        await ctx.waitFor(async () => {
          shop = await readShop(ctx);
          return settled(shop);
        }, SETTLE_MS);
      }
      const asked = shop.deployments.flatMap((d) => {
        const pod = podOf(d, shop.pods);
        return pod?.metadata?.name ? [{ deployment: d.metadata?.name ?? '', pod: pod.metadata.name }] : [];
      });
      const answers = await Promise.all(asked.map(({ pod }) => ctx.evicts(pod, ctx.ns())));
      return drainCriteria(shop, new Map(asked.map(({ deployment }, i) => [deployment, answers[i] as Admission])));
    },
  },
});
