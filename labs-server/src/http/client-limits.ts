/**
 * What one client may take of a workshop, so that a single attendee with the
 * access code and a script cannot fill the server before the rest of the
 * room arrives, nor guess the code at thousands of tries a second.
 *
 * A client is its address: the socket's, or the one the trusted proxies
 * report (TRUST_PROXY); IPv6 addresses count by their /56, which is what one
 * home or one host is given. Three limits apply:
 *
 * - joining (`POST /api/session`) at most JOINS_PER_MINUTE times a minute;
 * - wrong or missing access codes at most CODE_ATTEMPTS per ten minutes,
 *   after which even the right code waits for the window to pass;
 * - live sessions (workshop mode) at most SESSIONS_PER_ADDRESS per address and
 *   MAX_SESSIONS in all. Sessions are counted in the cluster: each LabSession
 *   carries a label with a keyed hash of its client's address, so the count
 *   holds across restarts and replicas, and the address itself is never
 *   stored. The hash is keyed by the event's access code, so a new event
 *   (a new code) starts afresh.
 *
 * A room behind one NAT shares an address: the instructor lists it in
 * SHARED_ADDRESSES, and it is then not held to the per-address session
 * limit, and may join and mistype SHARED_FACTOR times as often. The two rate
 * limits are counted in this process (a replica counts its own).
 */
import { createHmac } from 'node:crypto';
import type { BlockList } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { Logger } from 'pino';
import { isStatus } from '../../../cluster/src/kube.ts';
import { GROUP } from '../../../contract/session.ts';
import type { SessionStore } from '../sessions/store.ts';
import { HttpError } from './errors.ts';

/** Joins a minute from one address. */
export const JOINS_PER_MINUTE = 10;
/** Wrong or missing access codes per ten minutes from one address. */
export const CODE_ATTEMPTS = 6;
/** How many times the rate limits a shared address (SHARED_ADDRESSES) gets. */
export const SHARED_FACTOR = 30;
/** The label on each LabSession with its client's keyed address hash. */
export const CLIENT_LABEL = `${GROUP}/client`;

export interface ClientLimitsOptions {
  /** Live sessions per address; 0 for no limit. */
  sessionsPerAddress: number;
  /** Live sessions in all. */
  maxSessions: number;
  /** Addresses a whole room shares. */
  shared: BlockList;
  /** The key of the address hash (the event's access code). */
  hashKey: () => string;
  logger?: Logger;
}

/** The client's address as Express sees it (TRUST_PROXY decides), IPv4-mapped IPv6 as plain IPv4. */
export function clientAddress(req: Request): string {
  const ip = req.ip ?? req.socket.remoteAddress ?? '';
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip;
}

/** What the limits count by: the address, or an IPv6 address's /56. */
export function clientKey(req: Request): string {
  const address = clientAddress(req);
  return address ? ipKeyGenerator(address, 56) : 'unknown';
}

function isShared(list: BlockList, address: string): boolean {
  if (!address) return false;
  return list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
}

/** Marks an answer as a wrong access code, which the code limiter counts. */
export function markBadCode(res: Response): void {
  res.locals.badAccessCode = true;
}

/**
 * Lists sessions, waiting out the API server's 429 "storage is (re)initializing"
 * that a LIST meets for a few seconds after the LabSession type is new.
 */
async function listSoon(store: SessionStore, selector?: string): ReturnType<SessionStore['list']> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await store.list(selector);
    } catch (error) {
      if (!isStatus(error, 429) || attempt >= 20) throw error;
      await sleep(250);
    }
  }
}

export class ClientLimits {
  private readonly options: ClientLimitsOptions;
  /** Admissions in progress per address key, so a burst from one client is counted one by one. */
  private readonly queues = new Map<string, Promise<unknown>>();
  readonly joins: RequestHandler;
  readonly codes: RequestHandler;

  constructor(options: ClientLimitsOptions) {
    this.options = options;
    const shared = (req: Request) => isShared(options.shared, clientAddress(req));
    const common = {
      keyGenerator: (req: Request) => clientKey(req),
      standardHeaders: 'draft-8' as const,
      legacyHeaders: false,
      // A client that sends X-Forwarded-For to a server that trusts no proxy is expected, not a misconfiguration.
      validate: { xForwardedForHeader: false },
    };
    this.joins = rateLimit({
      ...common,
      identifier: 'joins',
      windowMs: 60_000,
      limit: (req: Request) => (shared(req) ? JOINS_PER_MINUTE * SHARED_FACTOR : JOINS_PER_MINUTE),
      handler: (_req, _res, next) => {
        next(new HttpError(429, 'too_many_joins', 'Too many attempts to join from this address; wait a minute.', 'Try again in a minute.'));
      },
    });
    this.codes = rateLimit({
      ...common,
      identifier: 'access-codes',
      windowMs: 10 * 60_000,
      limit: (req: Request) => (shared(req) ? CODE_ATTEMPTS * SHARED_FACTOR : CODE_ATTEMPTS),
      skipSuccessfulRequests: true,
      requestWasSuccessful: (_req, res) => res.locals.badAccessCode !== true,
      handler: (req, _res, next) => {
        options.logger?.info({ client: clientKey(req) }, 'too many wrong access codes');
        next(
          new HttpError(
            429,
            'too_many_code_attempts',
            'Too many wrong access codes from this address; joining is paused for a few minutes.',
            'Check the code with the instructor, then try again in ten minutes.',
          ),
        );
      },
    });
  }

  /** The label value for a client: a keyed hash of its address, never the address. */
  label(req: Request): string {
    return createHmac('sha256', this.options.hashKey()).update(clientKey(req)).digest('hex').slice(0, 32);
  }

  /**
   * Runs `create` (which makes the session, labelled with `labels`) if this
   * client and the workshop have room for one more live session; throws a 429
   * (this address has its share) or a 503 (the workshop is full) otherwise.
   * One client's admissions run one at a time in this process.
   */
  async admit<T>(req: Request, store: SessionStore, create: (labels: Record<string, string>) => Promise<T>): Promise<T> {
    const key = clientKey(req);
    const previous = this.queues.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.check(req, store).then(create));
    const tail = run.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }

  private async check(req: Request, store: SessionStore): Promise<Record<string, string>> {
    const { sessionsPerAddress, maxSessions, logger } = this.options;
    const label = this.label(req);
    const live = async (selector?: string) => (await listSoon(store, selector)).filter((s) => !store.expired(s)).length;
    if (sessionsPerAddress > 0 && !isShared(this.options.shared, clientAddress(req))) {
      const mine = await live(`${CLIENT_LABEL}=${label}`);
      if (mine >= sessionsPerAddress) {
        logger?.info({ client: clientKey(req), sessions: mine }, 'refused a session: this address has its share');
        throw new HttpError(
          429,
          'too_many_sessions',
          `This address already has ${mine} sessions in this workshop, as many as one address may hold.`,
          'End a session you no longer use, or ask the instructor: a room that shares one address can be allowed (SHARED_ADDRESSES).',
        );
      }
    }
    const total = await live();
    if (total >= maxSessions) {
      logger?.warn({ sessions: total }, 'refused a session: the workshop is full');
      throw new HttpError(
        503,
        'workshop_full',
        `The workshop has as many learners as it can take (${maxSessions}).`,
        'Ask the instructor; ended and expired sessions make room.',
      );
    }
    return { [CLIENT_LABEL]: label };
  }
}
