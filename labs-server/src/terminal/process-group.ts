/**
 * Everything a shell started, found and ended together. node-pty makes the
 * shell the leader of a new session (setsid), and every process it starts
 * stays in that session unless it leaves on purpose, so "the shell's
 * processes" are the processes whose session id is the shell's pid. Closing
 * a terminal ends them all (SIGHUP, as a closing terminal does, then
 * SIGKILL for whatever ignored it), not just bash: a `sleep` left in the
 * background must not outlive the learner's terminal.
 *
 * Linux has no call that lists a session's members, so they are read from
 * /proc. A scan reads every process's stat, which is costly with hundreds
 * of shells on the host, so signalling scans once and then watches only the
 * pids it found. The process table is an interface so the waiting can be
 * tested with fake timers and no real processes.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** How often the pids just signalled are checked while waiting for them to end. */
export const EXIT_POLL_MS = 25;

/** The host's processes, as far as ending a shell's session needs them. */
export interface ProcessTable {
  /** Every pid whose session id is `sid`. */
  members(sid: number): number[];
  /** Whether `pid` still runs (a zombie, dead but not yet reaped, does not). */
  running(pid: number): boolean;
  /** Sends `signal`; a process that has already gone is not an error. */
  signal(pid: number, signal: NodeJS.Signals): void;
}

/** The fields of /proc/<pid>/stat after the command name, which may itself hold spaces and parentheses. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Every pid whose session id is `sid` (from /proc; Linux only). `procRoot` is for tests. */
export function sessionMembers(sid: number, procRoot = '/proc'): number[] {
  const members: number[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // state, ppid, pgrp, session: the session id is the fourth field.
      if (Number(statFields(readFileSync(`${procRoot}/${entry}/stat`, 'utf8'))[3]) === sid) members.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return members;
}

/** Whether `pid` still runs, from its /proc stat (a zombie's state is Z). `procRoot` is for tests. */
export function isRunning(pid: number, procRoot = '/proc'): boolean {
  try {
    return statFields(readFileSync(`${procRoot}/${pid}/stat`, 'utf8'))[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The real process table of this Linux host. */
export const linuxProcesses: ProcessTable = {
  members: (sid) => sessionMembers(sid),
  running: (pid) => isRunning(pid),
  signal: (pid, signal) => {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  },
};

/**
 * Sends `signal` to every process of session `sid` and waits up to `ms` for
 * them to end. The session is scanned once; the wait then checks only the
 * pids found.
 */
export async function signalSession(
  sid: number,
  signal: NodeJS.Signals,
  ms: number,
  processes: ProcessTable = linuxProcesses,
): Promise<void> {
  let alive = processes.members(sid);
  for (const pid of alive) processes.signal(pid, signal);
  const deadline = Date.now() + ms;
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, EXIT_POLL_MS));
    alive = alive.filter((pid) => processes.running(pid));
  }
}

/** How long each signal of `endSession` waits for the processes to go. */
export const HANGUP_WAIT_MS = 1000;
export const KILL_WAIT_MS = 2000;

/** Ends every process of session `sid`: a hangup, then a kill for whatever ignored it or started meanwhile. */
export async function endSession(sid: number, processes: ProcessTable = linuxProcesses): Promise<void> {
  await signalSession(sid, 'SIGHUP', HANGUP_WAIT_MS, processes);
  await signalSession(sid, 'SIGKILL', KILL_WAIT_MS, processes);
}
