/**
 * The pure parts of session storage and sandbox claims: how a status patch
 * merges (as the API server merges it), how passed steps are counted, and
 * when a claim on a lab's sandbox is over.
 */
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { countPassed, type LabProgress } from '../../contract/session.ts';
import { claimable, holderGone } from '../../labs-server/src/labs/sandbox-claim.ts';
import { mergePatch } from '../../labs-server/src/sessions/store.ts';

describe('a status patch', () => {
  it('merges objects, replaces values and deletes on null, as a JSON merge patch does', () => {
    const current = { labs: { a: { sandbox: 'ready', steps: { one: { passedAt: 'T1', attempts: 2 } } } }, currentLab: 'a' };
    const patch = { labs: { a: { steps: { one: { attempts: 3 }, two: { attempts: 1 } } } }, currentLab: null };
    expect(mergePatch(current, patch)).toEqual({
      labs: { a: { sandbox: 'ready', steps: { one: { passedAt: 'T1', attempts: 3 }, two: { attempts: 1 } } } },
    });
  });
});

describe('steps passed', () => {
  it('counts every step with a pass, across labs, whatever its last check said', () => {
    const labs: Record<string, LabProgress> = {
      a: { steps: { one: { passedAt: '2026-11-24T10:00:00Z', lastPassed: false }, two: { passedAt: '2026-11-24T10:05:00Z' } } },
      b: { steps: { one: { attempts: 4, lastPassed: false } } },
    };
    expect(countPassed(labs)).toBe(2);
    expect(countPassed(undefined)).toBe(0);
  });
});

describe('a claim on a sandbox', () => {
  const now = Date.parse('2026-11-24T10:00:00Z');
  const held = (holder: string, until: string): LabProgress => ({ sandbox: 'resetting', operation: { holder, until } });
  const elsewhere = 'another-host.example/4242/abcd';

  it('is free when nobody is building the sandbox', () => {
    expect(claimable(undefined, 'me', now, false)).toBe(true);
    expect(claimable({ sandbox: 'ready', operation: { holder: elsewhere, until: '2026-11-24T11:00:00Z' } }, 'me', now, false)).toBe(true);
  });

  it("holds while another server's claim runs, and is over when its time is up", () => {
    expect(claimable(held(elsewhere, '2026-11-24T10:00:20Z'), 'me', now, false)).toBe(false);
    expect(claimable(held(elsewhere, '2026-11-24T09:59:59Z'), 'me', now, false)).toBe(true);
  });

  it('is over at once when its holder was a process on this host that no longer exists', () => {
    // Pid 2^22 + 1 is above Linux's pid limit: no such process can exist.
    const dead = `${hostname()}/4194305/abcd`;
    expect(holderGone(dead)).toBe(true);
    expect(claimable(held(dead, '2026-11-24T10:00:20Z'), 'me', now, false)).toBe(true);
    // A live process on this host (this one, under another name) still holds it.
    expect(holderGone(`${hostname()}/${process.pid}/other`)).toBe(false);
    expect(holderGone(`${hostname()}/${process.ppid}/abcd`)).toBe(false);
  });

  it('is mine to take over when I hold it and no build of mine is running', () => {
    expect(claimable(held('me', '2026-11-24T10:00:20Z'), 'me', now, false)).toBe(true);
    expect(claimable(held('me', '2026-11-24T10:00:20Z'), 'me', now, true)).toBe(false);
  });
});
