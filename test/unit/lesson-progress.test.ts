/** What the home and topic pages say of a lab's progress, from the API's view of it and a fixed clock. */
import { describe, expect, it } from 'vitest';
import type { LabProgressView } from '../../contract/api.ts';
import { duration, progressSummary } from '../../site/src/lib/progress.ts';

const at = (time: string) => `2026-11-24T${time}Z`;
const now = Date.parse(at('10:30:00'));

function lab(startedAt: string | undefined, ...passedAt: Array<string | undefined>): LabProgressView {
  const steps = passedAt.map((p, i) => ({ id: `s${i}`, title: `Step ${i}`, attempts: p ? 1 : 0, passedAt: p }));
  return { startedAt, passed: steps.filter((s) => s.passedAt).length, total: steps.length, steps };
}

describe("a lab's progress beside its lesson", () => {
  it('counts the steps of a lab not started, with no time', () => {
    expect(progressSummary(lab(undefined, undefined, undefined), now)).toEqual({ done: false, text: '0 of 2 steps' });
    expect(progressSummary(lab(undefined, undefined), now)).toEqual({ done: false, text: '0 of 1 step' });
  });

  it('counts the time so far of a lab under way, to now', () => {
    expect(progressSummary(lab(at('10:23:00'), at('10:25:00'), undefined), now)).toEqual({
      done: false,
      text: '1 of 2 steps, 7 minutes so far',
    });
    expect(progressSummary(lab(at('10:29:40'), undefined), now).text).toBe('0 of 1 step, under a minute so far');
  });

  it('is done once every step has passed, timed to the last pass', () => {
    expect(progressSummary(lab(at('10:00:00'), at('10:05:00'), at('10:12:00')), now)).toEqual({
      done: true,
      text: '2 of 2 steps in 12 minutes',
    });
    // Passes in any order: the last one ends the time.
    expect(progressSummary(lab(at('10:00:00'), at('10:14:00'), at('10:01:00')), now).text).toBe('2 of 2 steps in 14 minutes');
  });

  it('never counts less than nothing when the page clock is behind the server', () => {
    expect(progressSummary(lab(at('10:31:00'), undefined), now).text).toBe('0 of 1 step, under a minute so far');
  });

  it('says a time in minutes, and in hours past the hour', () => {
    expect(duration(59_000)).toBe('under a minute');
    expect(duration(60_000)).toBe('1 minute');
    expect(duration(89_000)).toBe('1 minute');
    expect(duration(59 * 60_000)).toBe('59 minutes');
    expect(duration(60 * 60_000)).toBe('1 hour');
    expect(duration(125 * 60_000)).toBe('2 hours 5 minutes');
  });
});
