/**
 * The /etc files a workshop sandbox sees instead of the host's: a passwd
 * and a group naming only the learner (so `id`, `ls -l` and bash's prompt
 * show a name, and no host account is visible), one per shell since each
 * has a uid of its own, and an /etc/hosts that all sandboxes share (their
 * network has nothing but loopback). They are the server's files, bound
 * read-only into the sandbox (bubblewrap-args.ts).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SANDBOX_HOSTNAME, SANDBOX_PATHS } from './bubblewrap-args.ts';
import type { Workspace } from './shell-backend.ts';

/** The uid and gid of a shell that was given none (the kernel's overflow id, "nobody"). */
export const NOBODY = 65534;

/** The sandbox's /etc/hosts: loopback, under its own hostname too. */
export const HOSTS = `127.0.0.1 localhost ${SANDBOX_HOSTNAME}\n::1 localhost\n`;

/** The per-shell files, in the terminal's workspace folder. */
export const ACCOUNT_FILES = { passwd: 'passwd', group: 'group' } as const;

export function passwd(uid: number, gid: number): string {
  return `learner:x:${uid}:${gid}:Learner:${SANDBOX_PATHS.home}:/bin/bash\n`;
}

export function group(gid: number): string {
  return `learner:x:${gid}:\n`;
}

/** Writes the shell's passwd and group into its workspace folder. */
export async function writeAccountFiles(workspace: Workspace): Promise<void> {
  const uid = workspace.uid ?? NOBODY;
  const gid = workspace.gid ?? NOBODY;
  await writeFile(join(workspace.dir, ACCOUNT_FILES.passwd), passwd(uid, gid), { mode: 0o644 });
  await writeFile(join(workspace.dir, ACCOUNT_FILES.group), group(gid), { mode: 0o644 });
}
