/**
 * Who is asking. Learners carry a session cookie (HttpOnly, SameSite=Strict);
 * the instructor carries the admin token as a Bearer header. Requests that
 * change something must come from one of the server's own origins.
 */
import { timingSafeEqual } from 'node:crypto';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { hashToken, type LabSession, type SessionStore } from '../sessions/store.ts';
import { HttpError } from './errors.ts';

export const SESSION_COOKIE = 'cdl_session';

export function sessionToken(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  return parseCookie(cookieHeader)[SESSION_COOKIE];
}

export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return stringifySetCookie({
    name: SESSION_COOKIE,
    value: token,
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    maxAge: maxAgeSeconds,
    secure,
  });
}

export function clearSessionCookie(secure: boolean): string {
  return stringifySetCookie({ name: SESSION_COOKIE, value: '', httpOnly: true, sameSite: 'strict', path: '/', maxAge: 0, secure });
}

/** The learner's session, put in `res.locals.session`; 401 without a live one. */
export function requireSession(store: SessionStore): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const session = await store.byToken(sessionToken(req.headers.cookie));
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

export function requireAdmin(adminToken: () => string): RequestHandler {
  return (req, _res, next) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer (\S+)$/.exec(header);
    if (!match?.[1])
      throw new HttpError(401, 'no_admin_token', "This needs the instructor's admin token as `Authorization: Bearer <token>`.");
    if (!sameSecret(match[1], adminToken())) throw new HttpError(403, 'bad_admin_token', 'The admin token is not right.');
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
    next();
  };
}
