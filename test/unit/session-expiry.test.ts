/** The banner a learner sees before their session ends, from `expiresAt` and the clock. */
import { describe, expect, it } from 'vitest';
import { expiryNotice, WARN_MS } from '../../site/src/lib/session-expiry.ts';

const end = '2026-11-24T13:00:00Z';
const ahead = (ms: number) => Date.parse(end) - ms;

describe('the session expiry banner', () => {
  it('says nothing while the end is far', () => {
    expect(expiryNotice(end, ahead(WARN_MS + 1000))).toBeUndefined();
    expect(expiryNotice('not a date', ahead(1000))).toBeUndefined();
  });

  it('warns, in whole minutes, once the end is near', () => {
    expect(expiryNotice(end, ahead(WARN_MS))).toMatchObject({ level: 'warn', text: expect.stringContaining('ends in 10 minutes') });
    expect(expiryNotice(end, ahead(30_000))?.text).toContain('ends in 1 minute.');
  });

  it('says the session has ended, and that progress is kept', () => {
    const notice = expiryNotice(end, ahead(0));
    expect(notice?.level).toBe('ended');
    expect(notice?.text).toMatch(/ended.*progress is kept/);
  });
});
