/**
 * The lab server's API from the page: same origin, the session cookie, JSON
 * errors made readable. The shapes are the contract's (contract/api.ts);
 * only its types reach the page, not its schemas.
 */
import type { ErrorBody, SessionView } from '../../../contract/api.ts';
import { inlineCode } from './inline-code.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint: string | undefined;
  constructor(status: number, code: string, message: string, hint?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

export async function api<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, 'offline', 'The lab server does not answer. Is it running?');
  }
  const text = await response.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!response.ok) {
    const e = (data ?? {}) as Partial<ErrorBody>;
    throw new ApiError(response.status, e.error ?? 'error', e.message ?? `The server answered ${response.status}.`, e.hint);
  }
  return data as T;
}

export type Session = SessionView;

let current: Promise<Session> | undefined;

/**
 * The learner's session. Reading it never makes one: in single-user mode the
 * page then asks for one with a POST (which the server accepts only from its
 * own pages); in a workshop, joining asks for the name and the access code.
 */
export function session(): Promise<Session> {
  current ??= (async () => {
    try {
      return await api<Session>('GET', '/api/session');
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.code === 'session_required') return api<Session>('POST', '/api/session', {});
      if (error.code === 'join_required') return join();
      throw error;
    }
  })();
  current.catch(() => {
    current = undefined;
  });
  return current;
}

/** Asks for a name and the access code until the server accepts them. */
async function join(): Promise<Session> {
  const dialog = document.querySelector<HTMLDialogElement>('#join');
  if (!dialog) throw new Error('this page cannot join a workshop');
  const form = dialog.querySelector('form') as HTMLFormElement;
  const problem = dialog.querySelector('[data-problem]') as HTMLElement;
  dialog.showModal();
  for (;;) {
    await new Promise<void>((resolve) =>
      form.addEventListener(
        'submit',
        (event) => {
          event.preventDefault();
          resolve();
        },
        { once: true },
      ),
    );
    const data = new FormData(form);
    try {
      const joined = await api<Session>('POST', '/api/session', { name: data.get('name'), accessCode: data.get('accessCode') });
      dialog.close();
      return joined;
    } catch (error) {
      problem.replaceChildren(...inlineCode(error instanceof ApiError ? error.message : String(error)));
    }
  }
}

/** Events the lesson's parts use to talk to each other. */
export const EVENTS = { run: 'cdl:run', labChanged: 'cdl:lab-changed', edit: 'cdl:edit' } as const;

/** What a `cdl:edit` event carries: a starter file for the editor. */
export interface EditRequest {
  file: string;
  content: string;
}
