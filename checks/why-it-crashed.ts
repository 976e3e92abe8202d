/**
 * why-it-crashed: two Deployments on the real node restart again and again.
 * report (the demo app as a worker) stops at start on a setting it cannot
 * read; cache holds 96 MiB under a 64Mi limit and is OOM-killed. Judged by
 * what the pods of each Deployment's current revision really do: a
 * container that runs long enough without a restart, what it wrote
 * (`kubectl logs`), and how its last run ended. The logs of a run that
 * ended are quoted back, which is where the learner should have looked.
 */
import type { V1ContainerStatus, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { type CheckContext, type Criterion, criterion, defineCheck, missing } from './lib/check.ts';
import { quantity } from './lib/quantity.ts';
import { currentPods, deployment, plural } from './lib/workloads.ts';

/** report's line and how often the task wants it. */
const SUMMARY = 'orders summarised';
const SUMMARY_EVERY_S = 5;
/** cache's allocation and the most its limit may be. */
const HOLDS_MB = 96;
const MAX_LIMIT = '256Mi';
/** How long a container must run, unrestarted, to count as running (report's first summary comes at 5 s). */
const REPORT_RUNS_S = SUMMARY_EVERY_S + 1.5;
const CACHE_RUNS_S = 3;
/** How long a check waits for a pod of the current revision to get there. */
const WAIT_MS = 15_000;

/** What happened to the current revision's container: it runs steadily, or it ended, or it has not got anywhere yet. */
interface Run {
  pod?: V1Pod;
  status?: V1ContainerStatus;
  /** Seconds it has been running, when it runs. */
  runningFor?: number;
  /** It ended at least once (a restart, or a stuck wait after one). */
  ended: boolean;
}

function runOf(pods: readonly V1Pod[], container: string): Run {
  for (const pod of pods) {
    const status = pod.status?.containerStatuses?.find((s) => s.name === container);
    if (!status) continue;
    const ended = (status.restartCount ?? 0) > 0 || status.state?.terminated !== undefined;
    const started = status.state?.running?.startedAt;
    const runningFor = started ? (Date.now() - new Date(started).getTime()) / 1000 : undefined;
    return { pod, status, runningFor, ended };
  }
  return { ended: false };
}

/**
 * Waits, bounded, until a pod of the Deployment's current revision has run
 * `seconds` without a restart, or has ended once (waiting longer would not
 * undo it). The Deployment is read again each time: right after an apply,
 * its controller has not yet made the new revision.
 */
async function settle(ctx: CheckContext, name: string, container: string, seconds: number): Promise<Run> {
  let run: Run = { ended: false };
  await ctx.waitFor(
    async () => {
      const d = await deployment(ctx, name);
      if (!d || (d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return false;
      run = runOf(await currentPods(ctx, d), container);
      return run.ended || (run.runningFor ?? 0) >= seconds;
    },
    WAIT_MS,
    500,
  );
  return run;
}

/** How the container's last run ended, in `kubectl describe`'s terms. */
function lastEnd(status: V1ContainerStatus | undefined): string {
  const ended = status?.state?.terminated ?? status?.lastState?.terminated;
  if (!ended) return '';
  return `${ended.reason ?? 'terminated'}, exit code ${ended.exitCode}`;
}

/**
 * The last line the run that stopped wrote, for the message: while the
 * container waits to be started again its log is that run's; once a new
 * run has started, the stopped one is `previous`.
 */
async function lastWords(ctx: CheckContext, run: Run): Promise<string> {
  const name = run.pod?.metadata?.name;
  const container = run.status?.name;
  if (!name || !container) return '';
  const restarted = run.status?.state?.running !== undefined;
  let text = await ctx.logs(name, ctx.ns(), { container, previous: restarted, tailLines: 2 });
  if (!text.trim() && !restarted) text = await ctx.logs(name, ctx.ns(), { container, previous: true, tailLines: 2 });
  return text.trim().split('\n').filter(Boolean).at(-1) ?? '';
}

/** The "not running" answer: how it ended and what it last said, or that it has not started yet. */
async function notRunning(ctx: CheckContext, run: Run, name: string): Promise<string> {
  if (!run.pod) return `No pod of ${name}'s current revision has started yet: check again in a few seconds.`;
  if (!run.ended) {
    const waiting = run.status?.state?.waiting;
    return waiting
      ? `${run.pod.metadata?.name} is not running yet (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}).`
      : `${run.pod.metadata?.name} has run for ${(run.runningFor ?? 0).toFixed(0)} s so far: check again in a few seconds.`;
  }
  const said = await lastWords(ctx, run);
  const restarts = run.status?.restartCount ?? 0;
  return `${run.pod.metadata?.name} stopped (${lastEnd(run.status)})${restarts > 0 ? ` and was restarted ${plural(restarts, 'time')}` : ''}${said ? `; the last thing it wrote: "${said}"` : ''}.`;
}

async function crashLoop(ctx: CheckContext): Promise<Criterion[]> {
  const run = await settle(ctx, 'report', 'report', REPORT_RUNS_S);
  const steady = !run.ended && (run.runningFor ?? 0) >= REPORT_RUNS_S;
  let summaries: { passed: boolean; fail: string } = { passed: false, fail: 'report does not run, so its summaries cannot be judged yet.' };
  if (steady && run.pod?.metadata?.name) {
    const log = await ctx.logs(run.pod.metadata.name, ctx.ns(), { container: 'report' });
    const lines = log.split('\n');
    // The app's first line states the settings it started with (log-every=5s).
    const every = /\blog-every=(\S+)/.exec(lines.find((l) => l.includes(' starting ')) ?? '')?.[1];
    const written = lines.filter((l) => l.includes(SUMMARY)).length;
    const ran = (run.runningFor ?? 0).toFixed(0);
    if (every === undefined || written === 0) {
      summaries = {
        passed: false,
        fail: `report has run ${ran} s and written no summary${every ? ` (it writes one every ${every})` : ': it starts with no interval for them (LOG_EVERY)'}.`,
      };
    } else if (every !== `${SUMMARY_EVERY_S}s`) {
      summaries = {
        passed: false,
        fail: `report writes its summary every ${every}, by the first line of its log; the task asks for every ${SUMMARY_EVERY_S}s.`,
      };
    } else {
      summaries = { passed: true, fail: '' };
    }
  }
  return [
    criterion('running', steady, {
      pass: `report's container has run ${(run.runningFor ?? 0).toFixed(0)} s without a restart.`,
      fail: await notRunning(ctx, run, 'report'),
      hint: '`kubectl logs deployment/report` shows what the last run wrote before it stopped (add `--previous` once a new run has started).',
    }),
    criterion('summaries', summaries.passed, {
      pass: `report writes "${SUMMARY}" every ${SUMMARY_EVERY_S} s.`,
      fail: summaries.fail,
      hint: '`kubectl logs deployment/report` shows what it writes; its first line shows the settings it started with.',
    }),
  ];
}

async function oom(ctx: CheckContext, d: V1Deployment): Promise<Criterion[]> {
  const run = await settle(ctx, 'cache', 'cache', CACHE_RUNS_S);
  const steady = !run.ended && (run.runningFor ?? 0) >= CACHE_RUNS_S;
  // The pod's limit is what the kubelet enforces (the namespace's default where the Deployment sets none).
  const ownLimit = d.spec?.template.spec?.containers.find((c) => c.name === 'cache')?.resources?.limits?.memory;
  const limit = run.pod?.spec?.containers.find((c) => c.name === 'cache')?.resources?.limits?.memory ?? ownLimit;
  const killed = lastEnd(run.status).startsWith('OOMKilled');
  let notKilled: string;
  if (killed) {
    notKilled = `${run.pod?.metadata?.name} was OOMKilled (exit code 137): the kernel killed it for going over its memory limit of ${limit ?? 'none'}, and it holds ${HOLDS_MB} MiB plus what the Go runtime needs.`;
  } else {
    notKilled = await notRunning(ctx, run, 'cache');
  }
  let holds = { passed: false, fail: 'cache does not run, so what it holds cannot be read.' };
  if (steady && run.pod?.metadata?.name) {
    const log = await ctx.logs(run.pod.metadata.name, ctx.ns(), { container: 'cache' });
    const held = Number(/allocated (\d+) MiB at start/.exec(log)?.[1] ?? 0);
    holds =
      held >= HOLDS_MB
        ? { passed: true, fail: '' }
        : {
            passed: false,
            fail: `cache holds ${held} MiB (by its log), not its ${HOLDS_MB} MiB: it was made to fit the limit by doing less.`,
          };
  }
  const bytes = quantity(limit);
  const max = quantity(MAX_LIMIT) ?? Number.POSITIVE_INFINITY;
  return [
    criterion('not-killed', steady, {
      pass: `cache has run ${(run.runningFor ?? 0).toFixed(0)} s without a restart.`,
      fail: notKilled,
      hint: '`kubectl describe pod -l app=cache`: Last State shows how the last run ended.',
    }),
    criterion('holds', holds.passed, {
      pass: `cache holds its ${HOLDS_MB} MiB.`,
      fail: holds.fail,
      hint: `Keep ALLOC_MB at ${HOLDS_MB}; give the container the memory instead.`,
    }),
    criterion('bounded', bytes !== undefined && bytes <= max, {
      pass: `cache's memory limit is ${limit}, within ${MAX_LIMIT}.`,
      fail:
        limit === undefined
          ? `cache's container has no memory limit at all.`
          : `cache's memory limit is ${limit}${ownLimit ? '' : " (the namespace's default: its Deployment sets none)"}; the task allows at most ${MAX_LIMIT} on a shared node.`,
      hint: '`kubectl explain deployment.spec.template.spec.containers.resources.limits`',
    }),
  ];
}

export default defineCheck({
  lab: 'why-it-crashed',
  steps: {
    async 'crash-loop'(ctx) {
      const d = await deployment(ctx, 'report');
      if (!d) return [missing('running', 'The Deployment report', 'Reset the lab to get it back.')];
      return crashLoop(ctx);
    },
    async oom(ctx) {
      const d = await deployment(ctx, 'cache');
      if (!d) return [missing('not-killed', 'The Deployment cache', 'Reset the lab to get it back.')];
      return oom(ctx, d);
    },
  },
});
