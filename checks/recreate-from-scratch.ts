/**
 * Recreate from scratch: the blueprint ConfigMap holds a kustomization and
 * the files it lists (one resources.yaml, or one file per object, or a List:
 * every layout kustomize reads from a flat folder), which together hold the
 * three hand-built objects without what the cluster added. The files must
 * apply to an empty namespace (a server-side dry run in the scratch
 * namespace) and say everything the running objects say: the dry run fills
 * in the same defaults the running objects got, so the two are compared
 * field by field both ways, and a capture that drops a key, a label or a
 * field is refused as surely as one that changes it.
 */
import { type KubernetesObject, loadYaml, type V1ConfigMap } from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { type Admission, criterion, defineCheck, missing } from './lib/check.ts';
import { type Difference, differences } from './lib/compare.ts';

type Captured = KubernetesObject & {
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
  status?: unknown;
  items?: unknown[];
};

const EXPECTED = [
  { apiVersion: 'v1', kind: 'ConfigMap', name: 'orders-config' },
  { apiVersion: 'apps/v1', kind: 'Deployment', name: 'orders' },
  { apiVersion: 'v1', kind: 'Service', name: 'orders' },
] as const;

/** The names kustomize looks for in a folder. */
const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
/** Annotations the cluster or kubectl write, which neither side of the comparison needs. */
const WRITTEN_BY_TOOLS = ['deployment.kubernetes.io/revision', 'kubectl.kubernetes.io/last-applied-configuration'];
/** Fields the API server assigns per cluster, which a capture leaves out. */
const ASSIGNED_SPEC = ['clusterIP', 'clusterIPs'];
const LOOK = '`kubectl get configmap blueprint -o yaml`';

/** What the cluster adds to an object, which a file to recreate it from must not carry. */
function clusterAdded(object: Captured): string[] {
  const m = (object.metadata ?? {}) as Record<string, unknown>;
  const spec = object.spec ?? {};
  return [
    object.status !== undefined ? 'status' : '',
    ...['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation', 'selfLink']
      .filter((k) => m[k] !== undefined)
      .map((k) => `metadata.${k}`),
    object.kind === 'Service' && (spec.clusterIP !== undefined || spec.clusterIPs !== undefined) ? 'spec.clusterIP' : '',
  ].filter(Boolean);
}

interface Blueprint {
  objects: Captured[];
  /** What stops the files being read as kustomize would: a missing kustomization, an unlisted file, bad YAML. */
  problems: string[];
}

/** The objects of the files the kustomization lists, Lists flattened, as `kubectl apply -k` would read them. */
function readBlueprint(map: V1ConfigMap): Blueprint {
  const files = map.data ?? {};
  const name = KUSTOMIZATION_FILES.find((f) => files[f] !== undefined);
  if (!name) return { objects: [], problems: ['blueprint has no kustomization.yaml'] };
  let resources: unknown;
  try {
    resources = (parse(files[name] ?? '') as { resources?: unknown } | null)?.resources;
  } catch (error) {
    return { objects: [], problems: [`${name} in blueprint is not valid YAML: ${(error as Error).message}`] };
  }
  if (!Array.isArray(resources) || resources.length === 0) return { objects: [], problems: [`${name} in blueprint lists no resources`] };
  const objects: Captured[] = [];
  const problems: string[] = [];
  for (const entry of resources) {
    const file = String(entry).replace(/^\.\//, '');
    const text = files[file];
    if (text === undefined) {
      problems.push(`${name} lists ${String(entry)}, which blueprint does not hold`);
      continue;
    }
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) {
        problems.push(`${file} is not valid YAML: ${doc.errors[0]?.message}`);
        continue;
      }
      const value = doc.toJS() as Captured | null;
      if (value === null || typeof value !== 'object') continue;
      // kubectl get of several objects prints a List; kustomize reads its items.
      const items = typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items) ? value.items : [value];
      for (const item of items as Captured[]) {
        if (!item?.apiVersion || !item.kind || !item.metadata?.name)
          problems.push(`${file} has a document without apiVersion, kind and metadata.name`);
        else objects.push(item);
      }
    }
  }
  return { objects, problems };
}

function withoutKeys(value: Record<string, unknown> | undefined, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([k]) => !keys.includes(k)));
}

/** The parts of an object a capture must keep, for comparing a captured object (defaulted by a dry run) with the live one. */
function intent(object: Captured | KubernetesObject | undefined): Record<string, unknown> {
  const o = JSON.parse(JSON.stringify(object ?? {})) as Captured;
  const meta = { labels: o.metadata?.labels ?? {}, annotations: withoutKeys(o.metadata?.annotations, WRITTEN_BY_TOOLS) };
  if (o.kind === 'ConfigMap') return { metadata: meta, data: o.data ?? {}, binaryData: o.binaryData ?? {} };
  return { metadata: meta, spec: withoutKeys(o.spec, ASSIGNED_SPEC) };
}

/** Every field where the two differ, whichever side has it: a field dropped counts as much as a field changed. */
function drift(label: string, live: unknown, captured: unknown): Difference[] {
  const lost = differences(live, captured);
  const added = differences(captured, live).filter((d) => !lost.some((l) => l.path === d.path));
  return [...lost, ...added.map((d) => ({ path: d.path, expected: d.actual, actual: d.expected }))].map((d) => ({
    ...d,
    path: `${label}: ${d.path}`,
  }));
}

export default defineCheck({
  lab: 'recreate-from-scratch',
  steps: {
    async capture(ctx) {
      const blueprint = await ctx.get<V1ConfigMap>('v1', 'ConfigMap', 'blueprint', ctx.ns());
      if (!blueprint) return [missing('complete', 'The ConfigMap blueprint', '`kubectl create configmap blueprint --from-file=<folder>/`')];
      const { objects: captured, problems } = readBlueprint(blueprint);
      const find = (e: (typeof EXPECTED)[number]) => captured.find((o) => o.kind === e.kind && o.metadata?.name === e.name);
      const absent = EXPECTED.filter((e) => !find(e)).map((e) => `${e.kind} ${e.name}`);
      const ids = captured.map((o) => `${o.kind} ${o.metadata?.name}`);
      const twice = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
      const dirty = captured.flatMap((o) => {
        const added = clusterAdded(o);
        return added.length ? [`${o.kind} ${o.metadata?.name}: ${added.join(', ')}`] : [];
      });

      // Would the files apply to an empty namespace? A server-side dry run in the scratch namespace says.
      const scratch = ctx.ns('scratch');
      const [answers, lives] = await Promise.all([
        Promise.all(
          captured.map(
            (object): Promise<Admission> =>
              ctx.admits(loadYaml<KubernetesObject>(JSON.stringify({ ...object, metadata: { ...object.metadata, namespace: scratch } }))),
          ),
        ),
        Promise.all(EXPECTED.map((e) => ctx.get<Captured>(e.apiVersion, e.kind, e.name, ctx.ns()))),
      ]);
      const refusals = captured.flatMap((object, i) =>
        answers[i]?.allowed ? [] : [`${object.kind} ${object.metadata?.name}: ${answers[i]?.reason}`],
      );

      // Does each captured object, defaulted as the API server would, say what the live one says?
      const drifts = EXPECTED.flatMap((e, i) => {
        const at = captured.findIndex((o) => o.kind === e.kind && o.metadata?.name === e.name);
        const admitted = answers[at]?.object;
        if (at < 0 || !admitted || !lives[i]) return [];
        return drift(`${e.kind} ${e.name}`, intent(lives[i]), intent(admitted));
      });
      const completeFail = [
        ...problems,
        ...(absent.length ? [`blueprint's files have no ${absent.join(', no ')}`] : []),
        ...(twice.length ? [`${twice.join(', ')} ${twice.length === 1 ? 'is' : 'are'} in the files twice, which kustomize refuses`] : []),
      ];
      return [
        criterion('complete', completeFail.length === 0, {
          pass: 'blueprint holds a kustomization and the files with the three objects.',
          fail: `${completeFail.join('; ')}.`,
          hint: `${LOOK}; \`kubectl kustomize <folder>\` shows what kustomize reads.`,
        }),
        criterion('clean', dirty.length === 0, {
          pass: 'The files carry nothing the cluster added.',
          fail: `The files keep what the cluster added: ${dirty.join('; ')}. A copy with them is a snapshot of one cluster, not files to recreate it from.`,
          hint: 'Compare `kubectl get <kind> <name> -o yaml` with what you would have written by hand.',
        }),
        criterion('recreatable', refusals.length === 0 && captured.length > 0, {
          pass: 'Every object applies to an empty namespace.',
          fail: refusals.length ? `In an empty namespace the API server refuses ${refusals.join('; ')}` : 'The files hold no objects.',
          hint: '`kubectl apply --dry-run=server -k <folder> -n <the scratch namespace>`',
        }),
        criterion('faithful', drifts.length === 0, {
          pass: 'The files say everything the running objects say.',
          fail: `The files differ from the running objects (a field dropped or changed) at ${drifts
            .slice(0, 6)
            .map((d) => d.path)
            .join(', ')}${drifts.length > 6 ? ', …' : ''}.`,
          hint: 'Capture from the running objects; remove only what the cluster added, and rewrite nothing from memory.',
          diff: drifts,
        }),
      ];
    },
  },
});
