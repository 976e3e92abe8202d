import type { V1Job } from '@kubernetes/client-node';
import { hasCondition } from '../cluster/src/kube.ts';
import { criterion, defineCheck, missing } from './lib/check.ts';

const JOB_WAIT_MS = 15_000;

function complete(job: V1Job | undefined): boolean {
  return hasCondition(job, 'Complete');
}

function failedCondition(job: V1Job | undefined): string | undefined {
  const condition = job?.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
  return condition ? `${condition.reason ?? 'Failed'}: ${condition.message ?? ''}`.trim() : undefined;
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
      const exitRule = spec?.podFailurePolicy?.rules.some(
        (r) => r.action === 'FailJob' && r.onExitCodes?.operator === 'In' && r.onExitCodes.values.includes(42),
      );
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
              ? 'Job etl sets no backoffLimitPerIndex: one bad shard uses up the retries of all of them.'
              : `Job etl retries each shard ${perIndex} times; the task allows 2.`,
          hint: look,
        }),
        criterion('failure-policy', exitRule === true, {
          pass: 'Exit code 42 fails the Job at once.',
          fail: 'Job etl has no podFailurePolicy rule that fails the Job on exit code 42, so bad input is retried like a crash.',
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
  },
});
