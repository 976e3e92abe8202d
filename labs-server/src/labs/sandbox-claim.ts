/**
 * Who may provision or reset a lab's sandbox right now. Before touching any
 * namespace a server records a claim in the LabSession (`operation`: its
 * name and a time the claim holds until, renewed while it works), so two
 * replicas never rebuild one sandbox at once, and a claim left behind by a
 * server that died is taken over instead of blocking the lab for good.
 *
 * A claim is over when its time is up, or sooner when its holder is known to
 * be gone: a process on this same host that no longer exists (a server
 * killed and started again takes over its own leftovers at once).
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { processAlive } from '../../../cluster/src/exec.ts';
import type { LabProgress } from '../../../contract/session.ts';

/** How long a claim holds without renewal; the holder renews it every third of that. */
export const CLAIM_MS = 30_000;

/** This server's name in claims: its host, its process and a nonce (one process may run several services in tests). */
export function holderName(): string {
  return `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
}

/** Whether the process behind `holder` is known to be gone (only provable on this host). */
export function holderGone(holder: string): boolean {
  const [host, pidText] = holder.split('/');
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  return !processAlive(pid);
}

/** A sandbox in the middle of being provisioned or reset (by someone, alive or not). */
export function busy(progress: LabProgress | undefined): boolean {
  return progress?.sandbox === 'provisioning' || progress?.sandbox === 'resetting';
}

/**
 * Whether `me` may claim this lab's sandbox: nobody is working on it, or the
 * one who was is gone (its claim ran out, its process died, or it is `me`
 * and nothing of mine is running on it any more).
 */
export function claimable(progress: LabProgress | undefined, me: string, now: number, mineRunning: boolean): boolean {
  if (!busy(progress) || !progress?.operation) return true;
  const { holder, until } = progress.operation;
  if (holder === me) return !mineRunning;
  return Date.parse(until) <= now || holderGone(holder);
}
