/**
 * The instructor's API, behind the admin token: live progress of every
 * learner on every lab (and who is stuck), resetting one learner's lab or a
 * lab for everyone, extending and ending sessions, ending the event, and
 * sizing the warm pool of shell pods (where shells run in pods).
 * Expired sessions stay on the grid with their progress until the
 * instructor ends them. Each call reads the LabSession objects afresh, so
 * every replica answers alike.
 */
import { Router } from 'express';
import { type Answer, ROUTES } from '../../../contract/api.ts';
import type { LabService } from '../labs/service.ts';
import { exportRecords, learnerView, recordsCsv } from '../progress.ts';
import type { SessionStore } from '../sessions/store.ts';
import { requireAdmin } from './auth.ts';
import { HttpError, notFound } from './errors.ts';

/** The warm pool of shell pods, where shells run in pods. */
export interface PoolControl {
  pool(): Promise<{ size: number; ready: number; starting: number }>;
  setSize(size: number): Promise<void>;
}

export interface AdminApiDeps {
  store: SessionStore;
  labs: LabService;
  adminToken: () => string;
  /** Absent where shells do not run in pods. */
  pool?: PoolControl;
  now?: () => Date;
}

export function adminApi(deps: AdminApiDeps): Router {
  const router = Router();
  const now = deps.now ?? (() => new Date());
  router.use(requireAdmin(deps.adminToken));

  const session = async (name: string) => {
    const found = await deps.store.get(name);
    if (!found) throw notFound(`The session "${name}"`);
    return found;
  };

  router.get('/progress', async (req, res) => {
    const { stuckMinutes } = ROUTES.progress.query.parse(req.query);
    const labs = deps.labs.list();
    const at = now();
    const sessions = await deps.store.list();
    sessions.sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp));
    const body: Answer<'progress', 200> = {
      at: at.toISOString(),
      stuckMinutes,
      labs: labs.map((lab) => ({
        id: lab.id,
        title: lab.title,
        topic: lab.topic,
        steps: lab.steps.map(({ id, title }) => ({ id, title })),
      })),
      learners: sessions.map((s) => learnerView(s, labs, at, stuckMinutes)),
    };
    res.json(body);
  });

  const records = async () => {
    const sessions = await deps.store.list();
    sessions.sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp));
    return exportRecords(sessions, deps.labs.list());
  };

  router.get('/progress/records', async (_req, res) => {
    const body: Answer<'exportProgress', 200> = { at: now().toISOString(), records: await records() };
    res.json(body);
  });

  router.get('/progress/records.csv', async (_req, res) => {
    const day = now().toISOString().slice(0, 10);
    res.type('text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="progress-${day}.csv"`);
    res.send(recordsCsv(await records()));
  });

  router.post('/sessions/:session/labs/:lab/reset', async (req, res) => {
    const params = ROUTES.resetLearner.params.parse(req.params);
    const found = await session(params.session);
    if (deps.store.expired(found)) {
      throw new HttpError(
        409,
        'session_expired',
        `The session "${params.session}" has expired.`,
        'Extend it first to give it a sandbox again.',
      );
    }
    const body: Answer<'resetLearner', 200> = {
      session: params.session,
      lab: params.lab,
      namespaces: await deps.labs.reset(found, params.lab),
    };
    res.json(body);
  });

  router.post('/labs/:lab/reset', async (req, res) => {
    const { lab } = ROUTES.resetEveryone.params.parse(req.params);
    const body: Answer<'resetEveryone', 200> = { lab, reset: await deps.labs.resetEveryone(lab) };
    res.json(body);
  });

  router.post('/sessions/:session/extend', async (req, res) => {
    const params = ROUTES.extend.params.parse(req.params);
    const { minutes } = ROUTES.extend.body.parse(req.body ?? {});
    await session(params.session);
    const extended = await deps.store.extend(params.session, minutes * 60_000);
    const body: Answer<'extend', 200> = { session: params.session, expiresAt: extended.spec.expiresAt };
    res.json(body);
  });

  /** The end of the event: every session (or every expired one) goes, with its sandboxes and progress. */
  router.delete('/sessions', async (req, res) => {
    const { which } = ROUTES.endEvent.query.parse(req.query);
    const ending = (await deps.store.list()).filter((s) => which === 'all' || deps.store.expired(s));
    let ended = 0;
    // A few at a time: each one deletes namespaces.
    for (let i = 0; i < ending.length; i += 8) {
      const done = await Promise.all(ending.slice(i, i + 8).map((s) => deps.labs.end(s.metadata.name)));
      ended += done.filter(Boolean).length;
    }
    const body: Answer<'endEvent', 200> = { ended };
    res.json(body);
  });

  const pool = (): PoolControl => {
    if (!deps.pool) {
      throw new HttpError(
        409,
        'not_pods',
        'Shells do not run in pods on this server, so there is no pool.',
        'Start it with TERMINAL_SHELLS=pods.',
      );
    }
    return deps.pool;
  };

  router.get('/pool', async (_req, res) => {
    const body: Answer<'pool', 200> = await pool().pool();
    res.json(body);
  });

  router.put('/pool', async (req, res) => {
    const { size } = ROUTES.setPool.body.parse(req.body ?? {});
    const control = pool();
    await control.setSize(size);
    const body: Answer<'setPool', 200> = await control.pool();
    res.json(body);
  });

  router.delete('/sessions/:session', async (req, res) => {
    const params = ROUTES.endSession.params.parse(req.params);
    if (!(await deps.labs.end(params.session))) throw notFound(`The session "${params.session}"`);
    res.status(204).end();
  });

  return router;
}
