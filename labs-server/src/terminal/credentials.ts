/**
 * A shell's credentials on the host. The learner's token lives an hour and
 * is renewed while the shell lives; the renewal must never write into a
 * folder the learner controls, because the server may be root and a
 * learner's symlink there would aim that write at any file of the host. So
 * the kubeconfig the shell starts with names its token by path
 * (`tokenFile`, which kubectl reads afresh as it changes), and only that
 * token file is ever rewritten: in the terminal's workspace folder, which is
 * the server's (root-owned, the learner's group may read), by writing a new
 * file beside it and renaming it over the old one. The learner keeps a
 * kubeconfig of their own in their home to change as they like (switch
 * namespace, add contexts) and the token under it still renews.
 */
import { chmod, chown, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { z } from 'zod';

const KubeconfigSchema = z
  .object({
    clusters: z.array(z.object({ name: z.string(), cluster: z.object({ server: z.string() }).loose() })).default([]),
    users: z.array(z.object({ name: z.string(), user: z.record(z.string(), z.unknown()) })).default([]),
  })
  .loose();

export interface ShellCredentials {
  /** The kubeconfig the shell starts with (its token by path when it has one). */
  kubeconfig: string;
  /** The bearer token, when the kubeconfig used one. */
  token: string | undefined;
}

/**
 * Rewrites a kubeconfig for use inside a shell: the API server as the shell
 * reaches it, and an inline token replaced by `tokenFile` at `tokenPath`.
 */
export function shellCredentials(
  kubeconfig: string,
  tokenPath: string,
  apiServer: (hostUrl: string) => { server: string; tlsServerName?: string },
): ShellCredentials {
  const config = KubeconfigSchema.parse(parse(kubeconfig));
  for (const entry of config.clusters) {
    const { server, tlsServerName } = apiServer(entry.cluster.server);
    entry.cluster.server = server;
    if (tlsServerName) entry.cluster['tls-server-name'] = tlsServerName;
  }
  let token: string | undefined;
  for (const entry of config.users) {
    if (typeof entry.user.token === 'string') {
      token = entry.user.token;
      delete entry.user.token;
      entry.user.tokenFile = tokenPath;
    }
  }
  return { kubeconfig: stringify(config), token };
}

/**
 * Writes a file into a folder of the server's (never one the learner can
 * change), readable by the shell's group: a new file, then a rename over
 * the old, so a reader never sees half of it.
 */
export async function writeWorkspaceFile(dir: string, name: string, content: string, gid: number | undefined): Promise<void> {
  const file = join(dir, name);
  const next = `${file}.next`;
  // Made afresh (O_EXCL does not follow a symlink): whatever was at `next` is removed, never written through.
  await rm(next, { force: true });
  await writeFile(next, content, { mode: 0o640, flag: 'wx' });
  if (gid !== undefined && process.getuid?.() === 0) await chown(next, 0, gid);
  await chmod(next, gid !== undefined ? 0o640 : 0o600);
  await rename(next, file);
}
