/**
 * Housekeeping, once a minute. A session whose time is up loses its shells
 * and sandboxes (and what its cluster-scope labs made outside them), and so
 * does one idle for longer than the idle limit; both keep their LabSession
 * and every step's progress, so the instructor still sees them (an expired
 * one's cookie opens nothing) until the instructor ends the session or the
 * event. Sandbox builds a server left half done when it died are finished.
 * Every step is idempotent, so several replicas may run it at once.
 */
import type { Logger } from 'pino';
import type { LabSession } from '../../contract/session.ts';
import type { LabService } from './labs/service.ts';
import type { Metrics } from './metrics.ts';
import type { SessionStore } from './sessions/store.ts';

export interface ReaperDeps {
  store: SessionStore;
  labs: LabService;
  metrics: Metrics;
  logger: Logger;
  idleMs: number;
  now?: () => Date;
}

export interface SweepResult {
  /** Sessions whose time ran out: sandboxes and shells removed, progress kept. */
  expired: string[];
  /** Sessions idle too long: sandboxes and shells removed, progress kept. */
  idled: string[];
  /** Labs (`session/lab`) whose interrupted build was finished. */
  repaired: string[];
}

function idleSince(session: LabSession): number {
  return Date.parse(session.status?.lastActivityAt ?? session.metadata.creationTimestamp);
}

/** Whether a session still holds a sandbox (ready, or being built). */
function holdsSandbox(session: LabSession): boolean {
  return Object.values(session.status?.labs ?? {}).some((lab) => lab.sandbox !== undefined && lab.sandbox !== 'removed');
}

export async function sweep(deps: ReaperDeps): Promise<SweepResult> {
  const now = (deps.now ?? (() => new Date()))().getTime();
  const sessions = await deps.store.list();
  deps.metrics.sessionsActive.set(sessions.filter((s) => !deps.store.expired(s)).length);
  const result: SweepResult = { expired: [], idled: [], repaired: [] };
  const live: LabSession[] = [];
  for (const session of sessions) {
    const name = session.metadata.name;
    if (deps.store.expired(session)) {
      if (holdsSandbox(session)) {
        await deps.labs.releaseSandboxes(name);
        result.expired.push(name);
      }
      continue;
    }
    if (holdsSandbox(session) && now - idleSince(session) > deps.idleMs) {
      await deps.labs.releaseSandboxes(name);
      result.idled.push(name);
      continue;
    }
    live.push(session);
  }
  const { repaired, failed } = await deps.labs.repairInterrupted(live);
  result.repaired = repaired;
  for (const { lab, error } of failed)
    deps.logger.warn({ err: error, lab }, 'could not finish an interrupted sandbox build; retrying next time');
  if (result.expired.length || result.idled.length || result.repaired.length) deps.logger.info(result, 'cleaned up sessions');
  return result;
}

/** Runs `sweep` every `intervalMs` until stopped; a failed sweep is logged and retried next time. */
export function startReaper(deps: ReaperDeps, intervalMs = 60_000): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweep(deps)
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'session clean-up failed; retrying next minute'))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
