/**
 * Training records sent to a learning record store (xAPI 1.0.3), for
 * companies and schools that keep them elsewhere, with no database of our
 * own: the cluster stays the record. Each passed step becomes a `passed`
 * statement, each lab whose steps are all passed a `completed` one.
 *
 * What is still to be sent is worked out from the LabSession itself: its
 * passed steps and finished labs, less the keys in `status.xapi` (sent, or
 * refused for good). A statement's id is derived from the session's uid and
 * its key (a v5 UUID), and is sent with PUT, so sending one twice (a retry
 * after a lost answer, a restart between the send and the record, two
 * replicas at once) is never counted twice by the store. While the store
 * is down or refuses our credentials, rounds back off (2 s doubling to
 * 5 minutes) and nothing is lost: the cursor is in the cluster, so a
 * restarted server picks up where it was.
 */
import type { Logger } from 'pino';
import { v5 as uuidv5 } from 'uuid';
import type { LabDefinition } from '../../contract/catalog.ts';
import type { LabSession } from '../../contract/session.ts';
import { SessionNotFound } from './labs/errors.ts';
import type { SessionStore } from './sessions/store.ts';

export const XAPI_VERSION = '1.0.3';
/** The namespace of statement ids: every id is a v5 UUID of `<session uid>/<key>` in it. */
const ID_NAMESPACE = uuidv5('https://containerdaylabs.dev/xapi/statements', uuidv5.URL);
/** Extensions are named by IRIs of the project's own, the same on every deployment. */
const EXTENSION = 'https://containerdaylabs.dev/xapi/extensions';
const VERBS = {
  passed: { id: 'http://adlnet.gov/expapi/verbs/passed', display: { 'en-US': 'passed' } },
  completed: { id: 'http://adlnet.gov/expapi/verbs/completed', display: { 'en-US': 'completed' } },
} as const;
const ACTIVITY_TYPES = {
  lab: 'http://adlnet.gov/expapi/activities/lesson',
  step: 'http://adlnet.gov/expapi/activities/objective',
} as const;

interface Activity {
  objectType: 'Activity';
  id: string;
  definition?: { name: Record<string, string>; type: string };
}

export interface Statement {
  id: string;
  actor: { objectType: 'Agent'; name: string; account: { homePage: string; name: string } };
  verb: (typeof VERBS)[keyof typeof VERBS];
  object: Activity;
  result: { success: true; completion: true; duration?: string; extensions: Record<string, number | boolean> };
  context: { platform: string; contextActivities?: { parent: Activity[] } };
  timestamp: string;
}

export interface PendingStatement {
  /** `lab/step` for a passed step, `lab` for a finished lab: what `status.xapi` records. */
  key: string;
  statement: Statement;
}

/** An ISO 8601 duration (`PT12M30S`) of the milliseconds between two times, or undefined without both. */
export function isoDuration(from: string | undefined, to: string | undefined): string | undefined {
  if (!from || !to) return undefined;
  const seconds = Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));
  if (!Number.isFinite(seconds)) return undefined;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `PT${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s || (!h && !m) ? `${s}S` : ''}`;
}

/**
 * The statements a session still owes the store, oldest first. `platform` is
 * the site's origin: the home of the learners' accounts and of the
 * activities' ids (`<platform>/labs/<lab>`, `…/steps/<step>`).
 */
export function pendingStatements(session: LabSession, labs: readonly LabDefinition[], platform: string): PendingStatement[] {
  const done = new Set([...(session.status?.xapi?.sent ?? []), ...(session.status?.xapi?.refused ?? [])]);
  const actor: Statement['actor'] = {
    objectType: 'Agent',
    name: session.spec.learner,
    account: { homePage: platform, name: session.metadata.name },
  };
  const statement = (key: string, rest: Omit<Statement, 'id' | 'actor'>): PendingStatement => ({
    key,
    statement: { id: uuidv5(`${session.metadata.uid}/${key}`, ID_NAMESPACE), actor, ...rest },
  });
  const pending: PendingStatement[] = [];
  for (const lab of labs) {
    const progress = session.status?.labs?.[lab.id];
    if (!progress) continue;
    const labActivity: Activity = {
      objectType: 'Activity',
      id: `${platform}/labs/${lab.id}`,
      definition: { name: { 'en-US': lab.title }, type: ACTIVITY_TYPES.lab },
    };
    const solutionBefore = (at: string) => progress.solvedAt !== undefined && Date.parse(progress.solvedAt) <= Date.parse(at);
    for (const step of lab.steps) {
      const p = progress.steps?.[step.id];
      const key = `${lab.id}/${step.id}`;
      if (!p?.passedAt || done.has(key)) continue;
      const duration = isoDuration(progress.startedAt, p.passedAt);
      pending.push(
        statement(key, {
          verb: VERBS.passed,
          object: {
            objectType: 'Activity',
            id: `${labActivity.id}/steps/${step.id}`,
            definition: { name: { 'en-US': step.title }, type: ACTIVITY_TYPES.step },
          },
          result: {
            success: true,
            completion: true,
            ...(duration ? { duration } : {}),
            extensions: {
              [`${EXTENSION}/attempts`]: p.attempts ?? 0,
              [`${EXTENSION}/hints-shown`]: p.hintsShown ?? 0,
              [`${EXTENSION}/solution-used`]: solutionBefore(p.passedAt),
            },
          },
          context: { platform: 'Container Day Labs', contextActivities: { parent: [labActivity] } },
          timestamp: p.passedAt,
        }),
      );
    }
    const passed = lab.steps.map((s) => progress.steps?.[s.id]?.passedAt);
    if (done.has(lab.id) || passed.some((at) => !at)) continue;
    const finishedAt = (passed as string[]).reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b));
    const duration = isoDuration(progress.startedAt, finishedAt);
    pending.push(
      statement(lab.id, {
        verb: VERBS.completed,
        object: labActivity,
        result: {
          success: true,
          completion: true,
          ...(duration ? { duration } : {}),
          extensions: { [`${EXTENSION}/solution-used`]: solutionBefore(finishedAt) },
        },
        context: { platform: 'Container Day Labs' },
        timestamp: finishedAt,
      }),
    );
  }
  return pending.sort((a, b) => Date.parse(a.statement.timestamp) - Date.parse(b.statement.timestamp));
}

export interface XapiTarget {
  /** The store's xAPI endpoint; `statements` is resolved against it. */
  endpoint: string;
  username?: string;
  password?: string;
}

/** What the store said to one statement. */
type Answer = 'stored' | 'refused' | 'unavailable';

export interface XapiRound {
  sent: number;
  refused: number;
  /** Why the round stopped early (the store is down or refuses us), if it did. */
  stopped?: string;
}

export interface XapiDeliveryDeps {
  store: SessionStore;
  labs: readonly LabDefinition[];
  target: XapiTarget;
  /** The site's origin (the first public origin). */
  platform: string;
  logger: Logger;
  /** Between rounds while all is well. */
  intervalMs?: number;
  /** The first and the longest wait after a round that stopped. */
  backoffMs?: { first: number; max: number };
  /** Each request's bound. */
  requestTimeoutMs?: number;
}

export class XapiDelivery {
  private readonly deps: XapiDeliveryDeps;
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failures = 0;

  constructor(deps: XapiDeliveryDeps) {
    this.deps = deps;
    const base = deps.target.endpoint.endsWith('/') ? deps.target.endpoint : `${deps.target.endpoint}/`;
    this.url = new URL('statements', base);
    this.headers = {
      'Content-Type': 'application/json',
      'X-Experience-API-Version': XAPI_VERSION,
      ...(deps.target.username !== undefined
        ? { Authorization: `Basic ${Buffer.from(`${deps.target.username}:${deps.target.password ?? ''}`).toString('base64')}` }
        : {}),
    };
  }

  /** Sends one statement with PUT, so that the store keeps it once under its id. */
  private async send(statement: Statement): Promise<{ answer: Answer; detail: string }> {
    const url = new URL(this.url);
    url.searchParams.set('statementId', statement.id);
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'PUT',
        headers: this.headers,
        body: JSON.stringify(statement),
        signal: AbortSignal.timeout(this.deps.requestTimeoutMs ?? 10_000),
      });
    } catch (error) {
      return {
        answer: 'unavailable',
        detail: error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error),
      };
    }
    const detail = `${response.status} ${(await response.text().catch(() => '')).slice(0, 200)}`.trim();
    // 409: a statement with this id is there already; ours are the same each time.
    if (response.ok || response.status === 409) return { answer: 'stored', detail };
    // The store is down, busy, or does not take our credentials: ask again later.
    if (response.status >= 500 || [401, 403, 408, 429].includes(response.status)) return { answer: 'unavailable', detail };
    return { answer: 'refused', detail };
  }

  /** Records in the session what the store took or refused; a session ended meanwhile needs nothing. */
  private async record(session: string, sent: string[], refused: string[]): Promise<void> {
    const union = (a: string[] | undefined, b: string[]) => [...new Set([...(a ?? []), ...b])];
    await this.deps.store
      .patchStatus(session, (current) => ({
        xapi: {
          sent: union(current.status?.xapi?.sent, sent),
          ...(refused.length || current.status?.xapi?.refused ? { refused: union(current.status?.xapi?.refused, refused) } : {}),
        },
      }))
      .catch((error: unknown) => {
        if (!(error instanceof SessionNotFound)) throw error;
      });
  }

  /** One pass over every session: sends what each owes, oldest first, until the store stops answering. */
  async round(): Promise<XapiRound> {
    const result: XapiRound = { sent: 0, refused: 0 };
    for (const session of await this.deps.store.list()) {
      const sent: string[] = [];
      const refused: string[] = [];
      for (const { key, statement } of pendingStatements(session, this.deps.labs, this.deps.platform)) {
        const { answer, detail } = await this.send(statement);
        if (answer === 'stored') sent.push(key);
        else if (answer === 'refused') {
          refused.push(key);
          this.deps.logger.error(
            { session: session.metadata.name, key, answer: detail },
            'the learning record store refused a statement; it is not sent again',
          );
        } else {
          result.stopped = detail;
          break;
        }
      }
      if (sent.length || refused.length) await this.record(session.metadata.name, sent, refused);
      result.sent += sent.length;
      result.refused += refused.length;
      if (result.stopped) break;
    }
    return result;
  }

  /** Rounds until stopped: every `intervalMs`, sooner after `wake()`, backing off while the store is down. */
  start(): () => Promise<void> {
    this.schedule(0);
    return async () => {
      this.stopped = true;
      clearTimeout(this.timer);
      await this.running;
    };
  }

  /** Asks for a round soon (a step was just passed), unless one is waiting out a failure. */
  wake(): void {
    if (this.failures === 0 && !this.running) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
      });
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const { first, max } = this.deps.backoffMs ?? { first: 2_000, max: 300_000 };
    let stopped: string | undefined;
    try {
      const result = await this.round();
      stopped = result.stopped;
      if (result.sent || result.refused)
        this.deps.logger.info({ sent: result.sent, refused: result.refused }, 'sent training records to the learning record store');
    } catch (error) {
      stopped = error instanceof Error ? error.message : String(error);
    }
    if (stopped) {
      this.failures += 1;
      const wait = Math.min(max, first * 2 ** (this.failures - 1));
      // Said once when it starts failing, then quietly at debug level until it recovers.
      (this.failures === 1 ? this.deps.logger.warn : this.deps.logger.debug).call(
        this.deps.logger,
        { answer: stopped, retryInMs: wait },
        'the learning record store is unavailable; the records wait in the cluster',
      );
      this.schedule(wait);
      return;
    }
    if (this.failures > 0) this.deps.logger.info('the learning record store answers again');
    this.failures = 0;
    this.schedule(this.deps.intervalMs ?? 30_000);
  }
}
