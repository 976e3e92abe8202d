/**
 * The learner's progress beside each lesson on the home and topic pages:
 * steps passed of the lab's total, "Done" once every step has passed, and
 * the time spent. The pages are static; this fills every [data-lab-progress]
 * once the server knows the learner, and without a session or a server the
 * pages stay as they were built.
 *
 * The time counts from the lab's first start (`startedAt`, which a reset
 * keeps) to its last step's pass once the lab is done, and to now before
 * that: the same measure as the instructor's training records.
 */
import type { Answer, LabProgressView } from '../../../contract/api.ts';
import { api, session } from './api.ts';

export interface ProgressSummary {
  done: boolean;
  /** e.g. "1 of 2 steps, 7 minutes so far"; after "Done" when done: "2 of 2 steps in 12 minutes". */
  text: string;
}

/** A length of time in words, to the minute. */
export function duration(ms: number): string {
  if (ms < 60_000) return 'under a minute';
  const minutes = Math.round(ms / 60_000);
  const words = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (minutes < 60) return words(minutes, 'minute');
  const rest = minutes % 60;
  return rest === 0 ? words(minutes / 60, 'hour') : `${words(Math.floor(minutes / 60), 'hour')} ${words(rest, 'minute')}`;
}

/** What to show of one lab's progress at `now` (ms since the epoch). */
export function progressSummary(progress: LabProgressView, now: number): ProgressSummary {
  const done = progress.total > 0 && progress.passed === progress.total;
  const steps = `${progress.passed} of ${progress.total} step${progress.total === 1 ? '' : 's'}`;
  const started = Date.parse(progress.startedAt ?? '');
  if (Number.isNaN(started)) return { done, text: steps };
  const passes = progress.steps.map((s) => Date.parse(s.passedAt ?? '')).filter((t) => !Number.isNaN(t));
  // The page's clock may be behind the server's: never less than nothing.
  const spent = Math.max(0, (done && passes.length > 0 ? Math.max(...passes) : now) - started);
  return { done, text: done ? `${steps} in ${duration(spent)}` : `${steps}, ${duration(spent)} so far` };
}

/** Fills one mark: "Your progress:" for screen readers, a "Done" that does not rely on colour, then the summary. */
function fill(mark: HTMLElement, summary: ProgressSummary): void {
  const label = document.createElement('span');
  label.className = 'visually-hidden';
  label.textContent = 'Your progress: ';
  const parts: Array<string | HTMLElement> = [label];
  if (summary.done) {
    const tick = document.createElement('span');
    tick.setAttribute('aria-hidden', 'true');
    tick.textContent = '✔ ';
    const badge = document.createElement('strong');
    badge.className = 'done';
    badge.append(tick, 'Done');
    parts.push(badge, ', ');
  }
  parts.push(summary.text);
  mark.replaceChildren(...parts);
  mark.dataset.done = String(summary.done);
}

async function show(marks: NodeListOf<HTMLElement>): Promise<void> {
  try {
    await session();
    const { labs } = await api<Answer<'labs', 200>>('GET', '/api/labs');
    const byId = new Map(labs.map((lab) => [lab.id, lab.progress]));
    const now = Date.now();
    for (const mark of marks) {
      const progress = byId.get(mark.dataset.labProgress ?? '');
      if (progress) fill(mark, progressSummary(progress, now));
    }
  } catch {
    // Progress is a nicety: without a server the lessons still read.
  }
}

if (typeof document !== 'undefined') {
  const marks = document.querySelectorAll<HTMLElement>('[data-lab-progress]');
  if (marks.length > 0) void show(marks);
}
