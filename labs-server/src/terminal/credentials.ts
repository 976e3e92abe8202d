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
 *
 * The kubeconfig is read and written by @kubernetes/client-node's own
 * KubeConfig (its parser, its `exportConfig`), never by editing YAML text.
 * The one field that library does not model is kubectl's `tokenFile`, so it
 * is added to the exported users by name.
 */
import { chmod, chown, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Cluster, KubeConfig, type User } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { z } from 'zod';

export interface ShellCredentials {
  /** The kubeconfig the shell starts with (its token by path when it has one). */
  kubeconfig: string;
  /** The bearer token, when the kubeconfig used one. */
  token: string | undefined;
}

/** The API server as the shell reaches it (a backend's `apiServer`). */
export type ShellApiServer = (hostUrl: string) => { server: string; tlsServerName?: string };

/** What `exportConfig` gives, as far as adding `tokenFile` needs it. */
const ExportedSchema = z
  .object({ users: z.array(z.object({ name: z.string(), user: z.record(z.string(), z.unknown()) }).loose()) })
  .loose();

/** `exportConfig` writes a field the config lacks as null; kubectl needs none of them. */
function withoutNulls(_key: string, value: unknown): unknown {
  return value === null ? undefined : value;
}

/**
 * Rewrites a kubeconfig for use inside a shell: the API server as the shell
 * reaches it, and an inline token replaced by `tokenFile` at `tokenPath`.
 */
export function shellCredentials(kubeconfig: string, tokenPath: string, apiServer: ShellApiServer): ShellCredentials {
  const source = new KubeConfig();
  source.loadFromString(kubeconfig);
  const clusters = source.getClusters().map((cluster): Cluster => {
    const { server, tlsServerName } = apiServer(cluster.server);
    return tlsServerName ? { ...cluster, server, tlsServerName } : { ...cluster, server };
  });
  let token: string | undefined;
  const byFile = new Set<string>();
  const users = source.getUsers().map((user): User => {
    if (typeof user.token !== 'string') return user;
    token = user.token;
    byFile.add(user.name);
    const { token: _inline, ...rest } = user;
    return rest;
  });
  const shell = new KubeConfig();
  shell.loadFromOptions({ clusters, users, contexts: source.getContexts(), currentContext: source.getCurrentContext() });
  const exported = ExportedSchema.parse(JSON.parse(shell.exportConfig(), withoutNulls));
  for (const entry of exported.users) {
    if (byFile.has(entry.name)) entry.user.tokenFile = tokenPath;
  }
  return { kubeconfig: stringify(exported), token };
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
