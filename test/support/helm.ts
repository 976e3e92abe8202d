/**
 * Helm for the chart's tests (deploy/helm/container-day-labs): the cached
 * binary (cluster-setup.ts makes it), the chart rendered with values, and
 * the Gateway API's CRDs from the Go module proxy for a dry run of an HTTPRoute.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type KubernetesObject, loadAllYaml } from '@kubernetes/client-node';
import { cachedFile, VERSIONS } from '../../cluster/src/local/binaries.ts';
import { projectRoot } from '../../cluster/src/paths.ts';

const run = promisify(execFile);

export const CHART = join(projectRoot, 'deploy', 'helm', 'container-day-labs');
export const helmBinary = () => cachedFile({ id: 'helm', version: VERSIONS.helm, files: ['helm'] }, 'helm');

/** Runs helm; resolves with its exit code and output whatever the code. */
export async function helm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(helmBinary(), args, {
      maxBuffer: 32 * 1024 * 1024,
      env: {
        ...process.env,
        HELM_CACHE_HOME: '/tmp/cdl-helm-cache',
        HELM_CONFIG_HOME: '/tmp/cdl-helm-config',
        HELM_DATA_HOME: '/tmp/cdl-helm-data',
      },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** `helm template` of the chart with `--set` values, as objects (CRDs included), the API server's address given. */
/** What a `helm template` without a cluster must be told: the API server's address for the replicas' NetworkPolicy (read from the cluster at install). */
export const TEMPLATE_API_SERVER = [{ cidr: '10.0.0.1/32', port: 443 }];

export async function renderChart(set: Record<string, string>, namespace = 'container-day-labs'): Promise<KubernetesObject[]> {
  const args = [
    'template',
    'cdl',
    CHART,
    '--namespace',
    namespace,
    '--include-crds',
    '--set-json',
    `networkPolicy.apiServer=${JSON.stringify(TEMPLATE_API_SERVER)}`,
    ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`]),
  ];
  const result = await helm(args);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return loadAllYaml(result.stdout).filter((o): o is KubernetesObject => Boolean(o));
}

/** The Gateway API's standard HTTPRoute CRD, from its Go module. */
export async function gatewayApiHttpRouteCrd(): Promise<KubernetesObject> {
  const { stdout } = await run('go', ['mod', 'download', '-json', 'sigs.k8s.io/gateway-api@v1.6.3'], {
    cwd: projectRoot,
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  });
  const dir = (JSON.parse(stdout) as { Dir: string }).Dir;
  const [crd] = loadAllYaml(readFileSync(join(dir, 'config', 'crd', 'standard', 'gateway.networking.k8s.io_httproutes.yaml'), 'utf8'));
  return crd as KubernetesObject;
}
