/**
 * scale-on-latency: one HorizontalPodAutoscaler scales the Deployment
 * checkout on its p95 latency, the metric that limits it, with a target that
 * acts before the SLO is missed, a floor that survives losing a pod, and a
 * scale-down that waits out a lull between bursts.
 *
 * The HPA is read as the HPA controller reads it, because this cluster has
 * no metrics adapter and the controller never gets a value to act on:
 * - its target is the scale target's API group and kind (the version does
 *   not matter), and two HPAs over the same pods make the controller act on
 *   neither (ScalingActive False, AmbiguousSelector);
 * - a Pods metric is compared through its averageValue whatever its type
 *   says; an Object metric through its value when its type is Value, and
 *   divided by the pod count when it is AverageValue, which is wrong for a
 *   latency: p95 does not shrink because it is shared out;
 * - every metric must be one the production cluster serves (metrics-server
 *   for cpu and memory, the Prometheus Adapter's rules in the setup's
 *   ConfigMap for the latency, per pod and per Service): while any metric
 *   fails, the controller never scales down;
 * - the controller ignores readings within its tolerance of the target (the
 *   cluster's 10 %, or behavior.scaleUp.tolerance), so the target plus the
 *   tolerance must stay under the SLO; several latency metrics act as the
 *   lowest target, the largest proposal winning;
 * - an unset scale-down window is the controller's default of 300 s.
 * Quantities compare as quantities (`250m` = `0.25`). The controller's own
 * conditions are quoted when they help, never waited for: it first reads a
 * new or changed HPA one sync period (15 s) later.
 */
import type {
  KubernetesObject,
  V1Deployment,
  V1LabelSelector,
  V1Pod,
  V2HorizontalPodAutoscaler,
  V2HPAScalingRules,
  V2MetricSpec,
} from '@kubernetes/client-node';
import { type CheckContext, type Criterion, criterion, defineCheck, missing } from './lib/check.ts';
import { selects } from './lib/network.ts';
import { quantity } from './lib/quantity.ts';
import { livePods } from './lib/workloads.ts';

/** The latency the Prometheus Adapter publishes (ConfigMap prometheus-adapter). */
const METRIC = 'http_request_duration_p95_seconds';
/** The SLO: p95 under 300 ms (ConfigMap checkout-slo). */
const SLO_SECONDS = 0.3;
/** checkout's p95 with no load: more pods cannot bring it lower. */
const AT_REST_SECONDS = 0.1;
/** kube-controller-manager's --horizontal-pod-autoscaler-tolerance, which EKS leaves at its default. */
const DEFAULT_TOLERANCE = 0.1;
/** kube-controller-manager's --horizontal-pod-autoscaler-downscale-stabilization, for an HPA that sets no window. */
const DEFAULT_SCALE_DOWN_WINDOW = 300;
/** The longest lull between two bursts of traffic (ConfigMap checkout-slo). */
const LULL_SECONDS = 300;
/** How long the task lets a burst wait for new pods. */
const SCALE_UP_DELAY_SECONDS = 60;
/** Kinds with a scale subresource and a pod selector, in the apps group. */
const SCALABLE = new Set(['Deployment', 'ReplicaSet', 'StatefulSet']);

type Hpa = V2HorizontalPodAutoscaler;

/** The API group of an apiVersion: `apps/v1` → apps, `v1` → the core group ''. */
function groupOf(apiVersion: string | undefined): string {
  return apiVersion?.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';
}

function nameOf(hpa: Hpa): string {
  return hpa.metadata?.name ?? '';
}

/** Whether the HPA scales the Deployment checkout, as the controller resolves a scale target (group and kind, any version). */
function scalesCheckout(hpa: Hpa): boolean {
  const ref = hpa.spec?.scaleTargetRef;
  return ref?.kind === 'Deployment' && ref.name === 'checkout' && groupOf(ref.apiVersion) === 'apps';
}

/** Why an HPA that does not scale checkout misses it. */
function misses(hpa: Hpa, deployments: ReadonlySet<string>): string {
  const ref = hpa.spec?.scaleTargetRef;
  const what = `The HPA ${nameOf(hpa)} scales ${ref?.kind ?? '(no kind)'} ${ref?.name ?? '(no name)'}`;
  if (ref?.kind === 'Deployment' && groupOf(ref.apiVersion) !== 'apps')
    return `${what} with apiVersion ${ref.apiVersion || '(none)'}: Deployments are in the apps group, so the controller finds no such kind to scale`;
  if (ref?.kind === 'Deployment')
    return deployments.has(ref.name)
      ? `${what}, another Deployment, not checkout`
      : `${what}, which does not exist: the controller has nothing to scale`;
  if (ref?.kind === 'ReplicaSet')
    return `${what}: a ReplicaSet of a Deployment is the Deployment's to size (it sets the replicas back, and its next rollout replaces the ReplicaSet)`;
  return `${what}, not the Deployment checkout`;
}

/** The pods of checkout that another HPA's scale target also selects, as the controller counts HPAs over a pod. */
async function overlapsCheckout(ctx: CheckContext, hpa: Hpa, pods: readonly V1Pod[]): Promise<boolean> {
  const ref = hpa.spec?.scaleTargetRef;
  if (!ref || groupOf(ref.apiVersion) !== 'apps' || !SCALABLE.has(ref.kind)) return false;
  const target = await ctx.get<KubernetesObject & { spec?: { selector?: V1LabelSelector } }>('apps/v1', ref.kind, ref.name, ctx.ns());
  const selector = target?.spec?.selector;
  return selector !== undefined && pods.some((pod) => selects(selector, pod.metadata?.labels ?? {}));
}

interface Latency {
  /** The target as written, e.g. `250m`. */
  written: string;
  seconds: number;
  /** Where it is in the HPA, for the learner. */
  path: string;
}

/**
 * A latency the controller can compare; a metric the production cluster does
 * not serve (the controller fails to get it); a metric it gets but reads
 * wrongly for a latency; or cpu or memory.
 */
type Judged = { latency: Latency } | { unserved: string } | { misread: string } | { resource: string };

/** One metric of the HPA, read as the controller reads it and as the production cluster would serve it. */
function judge(metric: V2MetricSpec): Judged {
  switch (metric.type) {
    case 'Resource':
    case 'ContainerResource': {
      const name = metric.resource?.name ?? metric.containerResource?.name ?? '';
      if (name === 'cpu' || name === 'memory') return { resource: name };
      return {
        unserved: `a ${metric.type} metric named ${name}: ${metric.type} metrics are the pods' own resources (cpu, memory) from metrics.k8s.io, which has no ${name}`,
      };
    }
    case 'Pods': {
      const name = metric.pods?.metric.name ?? '';
      if (name !== METRIC) return { unserved: `a Pods metric named ${name}, which the adapter does not publish` };
      const written = metric.pods?.target.averageValue ?? '';
      const seconds = quantity(written);
      if (seconds === undefined) return { misread: `a Pods metric ${name} with no averageValue target` };
      return { latency: { written, seconds, path: 'spec.metrics[].pods.target.averageValue' } };
    }
    case 'Object': {
      const source = metric.object;
      const name = source?.metric.name ?? '';
      if (name !== METRIC) return { unserved: `an Object metric named ${name}, which the adapter does not publish` };
      const described = source?.describedObject;
      if (described?.kind !== 'Service' || described.name !== 'checkout' || groupOf(described.apiVersion) !== '')
        return {
          unserved: `an Object metric ${name} on ${described?.kind ?? '(no kind)'} ${described?.name ?? '(no name)'}: the adapter's rules publish it only for the kinds its series are labelled with (namespace, pod, service)`,
        };
      const target = source?.target;
      if (target?.type === 'AverageValue' && target.averageValue !== undefined)
        return {
          misread: `an Object metric ${name} with an AverageValue target, which the controller divides by the number of pods: the Service's p95 would look twice as good with twice the pods, so checkout would shrink while it is slow`,
        };
      const seconds = target?.type === 'Value' ? quantity(target.value) : undefined;
      if (target?.type !== 'Value' || seconds === undefined)
        return { misread: `an Object metric ${name} whose target gives the controller no value to compare (type ${target?.type})` };
      return { latency: { written: target.value ?? '', seconds, path: 'spec.metrics[].object.target.value' } };
    }
    case 'External':
      return {
        unserved: `an External metric named ${metric.external?.metric.name ?? ''}: the controller asks external.metrics.k8s.io for it, but the adapter publishes ${METRIC} in the custom metrics API (custom.metrics.k8s.io), for checkout's pods and Service; External is for signals outside the cluster (a queue, a cloud metric)`,
      };
    default:
      return { unserved: `a metric of type ${metric.type}, which the HPA controller does not know` };
  }
}

function percent(ratio: number): string {
  return `${Number((ratio * 100).toFixed(2))} %`;
}

function ms(seconds: number): string {
  return `${Number((seconds * 1000).toFixed(1))} ms`;
}

function latencyMetric(hpa: Hpa, judged: readonly Judged[]): Criterion {
  const name = nameOf(hpa);
  const latencies = judged.flatMap((j) => ('latency' in j ? [j.latency] : []));
  const unserved = judged.flatMap((j) => ('unserved' in j ? [j.unserved] : []));
  const misread = judged.flatMap((j) => ('misread' in j ? [j.misread] : []));
  const resources = [...new Set(judged.flatMap((j) => ('resource' in j ? [j.resource] : [])))];
  const asked = hpa.status?.conditions?.find((c) => c.type === 'ScalingActive' && c.message?.includes(METRIC));
  const problems = [
    unserved.length > 0
      ? `The HPA ${name} asks for ${unserved.length === 1 ? 'a metric' : 'metrics'} the production cluster does not serve: ${unserved.join('; ')}. While any metric fails, the controller never scales checkout down.`
      : '',
    misread.length > 0 ? `The HPA ${name} reads ${misread.join('; ')}.` : '',
    latencies.length === 0 && (unserved.length > 0 || misread.length > 0)
      ? 'It has no latency the controller can compare, so it never scales on latency.'
      : '',
  ].filter(Boolean);
  const fail =
    problems.length > 0
      ? problems.join(' ')
      : `The HPA ${name} scales only on ${resources.length > 0 ? resources.join(' and ') : 'its default of cpu'}: checkout is I/O-bound, so its requests queue and its latency climbs while its CPU stays low, and this HPA never adds a pod when checkout is slow.`;
  return criterion('latency-metric', latencies.length > 0 && problems.length === 0, {
    pass: `The HPA ${name} scales on ${METRIC}${resources.length > 0 ? `, with ${resources.join(' and ')} beside it (the larger proposal wins)` : ''}.${
      asked ? ` The HPA controller asks for it, and says: "${asked.message}".` : ''
    }`,
    fail,
    hint: '`kubectl get configmap prometheus-adapter -o yaml` shows what the adapter publishes, for which objects; `kubectl explain hpa.spec.metrics` lists the kinds of metric.',
  });
}

function latencyTarget(hpa: Hpa, judged: readonly Judged[]): Criterion {
  const name = nameOf(hpa);
  const hint =
    '`kubectl get configmap checkout-slo -o yaml`; the metric is in seconds, and `kubectl explain hpa.spec.behavior.scaleUp.tolerance` says how far past its target the HPA waits.';
  const latencies = judged.flatMap((j) => ('latency' in j ? [j.latency] : []));
  // The largest proposal wins, and the lowest target proposes the most pods.
  const lowest = latencies.reduce<Latency | undefined>((low, l) => (low === undefined || l.seconds < low.seconds ? l : low), undefined);
  if (!lowest)
    return criterion('latency-target', false, {
      pass: '',
      fail: `The HPA ${name} has no latency target to judge (see latency-metric).`,
      hint,
    });
  const stated = quantity(hpa.spec?.behavior?.scaleUp?.tolerance);
  const tolerance = stated ?? DEFAULT_TOLERANCE;
  const acts = lowest.seconds * (1 + tolerance);
  const toleranceWords =
    stated === undefined ? `the cluster's tolerance of ${percent(DEFAULT_TOLERANCE)}` : `its scale-up tolerance of ${percent(tolerance)}`;
  const targets = `The HPA ${name} targets ${lowest.written} for ${METRIC}`;
  let fail = '';
  if (lowest.seconds >= 1)
    fail = `${targets}: the metric is in seconds, so that is ${Number(lowest.seconds.toFixed(3))} seconds, far above the SLO of ${ms(SLO_SECONDS)}.`;
  else if (lowest.seconds >= SLO_SECONDS)
    fail = `${targets} (${ms(lowest.seconds)}), not below the SLO of ${ms(SLO_SECONDS)}: it adds pods only once checkout already misses its objective.`;
  else if (acts >= SLO_SECONDS)
    fail = `${targets} (${ms(lowest.seconds)}), but the controller ignores readings within ${toleranceWords} of the target, so it adds pods only once p95 passes ${ms(acts)}: past the SLO of ${ms(SLO_SECONDS)}.`;
  else if (lowest.seconds <= AT_REST_SECONDS)
    fail = `${targets} (${ms(lowest.seconds)}), not above the ${ms(AT_REST_SECONDS)} checkout takes at rest: p95 never falls that low, so the HPA keeps adding pods up to its maximum.`;
  return criterion('latency-target', fail === '', {
    pass: `The HPA ${name} aims at a p95 of ${ms(lowest.seconds)} and adds pods once it passes ${ms(acts)} (${toleranceWords}): before the SLO of ${ms(SLO_SECONDS)}, and above the ${ms(AT_REST_SECONDS)} checkout takes at rest.`,
    fail,
    hint,
    diff: [
      {
        path: lowest.path,
        expected: `above ${ms(AT_REST_SECONDS)}, and with the tolerance added below ${ms(SLO_SECONDS)}`,
        actual: lowest.written,
      },
    ],
  });
}

function replicas(hpa: Hpa): Criterion {
  const name = nameOf(hpa);
  const min = hpa.spec?.minReplicas ?? 1;
  const max = hpa.spec?.maxReplicas ?? 0;
  const fail =
    min < 2
      ? `The HPA ${name} lets checkout go down to ${min} pod (minReplicas ${min}; left out, it is 1): when that pod is lost (a node drained, a zone down), checkout serves nothing until another starts.`
      : `The HPA ${name} has maxReplicas ${max}, no more than its minReplicas ${min}: it can never add a pod.`;
  return criterion('replicas', min >= 2 && max > min, {
    pass: `checkout keeps at least ${min} pods, and the HPA may grow it to ${max}.`,
    fail,
    hint: '`kubectl explain hpa.spec.minReplicas` and `kubectl explain hpa.spec.maxReplicas`',
    diff: [
      { path: 'spec.minReplicas', expected: '≥ 2', actual: hpa.spec?.minReplicas },
      { path: 'spec.maxReplicas', expected: `> spec.minReplicas`, actual: max },
    ],
  });
}

function scaleDown(hpa: Hpa): Criterion {
  const name = nameOf(hpa);
  const rules: V2HPAScalingRules | undefined = hpa.spec?.behavior?.scaleDown;
  const window = rules?.stabilizationWindowSeconds ?? DEFAULT_SCALE_DOWN_WINDOW;
  const disabled = rules?.selectPolicy === 'Disabled';
  return criterion('scale-down', !disabled && window >= LULL_SECONDS, {
    pass: `The HPA ${name} scales down only on a recommendation that has held for ${window} s${rules?.stabilizationWindowSeconds === undefined ? ' (the default)' : ''}, longer than a lull between bursts.`,
    fail: disabled
      ? `The HPA ${name} never scales down (behavior.scaleDown.selectPolicy Disabled): the pods added for a burst stay for ever.`
      : `The HPA ${name} scales down once a lower reading has held for ${window} s (behavior.scaleDown.stabilizationWindowSeconds): a lull between two bursts lasts up to ${LULL_SECONDS / 60} minutes, so it removes pods in every lull and adds them back at the next burst: it flaps.`,
    hint: '`kubectl explain hpa.spec.behavior.scaleDown`; `kubectl get configmap checkout-slo -o yaml` says how long a lull lasts.',
    diff: [
      {
        path: 'spec.behavior.scaleDown.stabilizationWindowSeconds',
        expected: `≥ ${LULL_SECONDS}`,
        actual: rules?.stabilizationWindowSeconds,
      },
    ],
  });
}

function scaleUp(hpa: Hpa): Criterion {
  const name = nameOf(hpa);
  const rules: V2HPAScalingRules | undefined = hpa.spec?.behavior?.scaleUp;
  const window = rules?.stabilizationWindowSeconds ?? 0;
  const disabled = rules?.selectPolicy === 'Disabled';
  return criterion('scale-up', !disabled && window <= SCALE_UP_DELAY_SECONDS, {
    pass: `The HPA ${name} adds pods ${window === 0 ? 'as soon as latency rises past its target' : `once latency has stayed past its target for ${window} s`}.`,
    fail: disabled
      ? `The HPA ${name} never scales up (behavior.scaleUp.selectPolicy Disabled): checkout stays slow through every burst.`
      : `The HPA ${name} waits ${window} s before adding pods (behavior.scaleUp.stabilizationWindowSeconds): checkout misses its SLO for that long in every burst.`,
    hint: '`kubectl explain hpa.spec.behavior.scaleUp`',
    diff: [
      {
        path: 'spec.behavior.scaleUp.stabilizationWindowSeconds',
        expected: `≤ ${SCALE_UP_DELAY_SECONDS}`,
        actual: rules?.stabilizationWindowSeconds,
      },
    ],
  });
}

/** Of several HPAs, the one the learner is working on: one with the latency metric, else the first. */
function candidate(hpas: readonly Hpa[]): Hpa | undefined {
  return hpas.find((h) => (h.spec?.metrics ?? []).some((m) => 'latency' in judge(m))) ?? hpas[0];
}

export default defineCheck({
  lab: 'scale-on-latency',
  steps: {
    async autoscale(ctx) {
      const [checkout, hpas, deployments] = await Promise.all([
        ctx.get<V1Deployment>('apps/v1', 'Deployment', 'checkout', ctx.ns()),
        ctx.list<Hpa>('autoscaling/v2', 'HorizontalPodAutoscaler', ctx.ns()),
        ctx.list<V1Deployment>('apps/v1', 'Deployment', ctx.ns()),
      ]);
      if (!checkout) return [missing('target', 'The Deployment checkout', 'Was it deleted? Reset the lab to get it back.')];
      if (hpas.length === 0)
        return [
          missing('target', 'A HorizontalPodAutoscaler for the Deployment checkout', '`kubectl get hpa`; `kubectl explain hpa.spec`'),
        ];

      const onCheckout = hpas.filter(scalesCheckout);
      const others = hpas.filter((h) => !scalesCheckout(h));
      // Only an HPA on something else can also reach checkout's pods (a ReplicaSet of it, a Deployment with an overlapping selector).
      const pods = others.length > 0 ? await livePods(ctx, checkout) : [];
      const overlapping = (await Promise.all(others.map(async (h) => ((await overlapsCheckout(ctx, h, pods)) ? [h] : [])))).flat();
      const names = new Set(deployments.map((d) => d.metadata?.name ?? ''));

      const target = criterion('target', onCheckout.length > 0, {
        pass: `${onCheckout.length === 1 ? 'The HPA' : 'The HPAs'} ${onCheckout.map(nameOf).join(', ')} ${onCheckout.length === 1 ? 'scales' : 'scale'} the Deployment checkout.`,
        fail: `No HorizontalPodAutoscaler scales the Deployment checkout. ${others.map((h) => misses(h, names)).join('. ')}.`,
        hint: '`kubectl get hpa` shows what each one scales (REFERENCE); `kubectl explain hpa.spec.scaleTargetRef`',
        diff: others.map((h) => ({
          path: `${nameOf(h)}: spec.scaleTargetRef`,
          expected: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'checkout' },
          actual: h.spec?.scaleTargetRef,
        })),
      });

      const over = [...onCheckout, ...overlapping];
      const ambiguous = over
        .flatMap((h) => h.status?.conditions ?? [])
        .find((c) => c.type === 'ScalingActive' && c.reason === 'AmbiguousSelector');
      const one = criterion('one-autoscaler', over.length <= 1, {
        pass: 'No other HorizontalPodAutoscaler scales the pods of checkout.',
        fail: `${over.length} HorizontalPodAutoscalers (${over.map(nameOf).join(', ')}) scale the pods of checkout: the HPA controller then acts on none of them (ScalingActive False, reason AmbiguousSelector), so checkout does not scale at all.${
          ambiguous ? ` The controller reports: "${ambiguous.message}".` : ''
        }`,
        hint: '`kubectl get hpa`, and `kubectl describe hpa` for what the controller says of each.',
      });

      const hpa = candidate(onCheckout.length > 0 ? onCheckout : hpas) as Hpa;
      const judged = (hpa.spec?.metrics ?? []).map(judge);
      return [target, one, latencyMetric(hpa, judged), latencyTarget(hpa, judged), replicas(hpa), scaleDown(hpa), scaleUp(hpa)];
    },
  },
});
