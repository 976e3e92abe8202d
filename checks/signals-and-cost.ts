/**
 * signals-and-cost: probes, requests and cost labels on every workload.
 * The nodes here are simulated and never run a probe, so the check reads
 * where each probe points: web serves HTTP on port 80, worker serves
 * nothing (it writes /tmp/healthy), so a probe of web must reach port 80 or
 * run a command, and a probe of worker must run a command. Requests are
 * compared as quantities, so `100m`, `0.1` and `1e-1` are all a tenth of a
 * core, and `0` is nothing.
 */
import type { V1Container, V1Deployment, V1Probe } from '@kubernetes/client-node';
import { rolledOut } from '../cluster/src/kube.ts';
import { criterion, defineCheck, missing } from './lib/check.ts';
import { positive } from './lib/quantity.ts';
import { awaitRollout } from './lib/workloads.ts';

const WORKLOADS = ['web', 'worker'];
const COST_LABELS = ['team', 'cost-center'];
/** The one port each workload's process listens on, if any. */
const LISTENS: Record<string, number | undefined> = { web: 80, worker: undefined };

function containers(d: V1Deployment) {
  return d.spec?.template.spec?.containers ?? [];
}

/** The port a probe's httpGet, tcpSocket or grpc points at, resolved through the container's named ports. */
function probePort(probe: V1Probe, container: V1Container): number | string | undefined {
  const port = probe.httpGet?.port ?? probe.tcpSocket?.port ?? probe.grpc?.port;
  if (typeof port !== 'string') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort ?? port;
}

/** What is wrong with where the probe points, or '' when it can succeed. */
function misdirected(workload: string, container: V1Container, kind: string, probe: V1Probe | undefined): string {
  if (!probe || probe.exec) return '';
  const port = probePort(probe, container);
  const listens = LISTENS[workload];
  if (listens === undefined)
    return `${workload}: the ${kind} of ${container.name} checks port ${port}, but nothing in ${workload} listens on a port`;
  if (probe.grpc) return `${workload}: the ${kind} of ${container.name} speaks gRPC, but ${workload} serves plain HTTP`;
  return port === listens
    ? ''
    : `${workload}: the ${kind} of ${container.name} checks port ${port}, where nothing listens (${workload} serves on ${listens})`;
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
      const misdirectedProbes = deployments
        .flatMap((d) =>
          containers(d).flatMap((c) => [
            misdirected(d.metadata?.name ?? '', c, 'readinessProbe', c.readinessProbe),
            misdirected(d.metadata?.name ?? '', c, 'livenessProbe', c.livenessProbe),
          ]),
        )
        .filter(Boolean);
      const unsized = deployments.flatMap((d) =>
        containers(d)
          .filter((c) => !positive(c.resources?.requests?.cpu) || !positive(c.resources?.requests?.memory))
          .map((c) => `${d.metadata?.name}/${c.name}`),
      );
      const unlabelled = deployments.filter((d) => COST_LABELS.some((l) => !d.spec?.template.metadata?.labels?.[l]?.trim()));
      const onDeploymentOnly = unlabelled.filter((d) => COST_LABELS.every((l) => d.metadata?.labels?.[l]));
      const notReady = deployments
        .filter((d) => !rolledOut(d))
        .map(
          (d) =>
            `${d.metadata?.name} (${d.status?.updatedReplicas ?? 0} of ${d.spec?.replicas ?? 1} pods updated, ${d.status?.availableReplicas ?? 0} available)`,
        );
      return [
        criterion('probes', probeProblems.length === 0, {
          pass: 'Every container has a readiness and a liveness probe.',
          fail: `${probeProblems.join('; ')}. Without readiness, traffic reaches pods that are not ready; without liveness, a hung process is never restarted.`,
          hint: '`kubectl get deployment <name> -o yaml` and look at each container.',
        }),
        criterion('probe-targets', misdirectedProbes.length === 0, {
          pass: 'Every probe checks something that answers.',
          fail: `${misdirectedProbes.join('; ')}. On a real cluster that probe would never succeed: the pods would never be ready, or would be restarted again and again.`,
          hint: 'Which port does each process listen on? `kubectl explain pod.spec.containers.livenessProbe` lists httpGet, tcpSocket, grpc and exec.',
        }),
        criterion('requests', unsized.length === 0, {
          pass: 'Every container asks for CPU and memory.',
          fail: `The container${unsized.length === 1 ? '' : 's'} ${unsized.join(', ')} ${unsized.length === 1 ? 'has' : 'have'} no CPU and memory requests above zero in the Deployment: the scheduler and a cost tool both go by them.`,
          hint: '`kubectl explain deployment.spec.template.spec.containers.resources`',
        }),
        criterion('cost-labels', unlabelled.length === 0, {
          pass: 'Every pod carries team and cost-center.',
          fail:
            onDeploymentOnly.length > 0
              ? `${onDeploymentOnly.map((d) => d.metadata?.name).join(', ')} ${onDeploymentOnly.length === 1 ? 'has' : 'have'} team and cost-center on the Deployment itself, not on its pod template, so the pods that cost tools read do not carry them.`
              : `The pod template of ${unlabelled
                  .map(
                    (d) =>
                      `${d.metadata?.name} lacks ${COST_LABELS.filter((l) => !d.spec?.template.metadata?.labels?.[l]?.trim()).join(' and ')}`,
                  )
                  .join('; ')}.`,
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
