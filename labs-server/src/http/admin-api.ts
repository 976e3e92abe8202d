/**
 * The instructor's API, behind the admin token: live progress of every
 * learner on every lab (and who is stuck), resetting one learner's lab or a
 * lab for everyone, extending and ending sessions, and ending the event.
 * Expired sessions stay on the grid with their progress until the
 * instructor ends them. Each call reads the LabSession objects afresh, so
 * every replica answers alike.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { LabService } from '../labs/service.ts';
import { learnerView } from '../progress.ts';
import type { SessionStore } from '../sessions/store.ts';
import { requireAdmin } from './auth.ts';
import { HttpError, notFound } from './errors.ts';
import { IdSchema } from './learner-api.ts';

const SessionParams = z.object({ session: z.string().regex(/^s-[0-9a-f]{12}$/, 'is not a session id') });
const SessionLabParams = SessionParams.extend({ lab: IdSchema });
const LabParams = z.object({ lab: IdSchema });
const ProgressQuery = z.object({
  /** A learner is stuck after this many minutes on one step. Default 10. */
  stuckMinutes: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(10),
});
const ExtendSchema = z.object({
  /** Minutes from now. Default 60. */
  minutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .default(60),
});

const EndEventQuery = z.object({
  /** `expired`: end only the sessions whose time is up; `all`: end every session. Required, so nobody ends an event by accident. */
  which: z.enum(['all', 'expired']),
});

export interface AdminApiDeps {
  store: SessionStore;
  labs: LabService;
  adminToken: () => string;
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
    const { stuckMinutes } = ProgressQuery.parse(req.query);
    const labs = deps.labs.list();
    const at = now();
    const sessions = await deps.store.list();
    sessions.sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp));
    res.json({
      at: at.toISOString(),
      stuckMinutes,
      labs: labs.map((lab) => ({ id: lab.id, title: lab.title, topic: lab.topic, steps: lab.steps })),
      learners: sessions.map((s) => learnerView(s, labs, at, stuckMinutes)),
    });
  });

  router.post('/sessions/:session/labs/:lab/reset', async (req, res) => {
    const params = SessionLabParams.parse(req.params);
    const found = await session(params.session);
    if (deps.store.expired(found)) {
      throw new HttpError(
        409,
        'session_expired',
        `The session "${params.session}" has expired.`,
        'Extend it first to give it a sandbox again.',
      );
    }
    const namespaces = await deps.labs.reset(found, params.lab);
    res.json({ session: params.session, lab: params.lab, namespaces });
  });

  router.post('/labs/:lab/reset', async (req, res) => {
    const { lab } = LabParams.parse(req.params);
    res.json({ lab, reset: await deps.labs.resetEveryone(lab) });
  });

  router.post('/sessions/:session/extend', async (req, res) => {
    const params = SessionParams.parse(req.params);
    const { minutes } = ExtendSchema.parse(req.body ?? {});
    await session(params.session);
    const extended = await deps.store.extend(params.session, minutes * 60_000);
    res.json({ session: params.session, expiresAt: extended.spec.expiresAt });
  });

  /** The end of the event: every session (or every expired one) goes, with its sandboxes and progress. */
  router.delete('/sessions', async (req, res) => {
    const { which } = EndEventQuery.parse(req.query);
    const ending = (await deps.store.list()).filter((s) => which === 'all' || deps.store.expired(s));
    let ended = 0;
    // A few at a time: each one deletes namespaces.
    for (let i = 0; i < ending.length; i += 8) {
      const done = await Promise.all(ending.slice(i, i + 8).map((s) => deps.labs.end(s.metadata.name)));
      ended += done.filter(Boolean).length;
    }
    res.json({ ended });
  });

  router.delete('/sessions/:session', async (req, res) => {
    const params = SessionParams.parse(req.params);
    if (!(await deps.labs.end(params.session))) throw notFound(`The session "${params.session}"`);
    res.status(204).end();
  });

  return router;
}
