/**
 * Ending every process of a shell: the /proc scan finds a session's members
 * (on a /proc of files made here, with command names that hold spaces and
 * parentheses, and on the real one), a zombie counts as ended, and the
 * signalling waits for the pids it found, on fake timers, as long as it is
 * told and no longer.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  EXIT_POLL_MS,
  endSession,
  HANGUP_WAIT_MS,
  isRunning,
  KILL_WAIT_MS,
  type ProcessTable,
  sessionMembers,
  signalSession,
} from '../../labs-server/src/terminal/process-group.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cdl-process-group-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A /proc with the stat lines given: pid, command, state, ppid, pgrp, session. */
function fakeProc(processes: Array<{ pid: number; comm: string; state: string; sid: number }>): string {
  const root = mkdtempSync(join(scratch, 'proc-'));
  for (const { pid, comm, state, sid } of processes) {
    mkdirSync(join(root, String(pid)));
    writeFileSync(join(root, String(pid), 'stat'), `${pid} (${comm}) ${state} 1 ${sid} ${sid} 34816 0 4194560 0 0 0 0\n`);
  }
  mkdirSync(join(root, 'self'));
  writeFileSync(join(root, 'uptime'), '1.00 1.00\n');
  return root;
}

/** A process table of pids that end after a given number of checks, recording every signal. */
function fakeTable(sessions: Record<number, number[]>, checksBeforeExit: Record<number, number>) {
  const signals: Array<[number, NodeJS.Signals]> = [];
  const checks = new Map<number, number>();
  const table: ProcessTable = {
    members: (sid) => [...(sessions[sid] ?? [])],
    running: (pid) => {
      const seen = (checks.get(pid) ?? 0) + 1;
      checks.set(pid, seen);
      return seen <= (checksBeforeExit[pid] ?? 0);
    },
    signal: (pid, signal) => {
      signals.push([pid, signal]);
    },
  };
  return { table, signals, checks };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("a shell's processes in /proc", () => {
  it('are the pids whose session id is the shell, whatever their command names hold', () => {
    const root = fakeProc([
      { pid: 100, comm: 'bash', state: 'S', sid: 100 },
      { pid: 101, comm: 'sleep 5) S 1 1 1', state: 'S', sid: 100 },
      { pid: 102, comm: 'kubectl', state: 'R', sid: 100 },
      { pid: 200, comm: 'bash', state: 'S', sid: 200 },
      { pid: 201, comm: '(100)', state: 'S', sid: 200 },
    ]);
    expect(sessionMembers(100, root).sort()).toEqual([100, 101, 102]);
    expect(sessionMembers(200, root).sort()).toEqual([200, 201]);
    expect(sessionMembers(300, root)).toEqual([]);
  });

  it('count a zombie, or a pid with no stat, as ended', () => {
    const root = fakeProc([
      { pid: 10, comm: 'a) Z (b', state: 'S', sid: 10 },
      { pid: 11, comm: 'defunct', state: 'Z', sid: 10 },
    ]);
    expect(isRunning(10, root)).toBe(true);
    expect(isRunning(11, root)).toBe(false);
    expect(isRunning(12, root)).toBe(false);
  });

  it('are found on the real /proc, for a process that made its own session', async () => {
    const child = spawn('/bin/sleep', ['30'], { detached: true, stdio: 'ignore' });
    try {
      const pid = child.pid as number;
      await vi.waitFor(() => expect(sessionMembers(pid)).toEqual([pid]));
      expect(isRunning(pid)).toBe(true);
      await endSession(pid);
      // Gone once Node has reaped it (until then it is a zombie, which no longer runs).
      expect(isRunning(pid)).toBe(false);
      await vi.waitFor(() => expect(sessionMembers(pid)).toEqual([]));
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('signalling a session', () => {
  it('signals every member once, then checks only those pids until they end', async () => {
    vi.useFakeTimers();
    const { table, signals, checks } = fakeTable({ 7: [7, 8, 9] }, { 7: 0, 8: 2, 9: 3 });
    const done = signalSession(7, 'SIGHUP', 1000, table);
    let finished = false;
    void done.then(() => {
      finished = true;
    });
    expect(signals).toEqual([
      [7, 'SIGHUP'],
      [8, 'SIGHUP'],
      [9, 'SIGHUP'],
    ]);
    await vi.advanceTimersByTimeAsync(EXIT_POLL_MS * 3);
    expect(finished).toBe(false);
    await vi.advanceTimersByTimeAsync(EXIT_POLL_MS);
    expect(finished).toBe(true);
    // A pid that has ended is not checked again.
    expect(checks.get(7)).toBe(1);
    expect(checks.get(9)).toBe(4);
  });

  it('waits no longer than it is told for a process that ignores the signal', async () => {
    vi.useFakeTimers();
    const { table } = fakeTable({ 7: [7] }, { 7: Number.POSITIVE_INFINITY });
    let finished = false;
    void signalSession(7, 'SIGHUP', 100, table).then(() => {
      finished = true;
    });
    await vi.advanceTimersByTimeAsync(75);
    expect(finished).toBe(false);
    await vi.advanceTimersByTimeAsync(EXIT_POLL_MS);
    expect(finished).toBe(true);
  });

  it('returns at once for a session with no processes left', async () => {
    vi.useFakeTimers();
    const { table, signals } = fakeTable({}, {});
    await signalSession(7, 'SIGKILL', 1000, table);
    expect(signals).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ends a session with a hangup, then a kill for what ignored it', async () => {
    vi.useFakeTimers();
    const { table, signals } = fakeTable({ 7: [7, 8] }, { 7: 0, 8: Number.POSITIVE_INFINITY });
    let finished = false;
    void endSession(7, table).then(() => {
      finished = true;
    });
    expect(signals).toEqual([
      [7, 'SIGHUP'],
      [8, 'SIGHUP'],
    ]);
    await vi.advanceTimersByTimeAsync(HANGUP_WAIT_MS);
    // The kill scans the session afresh: whatever started meanwhile is in it.
    expect(signals.slice(2)).toEqual([
      [7, 'SIGKILL'],
      [8, 'SIGKILL'],
    ]);
    expect(finished).toBe(false);
    await vi.advanceTimersByTimeAsync(KILL_WAIT_MS);
    expect(finished).toBe(true);
  });
});
