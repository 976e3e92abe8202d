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
import { clusterSettings, type Environment, ProviderNameSchema } from '../../contract/settings.ts';
import { ClusterError } from './errors.ts';
import { run, which } from './exec.ts';
import { ExternalProvider } from './external/provider.ts';
import { KindProvider } from './kind/provider.ts';
import { LocalProvider } from './local/provider.ts';
import { projectRoot } from './paths.ts';
import type { ClusterProvider, ProviderName } from './provider.ts';

export { ProviderNameSchema };

const ActiveSchema = z.object({ provider: ProviderNameSchema });

/** The cluster's name: `CDL_CLUSTER_NAME`, default `cdl` (contract/settings.ts). */
export function clusterName(env: Environment = process.env): string {
  return clusterSettings(env).CDL_CLUSTER_NAME;
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
  const settings = clusterSettings(env);
  if (settings.CDL_PROVIDER) return settings.CDL_PROVIDER;
  const active = activeProvider(settings.CDL_CLUSTER_NAME, root);
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
