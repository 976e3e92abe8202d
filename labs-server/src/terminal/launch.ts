/**
 * How every shell starts, whatever its backend: node-pty runs bash with a
 * short launcher script, and the launcher execs the shell (or bubblewrap)
 * in its own place.
 *
 * The launcher exists because of what a new process inherits. node-pty
 * opens its pty masters without close-on-exec, and the server holds other
 * descriptors that lack it too, so a shell started directly would hold the
 * masters of every terminal opened before it: writing to one of them types
 * into another learner's shell, reading it steals their output. bubblewrap
 * passes on what it inherits. So the first thing the launcher does, before
 * anything else can run, is close every descriptor but 0, 1 and 2, found by
 * listing /proc/self/fd (no list of known descriptors that could go stale).
 * Then, as root where the server is root, it joins the shell's control
 * groups and sets its resource limits (hard limits, which the learner cannot
 * raise), opens the files the command reads from descriptors (the seccomp
 * filter, the first kubeconfig), and only then drops to the learner's uid
 * with `setpriv` and execs the command. The tests check from inside a shell
 * that /proc/self/fd holds only the pty's three.
 */

export interface LaunchPlan {
  /** `cgroup.procs` files to join (as root) before anything else runs. */
  cgroups?: readonly string[];
  /** `ulimit` arguments, set as soft and hard limits. */
  ulimit?: readonly string[];
  /** Files opened read-only on these descriptors for the command. */
  files?: ReadonlyArray<{ fd: number; path: string }>;
  /** The uid and gid to become, with no supplementary groups (needs root). */
  user?: { uid: number; gid: number };
  /** The program and its arguments. */
  command: readonly string[];
}

/** Quotes a word for bash: single quotes, with any single quote spelled out. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Exit status of a launcher that could not set up the shell (as `env` uses for "cannot run"). */
export const LAUNCH_FAILED = 125;

export function launcherScript(plan: LaunchPlan): string {
  const lines = [
    // Every inherited descriptor but the pty's three goes, before anything else.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a template
    'for fd in /proc/self/fd/*; do fd=${fd##*/}; if (( fd > 2 )); then exec {fd}>&-; fi; done',
  ];
  for (const file of plan.cgroups ?? []) {
    lines.push(`echo $$ > ${shellQuote(file)} || { echo "the shell could not join its control group" >&2; exit ${LAUNCH_FAILED}; }`);
  }
  if (plan.ulimit && plan.ulimit.length > 0) {
    lines.push(`ulimit -S -H ${plan.ulimit.map(shellQuote).join(' ')} || exit ${LAUNCH_FAILED}`);
  }
  for (const { fd, path } of plan.files ?? []) {
    if (!Number.isInteger(fd) || fd < 3 || fd > 9) throw new Error(`launcher descriptors are 3–9, not ${fd}`);
    lines.push(`exec ${fd}< ${shellQuote(path)} || exit ${LAUNCH_FAILED}`);
  }
  const drop = plan.user ? `setpriv --reuid=${plan.user.uid} --regid=${plan.user.gid} --clear-groups --no-new-privs -- ` : '';
  lines.push(`exec ${drop}"$@"`);
  return lines.join('\n');
}

/** The program and arguments node-pty runs for a plan. */
export function launchCommand(plan: LaunchPlan): { file: string; args: string[] } {
  if (plan.command.length === 0) throw new Error('a launch plan needs a command');
  return { file: '/bin/bash', args: ['--noprofile', '--norc', '-c', launcherScript(plan), 'cdl-launch', ...plan.command] };
}
