/**
 * What learners and the instructor see of progress, computed from LabSession
 * objects alone (pure functions, so any replica gives the same answer and the
 * rules are tested without a cluster).
 *
 * "Stuck" means: in the lab the learner is on, the first step not yet passed
 * has been waiting longer than a threshold, counted from when it became the
 * next step (the previous step's pass, or the lab's start).
 *
 * An expired session stays on the grid, marked expired and never stuck: its
 * sandboxes are gone, its progress is not, until the instructor ends it.
 */

import type { ExportRecord, LabProgressView, LearnerView, StuckView } from '../../contract/api.ts';
import type { LabDefinition } from '../../contract/catalog.ts';
import { countPassed, type LabSession } from '../../contract/session.ts';

export function labProgress(session: LabSession, lab: LabDefinition): LabProgressView {
  const progress = session.status?.labs?.[lab.id];
  const steps = lab.steps.map((step) => {
    const p = progress?.steps?.[step.id];
    return {
      id: step.id,
      title: step.title,
      passedAt: p?.passedAt,
      attempts: p?.attempts ?? 0,
      lastCheckedAt: p?.lastCheckedAt,
      lastPassed: p?.lastPassed,
      lastMessage: p?.lastMessage,
    };
  });
  return {
    startedAt: progress?.startedAt,
    sandbox: progress?.sandbox,
    passed: steps.filter((s) => s.passedAt).length,
    total: steps.length,
    steps,
  };
}

/** The step a learner has been waiting on longer than `thresholdMinutes`, if any. */
export function stuckOn(session: LabSession, labs: readonly LabDefinition[], now: Date, thresholdMinutes: number): StuckView | undefined {
  const current = session.status?.currentLab;
  const lab = labs.find((l) => l.id === current);
  const progress = current ? session.status?.labs?.[current] : undefined;
  if (!lab || !progress?.startedAt) return undefined;
  let since = progress.startedAt;
  for (const step of lab.steps) {
    const passedAt = progress.steps?.[step.id]?.passedAt;
    if (passedAt) {
      if (Date.parse(passedAt) > Date.parse(since)) since = passedAt;
      continue;
    }
    const minutes = (now.getTime() - Date.parse(since)) / 60_000;
    return minutes >= thresholdMinutes ? { lab: lab.id, step: step.id, since, minutes: Math.floor(minutes) } : undefined;
  }
  return undefined;
}

export function learnerView(session: LabSession, labs: readonly LabDefinition[], now: Date, stuckMinutes: number): LearnerView {
  const started = labs.filter((lab) => session.status?.labs?.[lab.id]);
  const expired = Date.parse(session.spec.expiresAt) <= now.getTime();
  return {
    id: session.metadata.name,
    learner: session.spec.learner,
    createdAt: session.metadata.creationTimestamp,
    expiresAt: session.spec.expiresAt,
    expired,
    lastActivityAt: session.status?.lastActivityAt,
    currentLab: session.status?.currentLab,
    stepsPassed: countPassed(session.status?.labs),
    labs: Object.fromEntries(started.map((lab) => [lab.id, labProgress(session, lab)])),
    stuck: expired ? undefined : stuckOn(session, labs, now, stuckMinutes),
  };
}

/**
 * Training records: one per learner and step of every lab they started, in
 * the order of the sessions and the course. The time to pass counts from
 * the lab's first start; a solution applied before the pass is said so.
 */
export function exportRecords(sessions: readonly LabSession[], labs: readonly LabDefinition[]): ExportRecord[] {
  return sessions.flatMap((session) =>
    labs.flatMap((lab) => {
      const progress = session.status?.labs?.[lab.id];
      if (!progress) return [];
      return lab.steps.map((step): ExportRecord => {
        const p = progress.steps?.[step.id];
        const passedAt = p?.passedAt;
        const took = passedAt && progress.startedAt ? (Date.parse(passedAt) - Date.parse(progress.startedAt)) / 60_000 : undefined;
        return {
          session: session.metadata.name,
          learner: session.spec.learner,
          lab: lab.id,
          step: step.id,
          stepTitle: step.title,
          ...(progress.startedAt ? { startedAt: progress.startedAt } : {}),
          ...(passedAt ? { passedAt } : {}),
          ...(took !== undefined ? { minutesToPass: Math.max(0, Math.round(took * 10) / 10) } : {}),
          attempts: p?.attempts ?? 0,
          hintsShown: p?.hintsShown ?? 0,
          solutionUsed: progress.solvedAt !== undefined && (!passedAt || Date.parse(progress.solvedAt) <= Date.parse(passedAt)),
        };
      });
    }),
  );
}

const CSV_COLUMNS = [
  'session',
  'learner',
  'lab',
  'step',
  'stepTitle',
  'startedAt',
  'passedAt',
  'minutesToPass',
  'attempts',
  'hintsShown',
  'solutionUsed',
] as const satisfies ReadonlyArray<keyof ExportRecord>;

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line
 * break. A learner's name that starts like a formula (`=`, `+`, `-`, `@`, a
 * tab or a carriage return) is prefixed with an apostrophe, so a spreadsheet
 * shows it as text instead of running it.
 */
export function csvField(value: string | number | boolean | undefined): string {
  if (value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function recordsCsv(records: readonly ExportRecord[]): string {
  const lines = [CSV_COLUMNS.join(','), ...records.map((r) => CSV_COLUMNS.map((c) => csvField(r[c])).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}
