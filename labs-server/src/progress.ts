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

import type { LabProgressView, LearnerView, StuckView } from '../../contract/api.ts';
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
