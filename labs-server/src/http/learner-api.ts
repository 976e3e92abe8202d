/**
 * The learner's API: their session, the labs with their progress, and the
 * lab actions (start, reset, solve, check a step). Every route but joining
 * needs the session cookie; every body and parameter is validated; a lab is
 * only ever found by its id in the catalog.
 *
 * Only `POST /api/session` makes a session, in both modes: a GET never
 * changes anything (a link, an image or a script on another site could send
 * one with no Origin to check). The app lets that POST through only from the
 * server's own pages (app.ts), and the client limits (client-limits.ts)
 * decide whether this address and the workshop have room for one more.
 */
import { type Response, Router } from 'express';
import { type Answer, ROUTES, type SessionView } from '../../../contract/api.ts';
import type { LabDefinition } from '../../../contract/catalog.ts';
import type { LabSession } from '../../../contract/session.ts';
import { normaliseAccessCode } from '../access-code.ts';
import { readConfig, type ServerConfig, sharedAddresses } from '../config.ts';
import { KindNotFound } from '../labs/errors.ts';
import type { LabService } from '../labs/service.ts';
import type { Metrics } from '../metrics.ts';
import { labProgress } from '../progress.ts';
import type { SessionStore } from '../sessions/store.ts';
import { type SavedFiles, TooManyFiles } from '../terminal/lab-files.ts';
import { clearSessionCookie, currentSession, requireSession, sameSecret, sessionCookie, sessionToken } from './auth.ts';
import { ClientLimits, markBadCode } from './client-limits.ts';
import { HttpError } from './errors.ts';

export interface LearnerApiDeps {
  mode: 'single' | 'workshop';
  store: SessionStore;
  labs: LabService;
  metrics: Metrics;
  ttlMs: number;
  secureCookies: boolean;
  accessCode: () => string;
  /** Where the editor's files are kept for the lab's terminals (none: saving is refused). */
  files?: SavedFiles;
  /** What one client may take; default: from `config`. */
  limits?: ClientLimits;
  /** The settings the limits come from; default: read from the environment. */
  config?: ServerConfig;
}

/** The client limits from the settings (SESSIONS_PER_ADDRESS, MAX_SESSIONS, SHARED_ADDRESSES). */
export function limitsFromConfig(config: ServerConfig, accessCode: () => string): ClientLimits {
  return new ClientLimits({
    sessionsPerAddress: config.SESSIONS_PER_ADDRESS,
    maxSessions: config.MAX_SESSIONS,
    shared: sharedAddresses(config),
    hashKey: () => normaliseAccessCode(accessCode()),
  });
}

export function sessionView(session: LabSession, mode: 'single' | 'workshop'): SessionView {
  return {
    id: session.metadata.name,
    learner: session.spec.learner,
    expiresAt: session.spec.expiresAt,
    currentLab: session.status?.currentLab,
    stepsPassed: session.status?.stepsPassed ?? 0,
    mode,
  };
}

export function learnerApi(deps: LearnerApiDeps): Router {
  const router = Router();
  const auth = requireSession(deps.store, deps.secureCookies);
  const limits = deps.limits ?? limitsFromConfig(deps.config ?? readConfig(), () => deps.accessCode());
  const token = (req: { headers: { cookie?: string | undefined } }) => sessionToken(req.headers.cookie, deps.secureCookies);

  const labView = (session: LabSession, lab: LabDefinition): Answer<'lab', 200> => ({
    id: lab.id,
    title: lab.title,
    topic: lab.topic,
    scope: lab.scope,
    needsContainers: lab.needsContainers,
    available: deps.labs.unavailable(lab) === undefined,
    unavailableReason: deps.labs.unavailable(lab),
    namespaces: session.status?.labs?.[lab.id]?.namespaces,
    progress: labProgress(session, lab),
  });

  const setCookie = (res: Response, value: string) => {
    res.setHeader('Set-Cookie', sessionCookie(value, Math.floor(deps.ttlMs / 1000), deps.secureCookies));
  };

  /** The current session. It never makes one: single-user mode's page then POSTs, a workshop's asks for the code. */
  router.get('/session', async (req, res) => {
    const session = await deps.store.byToken(token(req));
    if (session) {
      res.json(sessionView(session, deps.mode));
      return;
    }
    if (deps.mode === 'workshop') {
      throw new HttpError(401, 'join_required', 'Join the workshop with your name and the access code on the screen.');
    }
    throw new HttpError(401, 'session_required', 'This browser has no session yet.', 'The page makes one with POST /api/session.');
  });

  /** Joins: makes a session and sets its cookie (workshop mode needs the access code). */
  router.post('/session', limits.joins, ...(deps.mode === 'workshop' ? [limits.codes] : []), async (req, res) => {
    const body = ROUTES.join.body.parse(req.body ?? {});
    const existing = await deps.store.byToken(token(req));
    if (existing) {
      res.json(sessionView(existing, deps.mode));
      return;
    }
    if (deps.mode === 'workshop') {
      if (!body.accessCode) {
        markBadCode(res);
        throw new HttpError(403, 'access_code_required', 'Joining this workshop needs its access code.');
      }
      if (!sameSecret(normaliseAccessCode(body.accessCode), normaliseAccessCode(deps.accessCode()))) {
        markBadCode(res);
        throw new HttpError(403, 'bad_access_code', 'That access code is not right.', 'Ask the instructor for the code of this event.');
      }
    }
    const create = (labels: Record<string, string>) => deps.store.create(body.name, labels);
    // One learner alone on a laptop has the server to themselves; a workshop shares it.
    const created = deps.mode === 'workshop' ? await limits.admit(req, deps.store, create) : await create({});
    deps.metrics.sessionsCreated.inc();
    setCookie(res, created.token);
    res.status(201).json(sessionView(created.session, deps.mode));
  });

  router.delete('/session', auth, async (_req, res) => {
    await deps.labs.end(currentSession(res).metadata.name);
    res.setHeader('Set-Cookie', clearSessionCookie(deps.secureCookies));
    res.status(204).end();
  });

  router.get('/labs', auth, (_req, res) => {
    const session = currentSession(res);
    const body: Answer<'labs', 200> = { labs: deps.labs.list().map((lab) => labView(session, lab)) };
    res.json(body);
  });

  router.get('/labs/:lab', auth, (req, res) => {
    const { lab } = ROUTES.lab.params.parse(req.params);
    res.json(labView(currentSession(res), deps.labs.lab(lab)));
  });

  router.post('/labs/:lab/start', auth, async (req, res) => {
    const { lab } = ROUTES.start.params.parse(req.params);
    const result = await deps.labs.start(currentSession(res), lab);
    const body: Answer<'start', 200> = { lab, namespaces: result.namespaces, created: result.created };
    res.status(result.created ? 201 : 200).json(body);
  });

  router.post('/labs/:lab/reset', auth, async (req, res) => {
    const { lab } = ROUTES.reset.params.parse(req.params);
    const body: Answer<'reset', 200> = { lab, namespaces: await deps.labs.reset(currentSession(res), lab) };
    res.json(body);
  });

  router.post('/labs/:lab/solve', auth, async (req, res) => {
    const { lab } = ROUTES.solve.params.parse(req.params);
    await deps.labs.solve(currentSession(res), lab);
    const body: Answer<'solve', 200> = { lab, solved: true as const };
    res.json(body);
  });

  router.post('/labs/:lab/steps/:step/check', auth, async (req, res) => {
    const { lab, step } = ROUTES.check.params.parse(req.params);
    const body: Answer<'check', 200> = await deps.labs.check(currentSession(res), lab, step);
    res.json(body);
  });

  router.get('/schema', auth, async (req, res) => {
    const { apiVersion, kind } = ROUTES.schema.query.parse(req.query);
    const found = await deps.labs.schema(apiVersion, kind);
    if (!found) throw new KindNotFound(apiVersion, kind);
    // The same for every learner of this cluster; kept briefly by the browser, as the cluster's document may change.
    res.setHeader('Cache-Control', 'private, max-age=60');
    res.setHeader('Server-Timing', `schema;desc="${found.cached ? 'cached' : 'converted'}"`);
    // The text made once when the kind was converted (a Deployment's is 167 KB): a cached answer is not serialised again.
    res.type('json').send(found.text);
  });

  router.post('/labs/:lab/files/:name', auth, async (req, res) => {
    const { lab, name } = ROUTES.saveFile.params.parse(req.params);
    const { content } = ROUTES.saveFile.body.parse(req.body ?? {});
    deps.labs.lab(lab);
    const files = deps.files;
    if (!files) throw new HttpError(409, 'no_files', 'This server keeps no files for the terminals.');
    const session = currentSession(res).metadata.name;
    try {
      await files.write(session, lab, name, content);
    } catch (error) {
      if (error instanceof TooManyFiles) {
        throw new HttpError(409, 'too_many_files', error.message, 'Save over one of them instead.');
      }
      throw error;
    }
    const body: Answer<'saveFile', 200> = { lab, name, bytes: Buffer.byteLength(content), path: `~/files/${name}` };
    res.json(body);
  });

  router.post('/labs/:lab/validate', auth, async (req, res) => {
    const { lab } = ROUTES.validate.params.parse(req.params);
    const { yaml } = ROUTES.validate.body.parse(req.body ?? {});
    const body: Answer<'validate', 200> = { lab, results: await deps.labs.validate(currentSession(res), lab, yaml) };
    res.json(body);
  });

  router.post('/labs/:lab/steps/:step/hints', auth, async (req, res) => {
    const { lab, step } = ROUTES.hints.params.parse(req.params);
    const { shown } = ROUTES.hints.body.parse(req.body ?? {});
    const hintsShown = await deps.labs.recordHints(currentSession(res), lab, step, shown);
    const body: Answer<'hints', 200> = { lab, step, hintsShown };
    res.json(body);
  });

  /** The learner's own kubeconfig for a started lab, for their own kubectl. */
  router.get('/labs/:lab/kubeconfig', auth, async (req, res) => {
    const { lab } = ROUTES.kubeconfig.params.parse(req.params);
    res.type('application/yaml').send(await deps.labs.kubeconfig(currentSession(res), lab));
  });

  return router;
}
