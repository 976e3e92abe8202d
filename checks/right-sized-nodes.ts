/**
 * right-sized-nodes: the real Karpenter (its kwok provider) launches nodes
 * for a Spark job's pending executors from the learner's NodePool `spark`,
 * and consolidates them when the job scales down.
 *
 * The NodePool is read the way Karpenter reads it. Its requirements are
 * evaluated as sets over this cluster's instance catalogue (whatever the
 * operators: In, NotIn, Exists, Gt on a size label, or no requirement at
 * all), counting only the offerings that can hold one executor, so "arm64
 * and Spot allowed" means Karpenter may really launch them. The taint must
 * keep other pods off and be tolerated by the executors; the CPU limit must
 * bound the pool; consolidation must remove underused nodes, soon, and no
 * always-on budget may forbid it. Then the state: every executor Running on
 * a node the pool launched, and after the scale-down no node of the pool
 * that Karpenter could remove (empty, or its pods fitting on the others).
 * Both wait, bounded, for Karpenter while it is at work, and only when the
 * NodePool lets it do the task.
 */
import type { KubernetesObject, V1Deployment, V1Node, V1Pod, V1PodDisruptionBudget, V1Taint } from '@kubernetes/client-node';
import { INSTANCE_TYPES, NODE_CLASS } from '../cluster/src/local/karpenter.ts';
import { ZONES } from '../cluster/src/local/nodes.ts';
import { type CheckContext, type Criterion, criterion, defineCheck, failed, missing, passed } from './lib/check.ts';
import { budgetsFor, keeps } from './lib/disruption.ts';
import { toleratesTaint } from './lib/place-scheduling.ts';
import { quantity } from './lib/quantity.ts';
import { deployment, livePods, plural } from './lib/workloads.ts';

const POOL = 'spark';
const EXECUTORS = 'executors';
const POOL_LABEL = 'karpenter.sh/nodepool';
const ARCH = 'kubernetes.io/arch';
const CAPACITY = 'karpenter.sh/capacity-type';
const INSTANCE_TYPE = 'node.kubernetes.io/instance-type';
/** The cap the task sets on the pool, in CPUs. */
const MAX_CPU = 32;
/** How many executors the job keeps after its wide stage. */
const SCALED_TO = 2;
/** The longest consolidateAfter the task allows. */
const MAX_CONSOLIDATE_AFTER_S = 60;
/** What every kwok instance keeps for the system (the provider's kube-reserved). */
const RESERVED = { cpu: 0.1, memory: 10 * 2 ** 20 };
/** How long Karpenter holds a consolidation decision before it acts (its commandValidationDelay). */
const VALIDATION_S = 15;
/** How long a check waits for Karpenter at work: within the check's own deadline. */
const WAIT_MS = 14_000;
/** A change younger than this may still have Karpenter's answer under way. */
const SETTLING_MS = 20_000;
const DO_NOT_DISRUPT = 'karpenter.sh/do-not-disrupt';

interface Requirement {
  key: string;
  operator: string;
  values?: string[];
}

interface Budget {
  nodes?: string;
  reasons?: string[];
  schedule?: string;
}

interface NodePool extends KubernetesObject {
  spec?: {
    replicas?: number;
    template?: {
      spec?: {
        nodeClassRef?: { group?: string; kind?: string; name?: string };
        requirements?: Requirement[];
        taints?: V1Taint[];
        startupTaints?: V1Taint[];
      };
    };
    limits?: Record<string, string | number>;
    disruption?: { consolidationPolicy?: string; consolidateAfter?: string; budgets?: Budget[] };
  };
  status?: {
    resources?: Record<string, string>;
    conditions?: Array<{ type: string; status: string; message?: string; reason?: string }>;
  };
}

interface NodeClaim extends KubernetesObject {
  status?: { nodeName?: string; conditions?: Array<{ type: string; status: string }> };
}

/** One way Karpenter can launch a node here: an instance type in a zone with a capacity type. */
interface Offering {
  labels: Record<string, string>;
  cpu: number;
  memory: number;
}

/** The offerings of this cluster's Karpenter, with the labels its kwok provider gives each instance type. */
const OFFERINGS: Offering[] = INSTANCE_TYPES.flatMap((type) =>
  ZONES.flatMap((zone) =>
    ['spot', 'on-demand'].map((capacity) => ({
      cpu: type.cpu,
      memory: type.memoryGi * 2 ** 30,
      labels: {
        [INSTANCE_TYPE]: type.name,
        [ARCH]: type.arch,
        'kubernetes.io/os': 'linux',
        'topology.kubernetes.io/zone': zone,
        [CAPACITY]: capacity,
        'karpenter.kwok.sh/instance-family': type.name.split('.')[0] ?? type.name,
        'karpenter.kwok.sh/instance-size': type.name.split('.')[1] ?? String(type.cpu),
        'karpenter.kwok.sh/instance-cpu': String(type.cpu),
        'karpenter.kwok.sh/instance-memory': `${type.memoryGi}Gi`,
      },
    })),
  ),
);
const KNOWN_KEYS = new Set(OFFERINGS.flatMap((o) => Object.keys(o.labels)));

/** Whether a NodePool requirement admits an offering, as Karpenter reads it; a key the catalogue lacks becomes a node label and restricts nothing. */
function admits(req: Requirement, labels: Record<string, string>): boolean {
  if (!KNOWN_KEYS.has(req.key)) return true;
  const value = labels[req.key];
  const values = req.values ?? [];
  const n = Number(value);
  const bound = Number(values[0]);
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
      return n > bound;
    case 'Lt':
      return n < bound;
    case 'Gte':
      return n >= bound;
    case 'Lte':
      return n <= bound;
    default:
      return false;
  }
}

/** What one executor asks for: its containers' requests (a limit stands in for a missing request). */
function executorRequests(d: V1Deployment): { cpu: number; memory: number } {
  let cpu = 0;
  let memory = 0;
  for (const c of d.spec?.template.spec?.containers ?? []) {
    cpu += quantity(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu) ?? 0;
    memory += quantity(c.resources?.requests?.memory ?? c.resources?.limits?.memory) ?? 0;
  }
  return { cpu, memory };
}

function holds(o: Offering, need: { cpu: number; memory: number }): boolean {
  return o.cpu - RESERVED.cpu >= need.cpu && o.memory - RESERVED.memory >= need.memory;
}

function describeTaint(t: V1Taint): string {
  return `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
}

function cores(n: number): string {
  return `${Math.round(n * 100) / 100} CPU`;
}

/** Seconds of a Go duration as Karpenter's CRD allows it (`30s`, `1m30s`, `2h`); undefined for Never. */
function seconds(duration: string): number | undefined {
  if (duration === 'Never') return undefined;
  let total = 0;
  for (const [, n = '0', unit] of duration.matchAll(/(\d+)([smh])/g)) total += Number(n) * (unit === 'h' ? 3600 : unit === 'm' ? 60 : 1);
  return total;
}

/** Whether the pool will remove empty and underused nodes soon enough; the same reading in both steps. */
function consolidation(pool: NodePool): Criterion {
  const disruption = pool.spec?.disruption;
  const policy = disruption?.consolidationPolicy ?? 'WhenEmptyOrUnderutilized';
  const after = disruption?.consolidateAfter ?? '0s';
  const wait = seconds(after);
  const hint = '`kubectl explain nodepool.spec.disruption` describes the policy, consolidateAfter and budgets.';
  if (pool.spec?.replicas !== undefined) {
    return failed(
      'consolidation',
      `The NodePool spark sets spec.replicas (${pool.spec.replicas}): a static pool keeps that many nodes whatever the pods ask for, and consolidation does not apply to it.`,
      hint,
      [{ path: 'spec.replicas', expected: undefined, actual: pool.spec.replicas }],
    );
  }
  if (wait === undefined) {
    return failed(
      'consolidation',
      'consolidateAfter: Never turns consolidation off: Karpenter never removes a node of the pool, empty or not.',
      hint,
      [{ path: 'spec.disruption.consolidateAfter', expected: `at most ${MAX_CONSOLIDATE_AFTER_S}s`, actual: after }],
    );
  }
  if (policy === 'WhenEmpty') {
    return failed(
      'consolidation',
      'consolidationPolicy WhenEmpty removes only nodes with no pods: a node left with one executor after the job scales down stays, underused, for as long as that executor runs.',
      hint,
      [{ path: 'spec.disruption.consolidationPolicy', expected: 'a policy that also removes underused nodes', actual: policy }],
    );
  }
  if (wait > MAX_CONSOLIDATE_AFTER_S) {
    return failed(
      'consolidation',
      `consolidateAfter is ${after}: Karpenter leaves an underused node for that long after its pods last changed; the task asks for at most a minute.`,
      hint,
      [{ path: 'spec.disruption.consolidateAfter', expected: `at most ${MAX_CONSOLIDATE_AFTER_S}s`, actual: after }],
    );
  }
  const blocking = (disruption?.budgets ?? []).find(
    (b) =>
      b.schedule === undefined &&
      /^0+%?$/.test(String(b.nodes ?? '')) &&
      (!b.reasons?.length || b.reasons.includes('Underutilized') || b.reasons.includes('Empty')),
  );
  if (blocking) {
    const reasons = blocking.reasons?.length ? ` for ${blocking.reasons.join(' and ')}` : '';
    return failed(
      'consolidation',
      `A disruption budget allows ${blocking.nodes} nodes${reasons} at a time, with no schedule, so always: Karpenter may never consolidate the pool.`,
      hint,
      [{ path: 'spec.disruption.budgets', expected: 'no always-active budget of 0 nodes for consolidation', actual: disruption?.budgets }],
    );
  }
  return passed(
    'consolidation',
    `Karpenter consolidates empty and underused nodes of spark (${policy}) ${after} after their pods last changed.`,
  );
}

/**
 * The pool's nodes that are staying: Karpenter counts a node to a NodePool by
 * its karpenter.sh/nodepool label, so this does too, leaving out the nodes
 * (and NodeClaims) on their way out.
 */
async function poolNodes(ctx: CheckContext): Promise<{ claims: NodeClaim[]; nodes: V1Node[] }> {
  const [claims, nodes] = await Promise.all([
    ctx.list<NodeClaim>('karpenter.sh/v1', 'NodeClaim', undefined, `${POOL_LABEL}=${POOL}`),
    ctx.list<V1Node>('v1', 'Node', undefined, `${POOL_LABEL}=${POOL}`),
  ]);
  const going = new Set(claims.filter((c) => c.metadata?.deletionTimestamp).map((c) => c.status?.nodeName));
  return { claims, nodes: nodes.filter((n) => !n.metadata?.deletionTimestamp && !going.has(n.metadata?.name)) };
}

function describeNode(n: V1Node): string {
  const l = n.metadata?.labels ?? {};
  return `${l[INSTANCE_TYPE] ?? '?'} ${l[CAPACITY] ?? '?'} ${l[ARCH] ?? '?'} in ${l['topology.kubernetes.io/zone'] ?? '?'}`;
}

/**
 * The CPUs of the instance behind a node, from its instance type: kwok
 * reports a simulated node's status.capacity as what its pods request, so
 * that field (and the NodePool's status.resources) can read low.
 */
function instanceCpu(n: V1Node): number {
  const type = INSTANCE_TYPES.find((t) => t.name === n.metadata?.labels?.[INSTANCE_TYPE]);
  return type?.cpu ?? quantity(n.status?.allocatable?.cpu) ?? 0;
}

function isTrue(claim: NodeClaim, type: string): boolean {
  return claim.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}

/** When the learner last changed the NodePool (Karpenter's own status writes do not count). */
function lastChanged(pool: NodePool): number {
  const times = (pool.metadata?.managedFields ?? []).filter((f) => f.subresource !== 'status').map((f) => new Date(f.time ?? 0).getTime());
  return Math.max(new Date(pool.metadata?.creationTimestamp ?? 0).getTime(), ...times);
}

interface Placement {
  pool: NodePool;
  executors: V1Deployment;
  pods: V1Pod[];
  nodes: V1Node[];
  claims: NodeClaim[];
}

async function placement(ctx: CheckContext): Promise<Placement | undefined> {
  const [pool, executors] = await Promise.all([ctx.get<NodePool>('karpenter.sh/v1', 'NodePool', POOL), deployment(ctx, EXECUTORS)]);
  if (!pool || !executors) return undefined;
  const [pods, { nodes, claims }] = await Promise.all([livePods(ctx, executors), poolNodes(ctx)]);
  return { pool, executors, pods, nodes, claims };
}

function onPool(p: Placement): { running: V1Pod[]; pending: V1Pod[] } {
  const names = new Set(p.nodes.map((n) => n.metadata?.name));
  const running = p.pods.filter((pod) => pod.status?.phase === 'Running' && names.has(pod.spec?.nodeName));
  return { running, pending: p.pods.filter((pod) => !pod.spec?.nodeName) };
}

function allRunning(p: Placement): boolean {
  const want = p.executors.spec?.replicas ?? 1;
  return want > 0 && p.pods.length === want && onPool(p).running.length === want;
}

/**
 * CPUs the pool may still add before its limit, or undefined without a CPU
 * limit: the larger of Karpenter's own count (status.resources) and the
 * instances its nodes are.
 */
function headroom(pool: NodePool, nodes: readonly V1Node[]): number | undefined {
  const limit = quantity(pool.spec?.limits?.cpu);
  if (limit === undefined) return undefined;
  return (
    limit -
    Math.max(
      quantity(pool.status?.resources?.cpu) ?? 0,
      nodes.reduce((s, n) => s + instanceCpu(n), 0),
    )
  );
}

/** Whether Karpenter may still be launching for the executors: a node on its way, or a change too fresh to have an answer. */
function launching(p: Placement, smallestFit: number | undefined, now = Date.now()): boolean {
  const room = headroom(p.pool, p.nodes);
  if (room !== undefined && smallestFit !== undefined && room < smallestFit) return false;
  if (p.claims.some((c) => !c.metadata?.deletionTimestamp && !isTrue(c, 'Initialized'))) return true;
  // An executor placed on a node of an earlier pool of the same name, on its way out, is about to be moved.
  const ours = new Set(p.nodes.map((n) => n.metadata?.name));
  if (p.pods.some((pod) => pod.spec?.nodeName && !ours.has(pod.spec.nodeName))) return true;
  const newest = Math.max(lastChanged(p.pool), ...p.pods.map((pod) => new Date(pod.metadata?.creationTimestamp ?? 0).getTime()));
  return now - newest < SETTLING_MS;
}

export default defineCheck({
  lab: 'right-sized-nodes',
  steps: {
    async provision(ctx) {
      const [pool, executors] = await Promise.all([ctx.get<NodePool>('karpenter.sh/v1', 'NodePool', POOL), deployment(ctx, EXECUTORS)]);
      if (!executors) return [missing('running', 'The Deployment executors', 'Was it deleted? Reset the lab to get it back.')];
      if (!pool) {
        return [
          missing(
            'nodepool',
            'The NodePool spark',
            '`kubectl get nodepools` lists them; the executors ask for nodes of the pool named spark.',
          ),
        ];
      }
      const template = pool.spec?.template?.spec;
      const need = executorRequests(executors);
      const allowed = OFFERINGS.filter((o) => (template?.requirements ?? []).every((r) => admits(r, o.labels)));
      const fitting = allowed.filter((o) => holds(o, need));
      const criteria: Criterion[] = [];

      // The node class: the only one this cluster's Karpenter knows.
      const ref = template?.nodeClassRef;
      const hintClass = '`kubectl get kwoknodeclasses` lists the node classes this cluster has.';
      if (ref?.group !== NODE_CLASS.group || ref?.kind !== NODE_CLASS.kind) {
        criteria.push(
          failed(
            'node-class',
            `nodeClassRef names a ${ref?.kind ?? '(no kind)'} of ${ref?.group ?? '(no group)'}: this cluster's Karpenter runs with its kwok provider, whose node class is ${NODE_CLASS.kind} (${NODE_CLASS.group}), and it ignores a NodePool whose class it does not serve.`,
            hintClass,
            [{ path: 'spec.template.spec.nodeClassRef', expected: `a ${NODE_CLASS.kind} of ${NODE_CLASS.group}`, actual: ref }],
          ),
        );
      } else if (!(await ctx.get('karpenter.kwok.sh/v1alpha1', NODE_CLASS.kind, ref.name ?? ''))) {
        criteria.push(
          failed(
            'node-class',
            `nodeClassRef names the ${NODE_CLASS.kind} ${ref.name}, which does not exist: Karpenter launches nothing for the pool.`,
            hintClass,
            [{ path: 'spec.template.spec.nodeClassRef.name', expected: 'an existing KWOKNodeClass', actual: ref.name }],
          ),
        );
      } else {
        criteria.push(passed('node-class', `The pool uses the ${NODE_CLASS.kind} ${ref.name}.`));
      }
      const invalid = pool.status?.conditions?.find((c) => c.type === 'ValidationSucceeded' && c.status === 'False');
      if (invalid) {
        criteria.push(
          failed(
            'valid',
            `Karpenter refuses the NodePool: ${invalid.message ?? invalid.reason}.`,
            '`kubectl describe nodepool spark` shows its conditions.',
          ),
        );
      }

      // What Karpenter may choose for one executor.
      const arches = new Set(fitting.map((o) => o.labels[ARCH]));
      const capacities = new Set(fitting.map((o) => o.labels[CAPACITY]));
      const hintChoices =
        '`kubectl get nodepool spark -o jsonpath={.spec.template.spec.requirements}` shows them; each requirement narrows what Karpenter may launch.';
      const nothing = fitting.length === 0;
      criteria.push(
        criterion('arch', arches.has('arm64') && arches.has('amd64'), {
          pass: 'Karpenter may launch arm64 (Graviton) and amd64 nodes for the executors.',
          fail: nothing
            ? `The pool's requirements leave no instance type that can hold one executor (${cores(need.cpu)}, ${need.memory / 2 ** 30}Gi): Karpenter can launch nothing for them.`
            : arches.has('arm64')
              ? 'The pool allows only arm64 for the executors: when Graviton capacity runs short, Karpenter has no amd64 type to fall back on. The task allows both architectures.'
              : 'The pool allows only amd64 for the executors: Karpenter can never choose Graviton (arm64), usually the cheaper for the same work. The task allows both architectures.',
          hint: hintChoices,
          diff: [{ path: `requirements on ${ARCH}`, expected: ['amd64', 'arm64'], actual: [...arches].sort() }],
        }),
        criterion('capacity', capacities.has('spot') && capacities.has('on-demand'), {
          pass: 'Karpenter may launch Spot, and falls back to On-Demand when Spot is short.',
          fail: nothing
            ? 'With no instance type left for the executors, there is no capacity type either.'
            : capacities.has('spot')
              ? 'The pool allows only Spot: when Spot capacity is short or reclaimed, nothing falls back to On-Demand. The task asks for Spot first with On-Demand as the fallback.'
              : 'The pool allows only On-Demand: Karpenter can never use Spot, the cheap capacity this interruptible batch job can take.',
          hint: hintChoices,
          diff: [{ path: `requirements on ${CAPACITY}`, expected: ['on-demand', 'spot'], actual: [...capacities].sort() }],
        }),
      );

      // The taint: other pods kept off, the executors let on.
      const tolerations = executors.spec?.template.spec?.tolerations ?? [];
      const taints = template?.taints ?? [];
      const untolerated = taints.filter((t) => t.effect !== 'PreferNoSchedule' && !tolerations.some((tol) => toleratesTaint(tol, t)));
      const keepsOff = taints.filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
      const hintTaint = "Compare the pool's spec.template.spec.taints with the tolerations in `kubectl get deployment executors -o yaml`.";
      if (untolerated.length > 0) {
        criteria.push(
          failed(
            'taint',
            `The executors do not tolerate the taint ${untolerated.map(describeTaint).join(', ')}, so Karpenter launches no node for them.`,
            hintTaint,
            [{ path: 'spec.template.spec.taints', expected: 'taints the executors tolerate', actual: taints }],
          ),
        );
      } else if (keepsOff.length === 0) {
        const startup = (template?.startupTaints ?? []).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
        const why =
          startup.length > 0
            ? `The pool's only taint is in startupTaints (${startup.map(describeTaint).join(', ')}): a startup taint is one an agent removes once the node is ready, after which any pod may land there.`
            : taints.length > 0
              ? `The pool's taint ${taints.map(describeTaint).join(', ')} only asks the scheduler to avoid its nodes: other pods still land there when the cluster is busy.`
              : 'The pool sets no taint: any pod that fits may be scheduled on the nodes Karpenter launches for the Spark job.';
        criteria.push(
          failed('taint', why, hintTaint, [
            { path: 'spec.template.spec.taints', expected: 'a taint the executors tolerate, NoSchedule', actual: taints },
          ]),
        );
      } else {
        criteria.push(
          passed('taint', `Its nodes carry ${keepsOff.map(describeTaint).join(', ')}: the executors tolerate it, and other pods stay off.`),
        );
      }

      // The limit: a bound on what the pool may cost.
      const limit = quantity(pool.spec?.limits?.cpu);
      const hintLimits = '`kubectl explain nodepool.spec.limits`';
      criteria.push(
        criterion('limits', limit !== undefined && limit <= MAX_CPU, {
          pass: `The pool may grow to ${cores(limit ?? 0)}.`,
          fail:
            limit === undefined
              ? Object.keys(pool.spec?.limits ?? {}).length > 0
                ? `The pool's limits set ${Object.keys(pool.spec?.limits ?? {}).join(', ')} but no cpu: the task caps the pool's CPUs.`
                : 'The pool has no limits: a runaway job, or a mistake in its requests, makes Karpenter launch nodes without bound.'
              : `limits.cpu is ${pool.spec?.limits?.cpu}: the task caps the pool at ${MAX_CPU} CPUs.`,
          hint: hintLimits,
          diff: [{ path: 'spec.limits.cpu', expected: `at most ${MAX_CPU}`, actual: pool.spec?.limits?.cpu }],
        }),
      );
      criteria.push(consolidation(pool));

      // What Karpenter did: wait for it while it is launching, if the pool lets it do the task.
      const smallestFit = fitting.length > 0 ? Math.min(...fitting.map((o) => o.cpu)) : undefined;
      let state = await placement(ctx);
      if (state && !allRunning(state) && criteria.every((c) => c.passed) && launching(state, smallestFit)) {
        await ctx.waitFor(
          async () => {
            state = await placement(ctx);
            return !state || allRunning(state) || !launching(state, smallestFit);
          },
          WAIT_MS,
          1_000,
        );
      }
      if (!state)
        return [
          ...criteria,
          missing('running', 'The NodePool spark or the Deployment executors', 'Reset the lab if the Deployment is gone.'),
        ];
      const { running, pending } = onPool(state);
      const want = state.executors.spec?.replicas ?? 1;
      const elsewhere = state.pods.filter((p) => p.spec?.nodeName && !running.includes(p));
      const room = headroom(state.pool, state.nodes);
      let fail: string;
      if (want === 0) fail = 'The Deployment executors asks for 0 replicas: there is no executor for Karpenter to launch nodes for.';
      else if (pending.length > 0) {
        const why =
          room !== undefined && smallestFit !== undefined && room < smallestFit
            ? ` The pool's nodes already take ${cores((quantity(state.pool.spec?.limits?.cpu) ?? 0) - room)} of its limits.cpu ${state.pool.spec?.limits?.cpu}, and the smallest node that holds an executor has ${smallestFit}: Karpenter launches nothing past the limit.`
            : launching(state, smallestFit)
              ? ' Karpenter is still launching nodes: check again in a few seconds.'
              : ' `kubectl get events --field-selector involvedObject.kind=Pod` shows what Karpenter and the scheduler say about them.';
        // During a rollout the old and the new executors are both counted: more Pending than the Deployment asks for.
        fail =
          pending.length > want
            ? `${plural(pending.length, 'executor pod')} are Pending, more than the ${want} the Deployment asks for: a rollout is replacing them.${why}`
            : `${plural(pending.length, 'executor')} of ${want} ${pending.length === 1 ? 'is' : 'are'} Pending.${why}`;
      } else if (elsewhere.length > 0) {
        const where = elsewhere.map((p) => `${p.metadata?.name} on ${p.spec?.nodeName} (${p.status?.phase})`).join(', ');
        fail = `${plural(elsewhere.length, 'executor')} ${elsewhere.length === 1 ? 'is' : 'are'} not Running on a node this NodePool launched: ${where}. A node of an earlier NodePool spark is drained as it goes; check again in a few seconds.`;
      } else fail = `${plural(running.length, 'executor')} of ${want} run on the pool's nodes.`;
      const types = state.nodes.map(describeNode);
      criteria.push(
        criterion('running', allRunning(state), {
          pass: `All ${plural(want, 'executor')} run on ${plural(state.nodes.length, 'node')} Karpenter launched for spark: ${types.join('; ')}.`,
          fail,
          hint: '`kubectl get pods -o wide`, `kubectl get nodeclaims` and `kubectl describe nodepool spark` show where things stand.',
        }),
      );
      return criteria;
    },

    async consolidate(ctx) {
      const [pool, executors] = await Promise.all([ctx.get<NodePool>('karpenter.sh/v1', 'NodePool', POOL), deployment(ctx, EXECUTORS)]);
      if (!executors) return [missing('replicas', 'The Deployment executors', 'Was it deleted? Reset the lab to get it back.')];
      if (!pool) return [missing('consolidation', 'The NodePool spark', 'Do the first step first: `kubectl get nodepools`.')];
      const want = executors.spec?.replicas ?? 1;
      const criteria: Criterion[] = [
        criterion('replicas', want === SCALED_TO, {
          pass: `The job keeps ${plural(SCALED_TO, 'executor')}.`,
          fail:
            want === 0
              ? `The Deployment executors asks for 0 replicas: the job still needs ${SCALED_TO} executors to finish.`
              : `The Deployment executors asks for ${plural(want, 'replica')}; the task scales it to ${SCALED_TO}.`,
          hint: '`kubectl get deployment executors` shows how many it asks for.',
          diff: [{ path: 'spec.replicas', expected: SCALED_TO, actual: want }],
        }),
        consolidation(pool),
      ];

      // Karpenter must be able to move the executors off an underused node.
      const blockers: string[] = [];
      if (executors.spec?.template.metadata?.annotations?.[DO_NOT_DISRUPT] === 'true') {
        blockers.push(`the executors' pod template carries ${DO_NOT_DISRUPT}: "true", so Karpenter never disrupts a node that runs one`);
      }
      const budgets = await ctx.list<V1PodDisruptionBudget>('policy/v1', 'PodDisruptionBudget', ctx.ns());
      const labels = executors.spec?.template.metadata?.labels ?? {};
      for (const budget of budgetsFor(budgets, labels)) {
        if (want > 0 && keeps(budget, want) >= want) {
          blockers.push(
            `the PodDisruptionBudget ${budget.metadata?.name} keeps all ${want} executors, so it never allows the eviction of one`,
          );
        }
      }
      criteria.push(
        criterion('disruptable', blockers.length === 0, {
          pass: 'Karpenter may move executors to consolidate their nodes.',
          fail: `Karpenter cannot consolidate the executors' nodes: ${blockers.join('; ')}.`,
          hint: '`kubectl get deployment executors -o yaml` and `kubectl get pdb` show what blocks an eviction.',
        }),
      );

      // The state: no node of the pool that Karpenter could remove.
      const judge = async (): Promise<{ ok: boolean; detail: string; state?: Placement }> => {
        const state = await placement(ctx);
        if (!state) return { ok: false, detail: 'The NodePool spark or the Deployment executors is gone.' };
        const { running, pending } = onPool(state);
        if (want === 0 || pending.length > 0 || running.length !== want) {
          return {
            ok: false,
            state,
            detail:
              pending.length > 0
                ? `${plural(pending.length, 'executor')} ${pending.length === 1 ? 'is' : 'are'} Pending: the pool must still run all ${want}.`
                : `${plural(running.length, 'executor')} of ${want} run on the pool's nodes.`,
          };
        }
        const all = await ctx.list<V1Pod>('v1', 'Pod');
        const podsOn = (n: V1Node) =>
          all.filter(
            (p) =>
              p.spec?.nodeName === n.metadata?.name &&
              !p.metadata?.deletionTimestamp &&
              p.status?.phase !== 'Succeeded' &&
              p.status?.phase !== 'Failed' &&
              !p.metadata?.ownerReferences?.some((o) => o.kind === 'DaemonSet'),
          );
        const request = (p: V1Pod) => {
          let cpu = 0;
          let memory = 0;
          for (const c of p.spec?.containers ?? []) {
            cpu += quantity(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu) ?? 0;
            memory += quantity(c.resources?.requests?.memory ?? c.resources?.limits?.memory) ?? 0;
          }
          return { cpu, memory };
        };
        const free = new Map(
          state.nodes.map((n) => {
            const used = podsOn(n).map(request);
            return [
              n.metadata?.name,
              {
                cpu: (quantity(n.status?.allocatable?.cpu) ?? 0) - used.reduce((s, u) => s + u.cpu, 0),
                memory: (quantity(n.status?.allocatable?.memory) ?? 0) - used.reduce((s, u) => s + u.memory, 0),
              },
            ];
          }),
        );
        const capacity = state.nodes.reduce((s, n) => s + instanceCpu(n), 0);
        const requested = running.reduce((s, p) => s + request(p).cpu, 0);
        const summary = `The pool has ${plural(state.nodes.length, 'node')} (${cores(capacity)}) for ${plural(want, 'executor')} requesting ${cores(requested)}`;
        for (const node of state.nodes) {
          const pods = podsOn(node);
          const name = node.metadata?.name ?? '';
          if (pods.length === 0) return { ok: false, state, detail: `${summary}; the node ${name} (${describeNode(node)}) is empty.` };
          // Would its pods fit in the room the other nodes have (first fit, largest first)?
          const room = state.nodes.filter((n) => n !== node).map((n) => ({ ...(free.get(n.metadata?.name) ?? { cpu: 0, memory: 0 }) }));
          const fits = pods
            .map(request)
            .sort((a, b) => b.cpu - a.cpu)
            .every((r) => {
              const slot = room.find((s) => s.cpu >= r.cpu && s.memory >= r.memory);
              if (!slot) return false;
              slot.cpu -= r.cpu;
              slot.memory -= r.memory;
              return true;
            });
          if (fits) {
            // Karpenter's own word that it now weighs removing the node: consolidateAfter has passed and nothing blocks it.
            const claim = state.claims.find((c) => c.status?.nodeName === name);
            if (claim && isTrue(claim, 'Consolidatable')) {
              return {
                ok: true,
                state,
                detail: `${summary}; the ${plural(pods.length, 'pod')} on ${name} (${describeNode(node)}) would fit on the other nodes, and Karpenter has marked it Consolidatable: it removes it after holding its decision for ${VALIDATION_S} s.`,
              };
            }
            return {
              ok: false,
              state,
              detail: `${summary}; the ${plural(pods.length, 'pod')} on ${name} (${describeNode(node)}) would fit on the other nodes, so that node is not needed.`,
            };
          }
        }
        return { ok: true, state, detail: `${summary}, ${state.nodes.map(describeNode).join('; ')}: no node can go.` };
      };
      let verdict = await judge();
      const canWait = criteria.every((c) => c.passed) && blockers.length === 0;
      if (!verdict.ok && canWait) {
        await ctx.waitFor(
          async () => {
            verdict = await judge();
            return verdict.ok;
          },
          WAIT_MS,
          1_000,
        );
      }
      const after = pool.spec?.disruption?.consolidateAfter ?? '0s';
      const deleting = verdict.state?.claims.filter((c) => c.metadata?.deletionTimestamp).length ?? 0;
      const notYet = canWait
        ? ` Karpenter has not consolidated yet: its consolidateAfter is ${after}, counted from the last pod change on a node, and it holds each decision for ${VALIDATION_S} s before it acts${deleting > 0 ? `; ${plural(deleting, 'node')} ${deleting === 1 ? 'is' : 'are'} being removed now` : ''}. Check again in half a minute.`
        : '';
      criteria.push(
        criterion('right-sized', verdict.ok, {
          pass: verdict.detail,
          fail: `${verdict.detail}${notYet}`,
          hint: '`kubectl get nodeclaims` and `kubectl get pods -o wide` show the nodes and where the executors run; `kubectl get events -n default --field-selector involvedObject.kind=Node` shows what Karpenter decided.',
        }),
      );
      return criteria;
    },
  },
});
