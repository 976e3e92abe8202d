/**
 * <cdl-terminal lab="…">: xterm.js on the lab server's terminal protocol.
 * Acknowledges output once xterm has parsed it (flow control), keeps the
 * shell across reloads and network drops (reconnecting with the offset it
 * has, so only missed output is replayed), fits its box, and shows the
 * connection's state. Commands from run blocks arrive as `cdl:run` events.
 */

import { FitAddon } from '@xterm/addon-fit';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Terminal } from '@xterm/xterm';
import type { Answer } from '../../../contract/api.ts';
import { inlineCode } from './inline-code.ts';
import '@xterm/xterm/css/xterm.css';
import { decodeServerFrame, encode } from '../../../contract/protocol.ts';
import { ApiError, api, EVENTS, session } from './api.ts';

/** Where the learner's choice of screen reader mode is kept, for every lesson. */
const SCREEN_READER_KEY = 'cdl:screen-reader';

function screenReaderWanted(): boolean {
  try {
    return localStorage.getItem(SCREEN_READER_KEY) === 'on';
  } catch {
    return false;
  }
}

/** How often a terminal waiting for the cluster asks how far it is. */
const PREPARING_POLL_MS = 3000;

/** `Preparing the cluster: building kubernetes: 412 of at most 1404 packages (29 %)`. */
function preparingLine(health: Answer<'health', 503>): string {
  const { preparing } = health;
  const detail = preparing?.detail ?? health.cluster.detail ?? health.cluster.state;
  const share = preparing?.done !== undefined && preparing.total ? ` (${Math.floor((100 * preparing.done) / preparing.total)} %)` : '';
  return `Preparing the cluster: ${detail}${share}. This terminal connects by itself when it is ready.`;
}

type State = 'preparing' | 'connecting' | 'connected' | 'reconnecting' | 'ended' | 'unavailable';

const LABELS: Record<State, string> = {
  preparing: 'Preparing the cluster…',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  ended: 'The shell has ended. Reload to start a new one.',
  unavailable: 'No terminal',
};

function theme(): { background: string; foreground: string; cursor: string } {
  const style = getComputedStyle(document.documentElement);
  return {
    background: style.getPropertyValue('--terminal-bg').trim() || '#111',
    foreground: style.getPropertyValue('--terminal-fg').trim() || '#eee',
    cursor: style.getPropertyValue('--accent').trim() || '#6cf',
  };
}

class CdlTerminal extends HTMLElement {
  private term: Terminal | undefined;
  private fit: FitAddon | undefined;
  private ws: WebSocket | undefined;
  /** Output bytes received from this shell: where a reconnect resumes. */
  private offset = 0;
  private retry = 0;
  private everConnected = false;
  private stopped = false;
  private status!: HTMLElement;

  connectedCallback(): void {
    const lab = this.getAttribute('lab');
    this.status = this.querySelector('[data-status]') as HTMLElement;
    const screen = this.querySelector('[data-screen]') as HTMLElement;
    if (!lab) {
      this.setState('unavailable');
      return;
    }
    const term = new Terminal({
      allowProposedApi: true,
      cursorBlink: true,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
      fontSize: 14,
      scrollback: 5000,
      theme: theme(),
      // xterm's accessibility tree: the output as text a screen reader reads, and what is typed announced.
      screenReaderMode: screenReaderWanted(),
    });
    this.fit = new FitAddon();
    term.loadAddon(this.fit);
    term.loadAddon(new WebLinksAddon());
    term.loadAddon(new Unicode11Addon());
    term.unicode.activeVersion = '11';
    term.open(screen);
    this.term = term;
    this.fit.fit();
    this.screenReaderToggle(term);
    term.onData((data) => this.send(encode.input(data)));
    term.onResize(({ cols, rows }) => this.send(encode.resize(cols, rows)));
    new ResizeObserver(() => this.fit?.fit()).observe(screen);
    window.addEventListener(EVENTS.run, (event) => {
      const command = (event as CustomEvent<string>).detail;
      this.send(encode.input(`${command}\r`));
      term.focus();
    });
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      term.options.theme = theme();
    });
    this.start(lab);
  }

  /** The bar's button that turns xterm's screen reader mode on and off, remembered across lessons. */
  private screenReaderToggle(term: Terminal): void {
    const button = this.querySelector<HTMLButtonElement>('[data-screen-reader]');
    if (!button) return;
    const show = () => button.setAttribute('aria-pressed', String(term.options.screenReaderMode === true));
    show();
    button.addEventListener('click', () => {
      const on = term.options.screenReaderMode !== true;
      term.options.screenReaderMode = on;
      try {
        localStorage.setItem(SCREEN_READER_KEY, on ? 'on' : 'off');
      } catch {
        // storage refused (a private window): the choice lasts for this page
      }
      show();
      term.focus();
    });
  }

  /** Opens the terminal once there is a session; while the cluster is prepared, waits for it. */
  private start(lab: string): void {
    void session().then(
      () => this.connect(lab),
      (error: Error) => {
        if (error instanceof ApiError && error.code === 'preparing') {
          void this.waitForCluster(lab, error.message);
          return;
        }
        this.setState('unavailable');
        this.term?.writeln(`\r\n${error.message}`);
      },
    );
  }

  /** Says what the server prepares and how far it is, until its cluster is ready; then connects. */
  private async waitForCluster(lab: string, first: string): Promise<void> {
    this.setState('preparing', first);
    while (!this.stopped) {
      await new Promise((resolve) => setTimeout(resolve, PREPARING_POLL_MS));
      let health: Answer<'health', 503>;
      try {
        health = (await (await fetch('/healthz', { cache: 'no-store' })).json()) as Answer<'health', 503>;
      } catch {
        this.setState('preparing', 'The lab server does not answer; trying again…');
        continue;
      }
      if (health.ok) {
        this.start(lab);
        return;
      }
      this.setState('preparing', preparingLine(health));
    }
  }

  disconnectedCallback(): void {
    this.stopped = true;
    this.ws?.close();
    this.term?.dispose();
  }

  private setState(state: State, detail?: string): void {
    this.dataset.state = state;
    // The server's words may hold `code spans` (a command to run): shown as code, never as markup.
    this.status.replaceChildren(...inlineCode(detail ?? LABELS[state]));
  }

  private send(frame: Uint8Array<ArrayBuffer>): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /** A terminal that never opened: ask the server why (an unavailable lab, an ended session). */
  private async explain(lab: string): Promise<void> {
    try {
      const { unavailableReason: unavailable } = await api<Answer<'lab', 200>>('GET', `/api/labs/${lab}`);
      if (unavailable) {
        this.setState('unavailable', unavailable);
        return;
      }
    } catch (error) {
      if (error instanceof ApiError && error.code === 'preparing') void this.waitForCluster(lab, error.message);
      else this.setState('unavailable', (error as Error).message);
      return;
    }
    this.retry = 0;
    this.everConnected = true;
    this.connect(lab);
  }

  private connect(lab: string): void {
    const term = this.term as Terminal;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = new URLSearchParams({ lab, cols: String(term.cols), rows: String(term.rows), since: String(this.offset) });
    const ws = new WebSocket(`${scheme}://${location.host}/api/terminal?${query}`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.setState(this.offset > 0 ? 'reconnecting' : 'connecting');
    let ended = false;
    ws.onmessage = (message) => {
      const frame = decodeServerFrame(message.data as ArrayBuffer);
      if (frame.type === 'output') {
        const length = frame.data.length;
        this.offset += length;
        // Acknowledged on the socket it came by: the server counts what each socket was sent,
        // and an acknowledgement of more than that ends the connection.
        term.write(frame.data, () => {
          if (ws.readyState === WebSocket.OPEN) ws.send(encode.ack(length));
        });
      } else if (frame.type === 'ready') {
        this.retry = 0;
        this.everConnected = true;
        // The replay that follows starts at this offset.
        this.offset = frame.ready.offset;
        this.setState('connected');
      } else if (frame.type === 'exit') {
        ended = true;
        this.setState('ended');
      } else if (frame.type === 'error') {
        term.writeln(`\r\n\x1b[33m${frame.error.message}\x1b[0m`);
      }
    };
    ws.onclose = (event) => {
      if (this.stopped || ended) return;
      if (event.code === 4001) {
        this.setState('ended', 'This terminal was opened in another window.');
        return;
      }
      if (event.code === 1008 || event.code === 1011) {
        this.setState('ended', event.reason || LABELS.ended);
        return;
      }
      if (!this.everConnected && this.retry >= 2) {
        void this.explain(lab);
        return;
      }
      // Back off: 0.5 s, 1 s, 2 s … up to 10 s; the shell waits on the server meanwhile.
      const delay = Math.min(10_000, 500 * 2 ** this.retry);
      this.retry += 1;
      this.setState('reconnecting', `Connection lost; reconnecting in ${Math.round(delay / 1000) || 1} s…`);
      setTimeout(() => this.connect(lab), delay);
    };
  }
}

customElements.define('cdl-terminal', CdlTerminal);
