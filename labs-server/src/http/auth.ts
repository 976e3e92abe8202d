/**
 * Who is asking. Learners carry a session cookie (HttpOnly, SameSite=Strict;
 * over HTTPS Secure and `__Host-` prefixed, so no other host of the domain and
 * no plain-HTTP page can set or overwrite it); the instructor carries the
 * admin token as a Bearer header, and Prometheus the metrics token. Requests
 * that change something must come from one of the server's own origins, and
 * a session is only ever made by a request that proves it is one.
 */
import { timingSafeEqual } from 'node:crypto';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { LabSession } from '../../../contract/session.ts';
import { hashToken, type SessionStore } from '../sessions/store.ts';
import { HttpError } from './errors.ts';

export const SESSION_COOKIE = 'cdl_session';
/** The cookie's name over HTTPS: browsers keep `__Host-` cookies Secure, host-only and on path `/`. */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

export function sessionCookieName(secure: boolean): string {
  return secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

/**
 * The session token in a Cookie header. With `secure` known, only that
 * cookie's name counts; without it (a caller that does not know how the
 * server is reached), the `__Host-` cookie is preferred.
 */
export function sessionToken(cookieHeader: string | undefined, secure?: boolean): string | undefined {
  if (!cookieHeader) return undefined;
  const cookies = parseCookie(cookieHeader);
  if (secure !== undefined) return cookies[sessionCookieName(secure)];
  return cookies[SECURE_SESSION_COOKIE] ?? cookies[SESSION_COOKIE];
}

export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return stringifySetCookie({
    name: sessionCookieName(secure),
    value: token,
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    maxAge: maxAgeSeconds,
    secure,
  });
}

export function clearSessionCookie(secure: boolean): string {
  return stringifySetCookie({
    name: sessionCookieName(secure),
    value: '',
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    maxAge: 0,
    secure,
  });
}

/** The learner's session, put in `res.locals.session`; 401 without a live one. */
export function requireSession(store: SessionStore, secure?: boolean): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const session = await store.byToken(sessionToken(req.headers.cookie, secure));
    if (!session) {
      throw new HttpError(
        401,
        'no_session',
        'There is no valid session for this browser (it expired, was ended, or the cookie is not ours).',
        'Join again from the home page.',
      );
    }
    res.locals.session = session;
    store.touch(session.metadata.name).catch(() => undefined);
    next();
  };
}

export function currentSession(res: Response): LabSession {
  return res.locals.session as LabSession;
}

/** Compares secrets by their hashes, in constant time. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(hashToken(given), 'hex');
  const b = Buffer.from(hashToken(expected), 'hex');
  return timingSafeEqual(a, b);
}

function bearer(req: Request): string | undefined {
  return /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
}

export function requireAdmin(adminToken: () => string): RequestHandler {
  return (req, _res, next) => {
    const token = bearer(req);
    if (!token) throw new HttpError(401, 'no_admin_token', "This needs the instructor's admin token as `Authorization: Bearer <token>`.");
    if (!sameSecret(token, adminToken())) throw new HttpError(403, 'bad_admin_token', 'The admin token is not right.');
    next();
  };
}

/** `/metrics` behind METRICS_TOKEN, when one is set. */
export function requireMetricsToken(metricsToken: string): RequestHandler {
  return (req, res, next) => {
    const token = bearer(req);
    if (!token || !sameSecret(token, metricsToken)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      throw new HttpError(401, 'no_metrics_token', 'The metrics need the metrics token as `Authorization: Bearer <token>`.');
    }
    next();
  };
}

/**
 * Whether a request provably comes from a page of this server: an Origin
 * that is one of ours, or, from a browser that sends no Origin, the Fetch
 * Metadata header `Sec-Fetch-Site: same-origin`. A request with neither (a
 * cross-site navigation, an image tag, a script elsewhere, curl) is not.
 */
export function fromOwnPage(req: Request, origins: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined) return origins.includes(origin);
  return req.headers['sec-fetch-site'] === 'same-origin';
}

/** Refuses a request that does not come from a page of this server (see fromOwnPage). */
export function requireOwnPage(origins: readonly string[]): RequestHandler {
  return (req, _res, next) => {
    if (!fromOwnPage(req, origins)) {
      throw new HttpError(
        403,
        'not_own_page',
        'A session is made only from a page of this server.',
        'Open the site itself; a request from elsewhere must send its Origin, one of PUBLIC_ORIGINS.',
      );
    }
    next();
  };
}

/** Refuses state-changing requests whose Origin is not one of ours (a cross-site form or script). */
export function requireSameOrigin(origins: readonly string[]): RequestHandler {
  return (req, _res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    const origin = req.headers.origin;
    if (origin !== undefined && !origins.includes(origin)) {
      throw new HttpError(403, 'bad_origin', `Requests from ${origin} are not accepted.`);
    }
    // A browser that sends no Origin still says where the request comes from.
    const site = req.headers['sec-fetch-site'];
    if (origin === undefined && (site === 'cross-site' || site === 'same-site')) {
      throw new HttpError(403, 'bad_origin', 'Requests from other sites are not accepted.');
    }
    next();
  };
}
