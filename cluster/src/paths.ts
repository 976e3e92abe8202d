/**
 * Where the cluster tooling keeps things. Two places on purpose:
 * - the per-user cache holds the built binaries, shared by every checkout and
 *   reused across runs, keyed by version;
 * - the project-local `.cluster/` folder holds one checkout's cluster state and
 *   its kubeconfig, so nothing ever writes over the user's `~/.kube/config`.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterSettings, type Environment } from '../../contract/settings.ts';

/** The repository root (this file lives in `cluster/src/`). */
export const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Per-user cache folder: `$CDL_CACHE_DIR`, else `$XDG_CACHE_HOME/container-day-labs`, else `~/.cache/container-day-labs`. */
export function cacheDir(env: Environment = process.env): string {
  const { CDL_CACHE_DIR } = clusterSettings(env);
  if (CDL_CACHE_DIR) return resolve(CDL_CACHE_DIR);
  // XDG_CACHE_HOME is the desktop's convention, not a setting of ours.
  const base = env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return join(base, 'container-day-labs');
}

/** Project-local state for one named cluster: `.cluster/<name>/`. */
export function stateDir(clusterName: string, root = projectRoot): string {
  return join(root, '.cluster', clusterName);
}

/** The kubeconfig the project writes for a cluster; never `~/.kube/config`. */
export function kubeconfigPath(clusterName: string, root = projectRoot): string {
  return join(stateDir(clusterName, root), 'kubeconfig');
}
