import type { V1Deployment } from '@kubernetes/client-node';
import { rolledOut } from '../cluster/src/kube.ts';
import { criterion, defineCheck, missing } from './lib/check.ts';
import { awaitRollout } from './lib/workloads.ts';

const WORKLOADS = ['web', 'worker'];
const COST_LABELS = ['team', 'cost-center'];

function containers(d: V1Deployment) {
  return d.spec?.template.spec?.containers ?? [];
}

export default defineCheck({
  lab: 'signals-and-cost',
  steps: {
    async instrument(ctx) {
      const found = await Promise.all(WORKLOADS.map((name) => awaitRollout(ctx, name)));
      const deployments = found.filter((d): d is V1Deployment => d !== undefined);
      if (deployments.length < WORKLOADS.length) {
        const gone = WORKLOADS.filter((name) => !deployments.some((d) => d.metadata?.name === name));
        return [missing('probes', `The Deployment ${gone.join(', ')}`, 'Was it deleted? Reset the lab to get it back.')];
      }
      const probeProblems = deployments
        .flatMap((d) =>
          containers(d).flatMap((c) => [
            c.readinessProbe ? '' : `${d.metadata?.name}: container ${c.name} has no readinessProbe`,
            c.livenessProbe ? '' : `${d.metadata?.name}: container ${c.name} has no livenessProbe`,
          ]),
        )
        .filter(Boolean);
      const unsized = deployments.flatMap((d) =>
        containers(d)
          .filter((c) => !c.resources?.requests?.cpu || !c.resources?.requests?.memory)
          .map((c) => `${d.metadata?.name}/${c.name}`),
      );
      const unlabelled = deployments.filter((d) => COST_LABELS.some((l) => !d.spec?.template.metadata?.labels?.[l]));
      const onDeploymentOnly = unlabelled.filter((d) => COST_LABELS.every((l) => d.metadata?.labels?.[l]));
      const notReady = deployments.filter((d) => !rolledOut(d)).map((d) => d.metadata?.name);
      return [
        criterion('probes', probeProblems.length === 0, {
          pass: 'Every container has a readiness and a liveness probe.',
          fail: `${probeProblems.join('; ')}. Without readiness, traffic reaches pods that are not ready; without liveness, a hung process is never restarted.`,
          hint: '`kubectl get deployment <name> -o yaml` and look at each container.',
        }),
        criterion('requests', unsized.length === 0, {
          pass: 'Every container asks for CPU and memory.',
          fail: `The container${unsized.length === 1 ? '' : 's'} ${unsized.join(', ')} ${unsized.length === 1 ? 'has' : 'have'} no CPU and memory requests in the Deployment: the scheduler and a cost tool both go by them.`,
          hint: '`kubectl explain deployment.spec.template.spec.containers.resources`',
        }),
        criterion('cost-labels', unlabelled.length === 0, {
          pass: 'Every pod carries team and cost-center.',
          fail:
            onDeploymentOnly.length > 0
              ? `${onDeploymentOnly.map((d) => d.metadata?.name).join(', ')} ${onDeploymentOnly.length === 1 ? 'has' : 'have'} team and cost-center on the Deployment itself, not on its pod template, so the pods that cost tools read do not carry them.`
              : `The pod template of ${unlabelled.map((d) => d.metadata?.name).join(', ')} lacks the labels team and cost-center.`,
          hint: '`kubectl get pods -L team,cost-center`',
          diff: unlabelled.map((d) => ({
            path: `${d.metadata?.name}: spec.template.metadata.labels`,
            expected: { team: '…', 'cost-center': '…' },
            actual: d.spec?.template.metadata?.labels,
          })),
        }),
        criterion('available', notReady.length === 0, {
          pass: 'Both workloads are rolled out and available.',
          fail: `${notReady.join(', ')} ${notReady.length === 1 ? 'is' : 'are'} not fully rolled out and available.`,
          hint: '`kubectl rollout status deployment/<name>` and `kubectl describe pod`.',
        }),
      ];
    },
  },
});
