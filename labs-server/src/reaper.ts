/**
 * Housekeeping, once a minute: expired sessions are ended (their namespaces
 * and identity deleted, then the LabSession), and the sandboxes of sessions
 * idle for longer than the idle limit are removed while their progress is
 * kept (starting the lab again provisions a fresh sandbox). Every step is
 * idempotent, so several replicas may run it at once.
 */
import type { Logger } from 'pino';
import type { LabService } from './labs/service.ts';
import type { Metrics } from './metrics.ts';
import type { LabSession, SessionStore } from './sessions/store.ts';

export interface ReaperDeps {
  store: SessionStore;
  labs: LabService;
  metrics: Metrics;
  logger: Logger;
  idleMs: number;
  now?: () => Date;
}

export interface SweepResult {
  ended: string[];
  idled: string[];
}

function idleSince(session: LabSession): number {
  return Date.parse(session.status?.lastActivityAt ?? session.metadata.creationTimestamp);
}

export async function sweep(deps: ReaperDeps): Promise<SweepResult> {
  const now = (deps.now ?? (() => new Date()))().getTime();
  const sessions = await deps.store.list();
  deps.metrics.sessionsActive.set(sessions.filter((s) => !deps.store.expired(s)).length);
  const result: SweepResult = { ended: [], idled: [] };
  for (const session of sessions) {
    const name = session.metadata.name;
    if (deps.store.expired(session)) {
      await deps.labs.end(name);
      result.ended.push(name);
      continue;
    }
    const ready = Object.entries(session.status?.labs ?? {}).filter(([, lab]) => lab.sandbox === 'ready');
    if (ready.length > 0 && now - idleSince(session) > deps.idleMs) {
      await deps.labs.removeSandboxes(name);
      await deps.store.patchStatus(name, () => ({
        labs: Object.fromEntries(ready.map(([id]) => [id, { sandbox: 'removed' as const }])),
      }));
      result.idled.push(name);
    }
  }
  if (result.ended.length || result.idled.length) deps.logger.info(result, 'cleaned up sessions');
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
