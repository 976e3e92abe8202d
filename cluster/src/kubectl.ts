/**
 * The kubectl a learner's shell gets: the one built with the local cluster
 * (so client and server versions match), else the one on the PATH.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { which } from './exec.ts';
import { VERSIONS } from './local/binaries.ts';
import { cacheDir } from './paths.ts';

export function findKubectl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const built = join(cacheDir(env), 'bin', `kubernetes-${VERSIONS.kubernetes}`, 'kubectl');
  return existsSync(built) ? built : which('kubectl', env);
}
