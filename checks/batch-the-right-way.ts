/**
 * Batch the right way: etl is an Indexed Job of 8 shards that bounds what it
 * runs at once, how long it may take, each shard's own retries and how long
 * it stays after finishing, and whose pod failure policy fails the whole Job
 * on exit code 42 while leaving other crashes to the shard's retries. The
 * policy is judged by what it does, the way the Job controller reads it:
 * rules in order, the first that matches a failed pod decides, whether it
 * matches by In or NotIn, with or without a containerName. Then it is
 * proven for real: etl-bad, the same Job on input whose shard 3 makes the
 * program exit with code 42, runs on the real node, and must fail at once
 * by its policy (the Job's conditions), shard 3 tried once (its pods).
 */
import type { V1Job, V1Pod, V1PodFailurePolicy, V1PodFailurePolicyOnExitCodesRequirement } from '@kubernetes/client-node';
import { hasCondition } from '../cluster/src/kube.ts';
import { criterion, defineCheck, missing } from './lib/check.ts';

const JOB_WAIT_MS = 12_000;
/** How long after shard 3 exited with 42 a Job that goes on counts as not failing at once. */
const AT_ONCE_MS = 3000;
/** The shard whose input is bad in etl-bad. */
const BAD_SHARD = '3';

/** Whether an onExitCodes requirement matches a container that exited with `code`. */
function exitMatches(req: V1PodFailurePolicyOnExitCodesRequirement, container: string, code: number): boolean {
  if (req.containerName && req.containerName !== container) return false;
  // Exit code 0 never matches NotIn: the Job controller leaves successful containers out.
  return req.operator === 'In' ? req.values.includes(code) : code !== 0 && !req.values.includes(code);
}

/**
 * The action the policy takes when `container` fails with `code` and the pod
 * has none of the conditions rules look for (a plain crash, no disruption):
 * the first matching rule's, or undefined when none matches (the failure then
 * counts against the retries).
 */
function decision(policy: V1PodFailurePolicy | undefined, container: string, code: number): string | undefined {
  for (const rule of policy?.rules ?? []) {
    if (rule.onExitCodes && exitMatches(rule.onExitCodes, container, code)) return rule.action;
  }
  return undefined;
}

function complete(job: V1Job | undefined): boolean {
  return hasCondition(job, 'Complete');
}

function failedCondition(job: V1Job | undefined): string | undefined {
  const condition = job?.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
  return condition ? `${condition.reason ?? 'Failed'}: ${condition.message ?? ''}`.trim() : undefined;
}

/** Why the Job failed or is failing, when its pod failure policy did it (or any other reason). */
function failedBy(job: V1Job | undefined): string | undefined {
  const conditions = job?.status?.conditions ?? [];
  return conditions.find((c) => (c.type === 'Failed' || c.type === 'FailureTarget') && c.status === 'True')?.reason ?? undefined;
}

/** When each pod's program ended with exit code 42 (ms since the epoch). */
function exited42(pods: readonly V1Pod[]): number[] {
  return pods.flatMap((pod) =>
    (pod.status?.containerStatuses ?? [])
      .map((s) => s.state?.terminated)
      .filter((t) => t?.exitCode === 42)
      .map((t) => new Date(t?.finishedAt ?? Date.now()).getTime()),
  );
}

export default defineCheck({
  lab: 'batch-the-right-way',
  steps: {
    async 'run-etl'(ctx) {
      const read = () => ctx.get<V1Job>('batch/v1', 'Job', 'etl', ctx.ns());
      const first = await read();
      if (!first) return [missing('shape', 'The Job etl', '`kubectl get jobs` lists the Jobs in your namespace.')];
      const spec = first.spec;
      const look = '`kubectl get job etl -o yaml`, and `kubectl explain job.spec.<field>` for each field.';
      const shapeProblems = [
        spec?.completionMode === 'Indexed' ? '' : `completionMode is ${spec?.completionMode ?? 'NonIndexed'}, not Indexed`,
        spec?.completions === 8 ? '' : `completions is ${spec?.completions ?? 'unset'}, not 8`,
        (spec?.parallelism ?? 1) <= 4 ? '' : `parallelism is ${spec?.parallelism}, more than the 4 pods at once the task allows`,
      ].filter(Boolean);
      // The program: the container named etl, or every container when none is.
      const names = (spec?.template.spec?.containers ?? []).map((c) => c.name);
      const program = names.includes('etl') ? ['etl'] : names;
      const onBadInput = program.map((c) => ({ c, action: decision(spec?.podFailurePolicy, c, 42) }));
      const onCrash = program.map((c) => ({ c, action: decision(spec?.podFailurePolicy, c, 1) }));
      const notFailing = onBadInput.filter((d) => d.action !== 'FailJob');
      const crashFails = onCrash.filter((d) => d.action === 'FailJob');
      let policyFail = '';
      if (!spec?.podFailurePolicy?.rules.length)
        policyFail = 'Job etl has no podFailurePolicy, so bad input (exit code 42) is retried like a crash.';
      else if (notFailing.length > 0) {
        const { c, action } = notFailing[0] as { c: string; action: string | undefined };
        policyFail =
          action === undefined
            ? `No rule of Job etl's podFailurePolicy matches exit code 42 of the container ${c}, so bad input is retried like a crash.`
            : `The first rule of Job etl's podFailurePolicy that matches exit code 42 of the container ${c} says ${action}, not FailJob${action === 'FailIndex' ? ': it stops only that shard, and the Job goes on with bad input' : ''}. Rules are read in order; the first match decides.`;
      } else if (crashFails.length > 0)
        policyFail = `Job etl's podFailurePolicy also fails the whole Job when the container ${crashFails[0]?.c} exits with code 1: every crash would stop the ETL instead of using the shard's retries.`;
      const perIndexText = 'one bad shard uses up the retries of all of them';
      const ttl = spec?.ttlSecondsAfterFinished;
      const perIndex = spec?.backoffLimitPerIndex;
      const job = complete(first)
        ? first
        : ((await ctx.waitFor(async () => {
            const now = await read();
            return complete(now) || failedCondition(now) ? now : undefined;
          }, JOB_WAIT_MS)) ?? (await read()));
      const succeeded = job?.status?.succeeded ?? 0;
      return [
        criterion('shape', shapeProblems.length === 0, {
          pass: 'etl is an Indexed Job of 8 completions, at most 4 at once.',
          fail: `Job etl: ${shapeProblems.join('; ')}.`,
          hint: look,
          diff: [
            { path: 'spec.completionMode', expected: 'Indexed', actual: spec?.completionMode },
            { path: 'spec.completions', expected: 8, actual: spec?.completions },
            { path: 'spec.parallelism', expected: '1 to 4', actual: spec?.parallelism },
          ].filter((d) => shapeProblems.some((p) => p.startsWith(d.path.split('.')[1] ?? ''))),
        }),
        criterion('deadline', spec?.activeDeadlineSeconds !== undefined, {
          pass: `etl gives up after ${spec?.activeDeadlineSeconds} s.`,
          fail: 'Job etl has no activeDeadlineSeconds: one stuck shard would keep it, and its bill, running for ever.',
          hint: look,
        }),
        criterion('retries', perIndex !== undefined && perIndex <= 2, {
          pass: `Each shard is retried at most ${perIndex} times.`,
          fail:
            perIndex === undefined
              ? `Job etl sets no backoffLimitPerIndex${spec?.backoffLimit !== undefined ? ` (its backoffLimit, ${spec.backoffLimit}, counts the failures of all shards together)` : ''}: ${perIndexText}.`
              : `Job etl retries each shard ${perIndex} times; the task allows 2.`,
          hint: look,
        }),
        criterion('failure-policy', policyFail === '', {
          pass: 'Exit code 42 fails the Job at once; other crashes use the shard’s retries.',
          fail: policyFail,
          hint: '`kubectl explain job.spec.podFailurePolicy.rules`',
        }),
        criterion('ttl', ttl !== undefined && ttl >= 600, {
          pass: `etl is removed ${ttl} s after it finishes.`,
          fail:
            ttl === undefined
              ? 'Job etl has no ttlSecondsAfterFinished: finished Jobs and their pods pile up.'
              : `Job etl is removed ${ttl} s after it finishes, too soon to read its result (at least 600).`,
          hint: look,
        }),
        criterion('complete', complete(job) && succeeded === 8, {
          pass: 'etl completed with 8 shards succeeded.',
          fail: failedCondition(job)
            ? `Job etl failed (${failedCondition(job)}).`
            : `Job etl has not completed: ${succeeded} of 8 shards succeeded so far.`,
          hint: '`kubectl describe job etl` and `kubectl get pods -l job-name=etl`.',
        }),
      ];
    },

    async 'bad-input'(ctx) {
      const namespace = ctx.ns();
      const read = () => ctx.get<V1Job>('batch/v1', 'Job', 'etl-bad', namespace);
      const shard = () => ctx.list<V1Pod>('v1', 'Pod', namespace, `job-name=etl-bad,batch.kubernetes.io/job-completion-index=${BAD_SHARD}`);
      let job = await read();
      if (!job)
        return [missing('failed-at-once', 'The Job etl-bad', 'Create it from your etl, renamed, with BAD_SHARD=3 on its etl container.')];
      let pods: V1Pod[] = [];
      // Until it has finished, or shard 3 exited with 42 a while ago and the Job goes on regardless.
      await ctx.waitFor(async () => {
        [job, pods] = await Promise.all([read(), shard()]);
        if (complete(job) || failedBy(job)) return true;
        const ended = Math.min(...exited42(pods));
        return Date.now() - ended > AT_ONCE_MS ? true : undefined;
      }, JOB_WAIT_MS);
      const tries = pods.length;
      const saw42 = exited42(pods).length > 0;
      const reason = failedBy(job);
      const atOnce = reason === 'PodFailurePolicy' && tries === 1;
      const look = `\`kubectl get pods -l job-name=etl-bad\` and \`kubectl describe job etl-bad\`.`;
      return [
        criterion('exit-42', saw42, {
          pass: `Shard ${BAD_SHARD} of etl-bad exited with code 42, as bad input makes it.`,
          fail:
            tries === 0
              ? `No pod of shard ${BAD_SHARD} of etl-bad has run yet.`
              : `Shard ${BAD_SHARD} of etl-bad ran and did not exit with code 42: is BAD_SHARD=3 set on its etl container?`,
          hint: look,
        }),
        criterion('failed-at-once', atOnce, {
          pass: `etl-bad failed at once by its pod failure policy; shard ${BAD_SHARD} was tried once.`,
          fail: complete(job)
            ? `etl-bad completed: every shard succeeded, so none saw bad input. Set BAD_SHARD=3 on its etl container.`
            : saw42 && reason !== 'PodFailurePolicy'
              ? `Shard ${BAD_SHARD} exited with code 42 and the Job did not fail by its policy: it is retried (${tries} ${tries === 1 ? 'pod' : 'pods'} of shard ${BAD_SHARD} so far${reason ? `, and the Job failed only by ${reason}` : ''}).`
              : saw42
                ? `etl-bad failed by its policy, but only after shard ${BAD_SHARD} was retried (${tries} pods).`
                : `etl-bad has not failed: shard ${BAD_SHARD} has not exited with code 42${reason ? ` (the Job failed by ${reason})` : ''}.`,
          hint: look,
        }),
      ];
    },
  },
});
