import { type KubernetesObject, loadYaml, type V1ConfigMap } from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { criterion, defineCheck, failed, missing } from './lib/check.ts';
import { differences } from './lib/compare.ts';

type Captured = KubernetesObject & { spec?: Record<string, unknown>; data?: Record<string, string>; status?: unknown };

const EXPECTED = [
  { apiVersion: 'v1', kind: 'ConfigMap', name: 'orders-config' },
  { apiVersion: 'apps/v1', kind: 'Deployment', name: 'orders' },
  { apiVersion: 'v1', kind: 'Service', name: 'orders' },
];

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

export default defineCheck({
  lab: 'recreate-from-scratch',
  steps: {
    async capture(ctx) {
      const blueprint = await ctx.get<V1ConfigMap>('v1', 'ConfigMap', 'blueprint', ctx.ns());
      if (!blueprint) return [missing('complete', 'The ConfigMap blueprint', '`kubectl create configmap blueprint --from-file=<folder>/`')];
      let kustomization: { resources?: string[] } | undefined;
      let captured: Captured[] = [];
      try {
        kustomization = parse(blueprint.data?.['kustomization.yaml'] ?? '') ?? undefined;
        captured = parseAllDocuments(blueprint.data?.['resources.yaml'] ?? '')
          .map((d) => d.toJS() as Captured | null)
          .filter((o): o is Captured => o !== null && typeof o === 'object');
      } catch (error) {
        return [
          failed(
            'complete',
            `blueprint does not hold valid YAML: ${(error as Error).message}`,
            '`kubectl get configmap blueprint -o yaml`',
          ),
        ];
      }
      const find = (e: (typeof EXPECTED)[number]) => captured.find((o) => o.kind === e.kind && o.metadata?.name === e.name);
      const absent = EXPECTED.filter((e) => !find(e)).map((e) => `${e.kind} ${e.name}`);
      const dirty = captured.flatMap((o) => {
        const added = clusterAdded(o);
        return added.length ? [`${o.kind} ${o.metadata?.name}: ${added.join(', ')}`] : [];
      });

      // Would the files apply to an empty namespace? A server-side dry run in the scratch namespace says.
      const scratch = ctx.ns('scratch');
      const [answers, lives] = await Promise.all([
        Promise.all(
          captured.map((object) =>
            ctx.admits(loadYaml<KubernetesObject>(JSON.stringify({ ...object, metadata: { ...object.metadata, namespace: scratch } }))),
          ),
        ),
        Promise.all(EXPECTED.map((e) => ctx.get<Captured>(e.apiVersion, e.kind, e.name, ctx.ns()))),
      ]);
      const refusals = captured.flatMap((object, i) =>
        answers[i]?.allowed ? [] : [`${object.kind} ${object.metadata?.name}: ${answers[i]?.reason}`],
      );

      // Does each captured object say what the live one says?
      const drift = EXPECTED.flatMap((e, i) => {
        const copy = find(e);
        if (!copy) return [];
        const field = e.kind === 'ConfigMap' ? 'data' : 'spec';
        const { clusterIP: _, clusterIPs: __, ...capturedSpec } = (copy[field] ?? {}) as Record<string, unknown>;
        const live = lives[i] ? JSON.parse(JSON.stringify(lives[i])) : {};
        return differences(capturedSpec, live[field]).map((d) => ({ ...d, path: `${e.kind} ${e.name}: ${field}.${d.path}` }));
      });
      const listed = kustomization?.resources?.includes('resources.yaml') ?? false;
      return [
        criterion('complete', absent.length === 0 && listed, {
          pass: 'blueprint holds a kustomization and the three objects.',
          fail: absent.length
            ? `blueprint has no ${absent.join(', no ')}.`
            : 'kustomization.yaml in blueprint does not list resources.yaml.',
          hint: '`kubectl get configmap blueprint -o yaml`',
        }),
        criterion('clean', dirty.length === 0, {
          pass: 'The files carry nothing the cluster added.',
          fail: `resources.yaml keeps what the cluster added: ${dirty.join('; ')}. A copy with them is a snapshot of one cluster, not files to recreate it from.`,
          hint: 'Compare `kubectl get <kind> <name> -o yaml` with what you would have written by hand.',
        }),
        criterion('recreatable', refusals.length === 0 && captured.length > 0, {
          pass: 'Every object applies to an empty namespace.',
          fail: refusals.length
            ? `In an empty namespace the API server refuses ${refusals.join('; ')}`
            : 'resources.yaml holds no objects.',
          hint: '`kubectl apply --dry-run=server -f resources.yaml -n <the scratch namespace>`',
        }),
        criterion('faithful', drift.length === 0, {
          pass: 'The files say what the running objects say.',
          fail: `The files differ from the running objects at ${drift.map((d) => d.path).join(', ')}.`,
          hint: 'Capture from the running objects; do not rewrite them from memory.',
          diff: drift,
        }),
      ];
    },
  },
});
