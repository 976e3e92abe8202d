/**
 * Which provider to use. In order: `--provider`, `CDL_PROVIDER`, the provider
 * that last ran `up` in this checkout (so `down` and `status` find the cluster
 * that is there), and finally what the machine has: kind where Docker and kind
 * both work, the local provider everywhere else.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ClusterError } from './errors.ts';
import { run, which } from './exec.ts';
import { ExternalProvider } from './external/provider.ts';
import { KindProvider } from './kind/provider.ts';
import { LocalProvider } from './local/provider.ts';
import { projectRoot } from './paths.ts';
import type { ClusterProvider, ProviderName } from './provider.ts';

export const ProviderNameSchema = z.enum(['local', 'kind', 'external']);

const ActiveSchema = z.object({ provider: ProviderNameSchema });

/** The cluster's name: `CDL_CLUSTER_NAME`, default `cdl`. */
export function clusterName(env: NodeJS.ProcessEnv = process.env): string {
  const name = env.CDL_CLUSTER_NAME ?? 'cdl';
  if (!/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/.test(name)) {
    throw new ClusterError(
      `CDL_CLUSTER_NAME "${name}" is not a valid cluster name.`,
      'Use lower-case letters, digits and dashes (at most 32).',
    );
  }
  return name;
}

function activeFile(root: string, name: string): string {
  return join(root, '.cluster', `active-${name}.json`);
}

/** The provider recorded by the last `up` of this cluster in this checkout, if any. */
export function activeProvider(name: string, root = projectRoot): ProviderName | undefined {
  const file = activeFile(root, name);
  if (!existsSync(file)) return undefined;
  const parsed = ActiveSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  return parsed.success ? parsed.data.provider : undefined;
}

export async function recordActive(name: string, provider: ProviderName | undefined, root = projectRoot): Promise<void> {
  const file = activeFile(root, name);
  if (provider === undefined) return rm(file, { force: true });
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify({ provider })}\n`);
}

/** kind is the default only where both `kind` and a working Docker engine are present. */
export async function dockerAndKindAvailable(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!which('kind', env) || !which('docker', env)) return false;
  const info = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { env, timeoutMs: 5000 }).catch(() => undefined);
  return info?.code === 0;
}

export function parseProviderName(value: string, source: string): ProviderName {
  const parsed = ProviderNameSchema.safeParse(value);
  if (!parsed.success) {
    throw new ClusterError(`Unknown provider "${value}" (from ${source}).`, 'Use one of: local, kind, external.');
  }
  return parsed.data;
}

export async function chooseProvider(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  root = projectRoot,
): Promise<ProviderName> {
  if (flag) return parseProviderName(flag, '--provider');
  if (env.CDL_PROVIDER) return parseProviderName(env.CDL_PROVIDER, 'CDL_PROVIDER');
  const active = activeProvider(clusterName(env), root);
  if (active) return active;
  return (await dockerAndKindAvailable(env)) ? 'kind' : 'local';
}

export interface ProviderOptions {
  root?: string;
  env?: NodeJS.ProcessEnv;
}

export function createProvider(name: ProviderName, options: ProviderOptions = {}): ClusterProvider {
  const env = options.env ?? process.env;
  const common = { clusterName: clusterName(env), root: options.root, env };
  switch (name) {
    case 'local':
      return new LocalProvider(common);
    case 'kind':
      return new KindProvider(common);
    case 'external':
      return new ExternalProvider(options.env);
  }
}
