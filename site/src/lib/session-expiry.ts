/**
 * A banner before the session ends, so a learner is not surprised when the
 * terminal goes away: from `expiresAt` in GET /api/session (which activity
 * keeps pushing back, up to the event's limit), read again every minute and
 * counted down on the page's clock corrected by the server's Date header.
 * Reading the session is not activity, and never asks to join.
 */

/** The banner shows this long before the end. */
export const WARN_MS = 10 * 60_000;
const REFRESH_MS = 60_000;

export interface ExpiryNotice {
  level: 'warn' | 'ended';
  text: string;
}

/** What to tell the learner about a session ending at `expiresAt`, at `now` (ms); undefined when it is not near. */
export function expiryNotice(expiresAt: string, now: number, warnMs = WARN_MS): ExpiryNotice | undefined {
  const end = Date.parse(expiresAt);
  if (Number.isNaN(end)) return undefined;
  const left = end - now;
  if (left <= 0) {
    return {
      level: 'ended',
      text: 'Your session has ended: its terminals and sandboxes are gone. Your progress is kept; ask the instructor for more time.',
    };
  }
  if (left > warnMs) return undefined;
  const minutes = Math.ceil(left / 60_000);
  return {
    level: 'warn',
    text: `Your session ends in ${minutes} minute${minutes === 1 ? '' : 's'}. Your progress is kept; ask the instructor if you need more time.`,
  };
}

interface Known {
  expiresAt: string;
  /** Server clock minus page clock, ms. */
  skew: number;
}

async function read(): Promise<Known | 'none'> {
  const response = await fetch('/api/session', { credentials: 'same-origin' });
  if (!response.ok) return 'none';
  const body = (await response.json()) as { expiresAt?: unknown };
  if (typeof body.expiresAt !== 'string') return 'none';
  const serverNow = Date.parse(response.headers.get('date') ?? '');
  return { expiresAt: body.expiresAt, skew: Number.isNaN(serverNow) ? 0 : serverNow - Date.now() };
}

function watch(banner: HTMLElement): void {
  let known: Known | undefined;
  let ended = false;
  const render = () => {
    const notice = known ? expiryNotice(known.expiresAt, Date.now() + known.skew) : undefined;
    banner.hidden = !notice;
    banner.textContent = notice?.text ?? '';
    banner.dataset.level = notice?.level ?? '';
    ended = notice?.level === 'ended';
  };
  const refresh = async () => {
    // Once it has ended, asking again would only start a new session behind the learner's back.
    if (ended) return;
    try {
      const answer = await read();
      if (answer !== 'none') known = answer;
      else if (known) known = { ...known, expiresAt: new Date(0).toISOString() };
    } catch {
      // The server is away for a moment: keep counting down on what we knew.
    }
    render();
  };
  void refresh();
  setInterval(() => void refresh(), REFRESH_MS);
  setInterval(render, 15_000);
}

if (typeof document !== 'undefined') {
  const banner = document.querySelector<HTMLElement>('[data-session-expiry]');
  if (banner) watch(banner);
}
