/**
 * health-probes: api (the demo app: ready 6 s after it starts, hung from
 * 15 s on) gets a readiness probe that keeps it out of its Service until it
 * is ready, then a liveness probe that has the kubelet restart it once it
 * hangs. Judged by what the real node's kubelet did with the probes, on the
 * pods of api's current template: whether they turned ready, how long
 * after their container started, and whether a container was restarted
 * after it ran long enough to hang. What a probe says is read only to name
 * the mistake (its absence, its timing); any probe that behaves right
 * passes.
 */
import type { V1Container, V1Deployment, V1Pod, V1Probe } from '@kubernetes/client-node';
import { type CheckContext, type Criterion, criterion, defineCheck, missing } from './lib/check.ts';
import { deployment, livePods, probeFailures } from './lib/workloads.ts';

/** The demo app's settings in the lab's setup: ready after, hung after (seconds from its start). */
const READY_AFTER_S = 6;
const HANG_AFTER_S = 15;
/** The most the task allows from hanging to a restart: period × failure threshold. */
const RESTART_WITHIN_S = 15;
/** How long a check waits for a pod of the current template to turn ready. */
const READY_WAIT_MS = 12_000;
/** Slack for when the kubelet noticed (its status is kept to the second). */
const SLACK_S = 1;

function apiContainer(spec: { containers?: V1Container[] } | undefined): V1Container | undefined {
  return spec?.containers?.find((c) => c.name === 'api') ?? spec?.containers?.[0];
}

/** The pods made from the Deployment's current template (a rollout leaves old ones for a while). */
async function currentPods(ctx: CheckContext, d: V1Deployment): Promise<V1Pod[]> {
  const want = apiContainer(d.spec?.template.spec);
  const same = (a: V1Probe | undefined, b: V1Probe | undefined) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  return (await livePods(ctx, d)).filter((pod) => {
    const c = apiContainer(pod.spec);
    return same(c?.readinessProbe, want?.readinessProbe) && same(c?.livenessProbe, want?.livenessProbe);
  });
}

const seconds = (from?: Date | string, to?: Date | string) =>
  from && to ? (new Date(to).getTime() - new Date(from).getTime()) / 1000 : undefined;

function readySince(pod: V1Pod): Date | undefined {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
  return ready?.lastTransitionTime ? new Date(ready.lastTransitionTime) : undefined;
}

const LOOK = '`kubectl describe pod -l app=api`: its events show what the kubelet saw.';

async function readiness(ctx: CheckContext, d: V1Deployment): Promise<Criterion[]> {
  const probe = apiContainer(d.spec?.template.spec)?.readinessProbe;
  if (!probe) {
    return [
      criterion('probe', false, {
        pass: '',
        fail: 'The container of api has no readiness probe: each pod is counted ready, and gets traffic, as soon as its process starts, 6 s before the app is.',
        hint: '`kubectl explain deployment.spec.template.spec.containers.readinessProbe`',
      }),
    ];
  }
  // A pod of the current template that the kubelet counts as ready (the rollout makes them a moment after an apply).
  let pods: V1Pod[] = [];
  await ctx.waitFor(async () => {
    pods = await currentPods(ctx, d);
    return pods.some((p) => readySince(p) !== undefined);
  }, READY_WAIT_MS);
  const ready = pods.filter((p) => readySince(p) !== undefined);
  const early = ready
    .map((p) => ({ pod: p, after: seconds(p.status?.containerStatuses?.[0]?.state?.running?.startedAt, readySince(p)) }))
    .filter((r) => r.after !== undefined && r.after < READY_AFTER_S - SLACK_S);
  const failures = ready.length === 0 ? await probeFailures(ctx, pods, 'Readiness') : undefined;
  return [
    criterion('probe', true, { pass: 'The container of api has a readiness probe.', fail: '', hint: '' }),
    criterion('ready', ready.length > 0, {
      pass: `${ready.length} ${ready.length === 1 ? 'pod' : 'pods'} of api's current template turned ready.`,
      fail:
        pods.length === 0
          ? "No pod of api's current template runs yet."
          : `No pod of api's current template turns ready${failures ? `; the kubelet says: ${failures}` : ''}.`,
      hint: LOOK,
    }),
    criterion('not-early', ready.length > 0 && early.length === 0, {
      pass: `Each ready pod turned ready once the app was (it takes ${READY_AFTER_S} s).`,
      fail:
        ready.length === 0
          ? 'No pod is ready, so when pods turn ready cannot be judged yet.'
          : `${early[0]?.pod.metadata?.name} turned ready ${early[0]?.after?.toFixed(0)} s after its container started, before the app was ready (${READY_AFTER_S} s): the probe does not ask the app whether it is ready.`,
      hint: 'The app says whether it is ready at /readyz (503 until it is); an open port or / answers from the first second.',
    }),
  ];
}

async function liveness(ctx: CheckContext, d: V1Deployment): Promise<Criterion[]> {
  const container = apiContainer(d.spec?.template.spec);
  const probe = container?.livenessProbe;
  if (!probe) {
    return [
      criterion('probe', false, {
        pass: '',
        fail: 'The container of api has no liveness probe: a hung app keeps running, and the kubelet never restarts it.',
        hint: '`kubectl explain deployment.spec.template.spec.containers.livenessProbe`',
      }),
    ];
  }
  const window = (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3);
  const pods = await currentPods(ctx, d);
  const statuses = pods.flatMap((p) => (p.status?.containerStatuses ?? []).map((s) => ({ pod: p, status: s })));
  // A restart after a run long enough to hang; and how long the others ran before theirs.
  const runs = statuses
    .filter(({ status }) => (status.restartCount ?? 0) > 0)
    .map(({ status }) => seconds(status.lastState?.terminated?.startedAt, status.lastState?.terminated?.finishedAt) ?? 0);
  const afterHang = runs.some((ran) => ran >= HANG_AFTER_S - SLACK_S);
  const oldest = Math.max(0, ...pods.map((p) => seconds(p.status?.startTime, new Date()) ?? 0));
  const due = HANG_AFTER_S + window + 5;
  let restarted: string;
  if (runs.length > 0 && !afterHang) {
    restarted = `api's container was restarted while it was starting (it ran ${Math.max(...runs).toFixed(0)} s; the app needs ${READY_AFTER_S} s to be ready and hangs only at ${HANG_AFTER_S} s): the liveness probe restarts it for the wrong reason.`;
  } else if (runs.length === 0 && oldest >= due) {
    const failures = await probeFailures(ctx, pods, 'Liveness');
    restarted = `api's pods hung ${(oldest - HANG_AFTER_S).toFixed(0)} s ago and were not restarted: the liveness probe does not see the hang${failures ? '' : ' (the kubelet recorded no failure of it)'}.`;
  } else {
    restarted = `api's pods are ${oldest.toFixed(0)} s old; the app hangs at ${HANG_AFTER_S} s and should be restarted within ${RESTART_WITHIN_S} s after: check again in ${Math.max(1, Math.ceil(due - oldest))} s.`;
  }
  return [
    criterion('probe', true, { pass: 'The container of api has a liveness probe.', fail: '', hint: '' }),
    criterion('fast-enough', window <= RESTART_WITHIN_S, {
      pass: `A hung container is restarted within ${window} s (${probe.periodSeconds ?? 10} s apart, ${probe.failureThreshold ?? 3} failures).`,
      fail: `The liveness probe restarts a hung container only ${window} s after it hangs (${probe.periodSeconds ?? 10} s apart × ${probe.failureThreshold ?? 3} failures${probe.periodSeconds === undefined || probe.failureThreshold === undefined ? ', with the defaults' : ''}): the task allows ${RESTART_WITHIN_S} s.`,
      hint: '`kubectl explain deployment.spec.template.spec.containers.livenessProbe.periodSeconds` and `.failureThreshold`',
    }),
    criterion('readiness-kept', container?.readinessProbe !== undefined, {
      pass: 'The readiness probe is still there.',
      fail: 'The container of api lost its readiness probe: keep it beside the liveness probe.',
      hint: 'Readiness and liveness answer different questions; a container has both.',
    }),
    criterion('restarted', afterHang, {
      pass: "The kubelet restarted api's container after it hung.",
      fail: restarted,
      hint: '`kubectl get pods -l app=api` shows RESTARTS; `kubectl describe pod -l app=api` shows why.',
    }),
  ];
}

export default defineCheck({
  lab: 'health-probes',
  steps: {
    async readiness(ctx) {
      const d = await deployment(ctx, 'api');
      if (!d) return [missing('probe', 'The Deployment api', 'Reset the lab to get it back.')];
      return readiness(ctx, d);
    },
    async liveness(ctx) {
      const d = await deployment(ctx, 'api');
      if (!d) return [missing('probe', 'The Deployment api', 'Reset the lab to get it back.')];
      return liveness(ctx, d);
    },
  },
});
