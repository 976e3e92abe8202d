/**
 * <cdl-terminal lab="…">: xterm.js on the lab server's terminal protocol,
 * one tab per shell of the lab (`main`, the lesson's named tabs, and those
 * the learner opens). Each tab acknowledges output once xterm has parsed it
 * (flow control), keeps its shell across reloads and network drops
 * (reconnecting with the offset it has, so only missed output is replayed)
 * and fits its box; the bar shows the shown tab's state. Commands from run
 * blocks arrive as `cdl:run` events naming their tab.
 */

import { FitAddon } from '@xterm/addon-fit';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Terminal } from '@xterm/xterm';
import type { Answer } from '../../../contract/api.ts';
import { inlineCode } from './inline-code.ts';
import '@xterm/xterm/css/xterm.css';
import { CLOSE_RESTART, decodeServerFrame, encode } from '../../../contract/protocol.ts';
import { ApiError, api, EVENTS, session } from './api.ts';
import { readStored, writeStored } from './stored.ts';

/** Where the learner's choice of screen reader mode is kept, for every lesson. */
const SCREEN_READER_KEY = 'cdl:screen-reader';

function screenReaderWanted(): boolean {
  return readStored(SCREEN_READER_KEY) === 'on';
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

/** A tab's name, as the server takes it (contract/api.ts): `main` is every lab's first. */
const TAB_NAME = /^[a-z][a-z0-9-]{0,19}$/;
const MAIN_TAB = 'main';
/** Tabs one lab's page may hold (the server keeps ten shells per session in all). */
const MAX_TABS = 4;

/** What a `cdl:run` event carries: the command, and the tab it is for (the main one when none). */
export interface RunRequest {
  command: string;
  tab?: string;
}

/** Which tabs a lab's page had open, and which one was shown, kept across reloads. */
interface Layout {
  tabs: string[];
  active: string;
}

function layoutKey(lab: string): string {
  return `cdl:terminals:${lab}`;
}

function loadLayout(lab: string): Layout {
  try {
    const saved = JSON.parse(readStored(layoutKey(lab)) ?? 'null') as Partial<Layout> | null;
    const tabs = [MAIN_TAB, ...(saved?.tabs ?? []).filter((t) => typeof t === 'string' && TAB_NAME.test(t) && t !== MAIN_TAB)];
    const unique = [...new Set(tabs)].slice(0, MAX_TABS);
    return { tabs: unique, active: unique.includes(saved?.active ?? '') ? (saved?.active as string) : MAIN_TAB };
  } catch {
    return { tabs: [MAIN_TAB], active: MAIN_TAB };
  }
}

/**
 * One tab: its own xterm and its own shell on the server (`tab=<name>`),
 * with its own offset, replay and flow control. It connects the first time
 * it is shown or given a command, and then stays connected while hidden, so
 * a watch in one tab keeps streaming while the learner acts in another.
 */
class Shell {
  readonly name: string;
  readonly panel: HTMLElement;
  readonly tab: HTMLButtonElement;
  readonly term: Terminal;
  private readonly fit = new FitAddon();
  private readonly owner: CdlTerminal;
  private ws: WebSocket | undefined;
  /** Output bytes received from this shell: where a reconnect resumes. */
  private offset = 0;
  private retry = 0;
  private everConnected = false;
  private opened = false;
  private closed = false;
  state: State = 'connecting';
  detail: string | undefined;

  constructor(owner: CdlTerminal, name: string, panel: HTMLElement, tab: HTMLButtonElement) {
    this.owner = owner;
    this.name = name;
    this.panel = panel;
    this.tab = tab;
    this.term = new Terminal({
      allowProposedApi: true,
      cursorBlink: true,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
      fontSize: 14,
      scrollback: 5000,
      theme: theme(),
      // xterm's accessibility tree: the output as text a screen reader reads, and what is typed announced.
      screenReaderMode: screenReaderWanted(),
    });
    this.term.loadAddon(this.fit);
    this.term.loadAddon(new WebLinksAddon());
    this.term.loadAddon(new Unicode11Addon());
    this.term.unicode.activeVersion = '11';
    this.term.open(panel);
    this.term.onData((data) => this.send(encode.input(data)));
    this.term.onResize(({ cols, rows }) => this.send(encode.resize(cols, rows)));
    new ResizeObserver(() => {
      if (!this.panel.hidden) this.fit.fit();
    }).observe(panel);
  }

  fitNow(): void {
    this.fit.fit();
  }

  /** Connects once; later calls do nothing (a reconnect is this shell's own business). */
  open(lab: string): void {
    if (this.opened || this.closed) return;
    this.opened = true;
    this.fit.fit();
    this.connect(lab);
  }

  run(lab: string, command: string): void {
    this.open(lab);
    // Sent once the socket is open; until then it waits with what the learner types.
    this.pending.push(command);
    this.flush();
  }

  private pending: string[] = [];

  private flush(): void {
    if (this.ws?.readyState !== WebSocket.OPEN || this.state !== 'connected') return;
    for (const command of this.pending.splice(0)) this.send(encode.input(`${command}\r`));
  }

  close(): void {
    this.closed = true;
    this.ws?.close();
    this.term.dispose();
  }

  private setState(state: State, detail?: string): void {
    this.state = state;
    this.detail = detail;
    this.owner.shellChanged(this);
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
      if (error instanceof ApiError && error.code === 'preparing') this.owner.waitForCluster(error.message);
      else this.setState('unavailable', (error as Error).message);
      return;
    }
    this.retry = 0;
    this.everConnected = true;
    this.connect(lab);
  }

  private connect(lab: string): void {
    if (this.closed) return;
    const term = this.term;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = new URLSearchParams({ lab, cols: String(term.cols), rows: String(term.rows), since: String(this.offset) });
    if (this.name !== MAIN_TAB) query.set('tab', this.name);
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
        this.flush();
      } else if (frame.type === 'exit') {
        ended = true;
        this.setState('ended');
      } else if (frame.type === 'error') {
        term.writeln(`\r\n\x1b[33m${frame.error.message}\x1b[0m`);
      }
    };
    ws.onclose = (event) => {
      if (this.closed || ended) return;
      if (event.code === 4001) {
        this.setState('ended', 'This terminal was opened in another window.');
        return;
      }
      if (event.code === 1008 || event.code === 1011) {
        this.setState('ended', event.reason || LABELS.ended);
        return;
      }
      if (event.code === CLOSE_RESTART) {
        // The server is stopping (a replica being replaced): another one, or this one once back, takes the
        // terminal now. A short random wait keeps a room's pages from arriving in the same millisecond.
        this.retry = 0;
        this.setState('reconnecting', 'The server restarted; reconnecting…');
        setTimeout(() => this.connect(lab), 100 + Math.random() * 400);
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

/**
 * <cdl-terminal lab="…">: the lab's terminals, as tabs. `main` is always
 * there; a lesson's `<Run tab="watch">` opens (and sends to) a tab of that
 * name; the learner may open more with "+" (up to MAX_TABS) and close any
 * but the first. Which tabs are open, and which is shown, survive a reload.
 * The element's `data-state` is the shown tab's.
 */
export class CdlTerminal extends HTMLElement {
  private lab = '';
  private shells = new Map<string, Shell>();
  private active = MAIN_TAB;
  private ready = false;
  private stopped = false;
  private status!: HTMLElement;
  private tablist!: HTMLElement;
  private screens!: HTMLElement;
  private addButton!: HTMLButtonElement;

  connectedCallback(): void {
    const lab = this.getAttribute('lab');
    this.status = this.querySelector('[data-status]') as HTMLElement;
    this.tablist = this.querySelector('[data-tabs]') as HTMLElement;
    this.screens = this.querySelector('[data-screen]') as HTMLElement;
    this.addButton = this.querySelector('[data-add-tab]') as HTMLButtonElement;
    if (!lab) {
      this.setState('unavailable');
      return;
    }
    this.lab = lab;
    const layout = loadLayout(lab);
    for (const name of layout.tabs) this.add(name);
    this.show(layout.active);
    this.screenReaderToggle();
    this.addButton?.addEventListener('click', () => {
      const name = this.nextName();
      if (!name) return;
      this.add(name);
      this.show(name);
      if (this.ready) this.shells.get(name)?.open(this.lab);
      this.shells.get(name)?.term.focus();
    });
    window.addEventListener(EVENTS.run, (event) => {
      const request = (event as CustomEvent<RunRequest>).detail;
      const tab = request.tab && TAB_NAME.test(request.tab) ? request.tab : MAIN_TAB;
      if (!this.shells.has(tab) && !this.add(tab)) return;
      this.show(tab);
      const shell = this.shells.get(tab);
      if (!shell) return;
      if (this.ready) shell.run(this.lab, request.command);
      else this.queued.push({ tab, command: request.command });
      shell.term.focus();
    });
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      for (const shell of this.shells.values()) shell.term.options.theme = theme();
    });
    this.start();
  }

  /** Commands given before the session was ready, sent once it is. */
  private queued: Array<{ tab: string; command: string }> = [];

  disconnectedCallback(): void {
    this.stopped = true;
    for (const shell of this.shells.values()) shell.close();
  }

  /** The first free name for a tab the learner opens: 2, 3 … (as tab names go: `t2`). */
  private nextName(): string | undefined {
    if (this.shells.size >= MAX_TABS) return undefined;
    for (let n = 2; ; n++) if (!this.shells.has(`t${n}`)) return `t${n}`;
  }

  /** Adds a tab (its button and its panel); false when the page holds as many as it may. */
  private add(name: string): boolean {
    if (this.shells.has(name)) return true;
    if (this.shells.size >= MAX_TABS) {
      this.setState(this.shells.get(this.active)?.state ?? 'connected', `At most ${MAX_TABS} terminals per lab: close one (×) first.`);
      return false;
    }
    const id = `terminal-${this.lab}-${name}`;
    const panel = document.createElement('div');
    panel.className = 'terminal-screen';
    panel.id = id;
    panel.setAttribute('role', 'tabpanel');
    panel.setAttribute('aria-label', `Terminal ${name}`);
    panel.hidden = true;
    this.screens.append(panel);

    const tab = document.createElement('button');
    tab.type = 'button';
    tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-controls', id);
    tab.dataset.tab = name;
    tab.textContent = name;
    tab.addEventListener('click', () => this.show(name));
    tab.addEventListener('keydown', (event) => this.moveFocus(event, name));
    const item = document.createElement('span');
    item.className = 'terminal-tab';
    item.append(tab);
    if (name !== MAIN_TAB) {
      const close = document.createElement('button');
      close.type = 'button';
      close.className = 'terminal-tab-close';
      close.setAttribute('aria-label', `Close terminal ${name}`);
      close.textContent = '×';
      close.addEventListener('click', () => this.closeTab(name));
      item.append(close);
    }
    this.tablist.append(item);
    this.shells.set(name, new Shell(this, name, panel, tab));
    this.save();
    this.addButton.disabled = this.shells.size >= MAX_TABS;
    return true;
  }

  /** Closes a tab: its socket now, its shell on the server once the grace period ends. */
  private closeTab(name: string): void {
    const shell = this.shells.get(name);
    if (!shell || name === MAIN_TAB) return;
    shell.close();
    shell.panel.remove();
    shell.tab.parentElement?.remove();
    this.shells.delete(name);
    this.addButton.disabled = false;
    if (this.active === name) this.show(MAIN_TAB);
    this.save();
  }

  private show(name: string): void {
    const target = this.shells.get(name) ?? this.shells.get(MAIN_TAB);
    if (!target) return;
    this.active = target.name;
    for (const shell of this.shells.values()) {
      const shown = shell === target;
      shell.panel.hidden = !shown;
      shell.tab.setAttribute('aria-selected', String(shown));
      shell.tab.tabIndex = shown ? 0 : -1;
    }
    target.fitNow();
    if (this.ready) target.open(this.lab);
    this.shellChanged(target);
    this.save();
  }

  /** Arrow keys move between tabs, as a tablist's keyboard pattern has them. */
  private moveFocus(event: KeyboardEvent, name: string): void {
    if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
    const names = [...this.shells.keys()];
    const next = names[(names.indexOf(name) + (event.key === 'ArrowRight' ? 1 : names.length - 1)) % names.length];
    if (!next) return;
    this.show(next);
    this.shells.get(next)?.tab.focus();
  }

  private save(): void {
    writeStored(layoutKey(this.lab), JSON.stringify({ tabs: [...this.shells.keys()], active: this.active }));
  }

  /** A tab's state changed: the bar shows the shown tab's. */
  shellChanged(shell: Shell): void {
    if (shell.name !== this.active) return;
    this.setState(shell.state, shell.detail);
  }

  /** The bar's button that turns xterm's screen reader mode on and off, remembered across lessons. */
  private screenReaderToggle(): void {
    const button = this.querySelector<HTMLButtonElement>('[data-screen-reader]');
    if (!button) return;
    button.setAttribute('aria-pressed', String(screenReaderWanted()));
    button.addEventListener('click', () => {
      const on = button.getAttribute('aria-pressed') !== 'true';
      for (const shell of this.shells.values()) shell.term.options.screenReaderMode = on;
      writeStored(SCREEN_READER_KEY, on ? 'on' : 'off');
      button.setAttribute('aria-pressed', String(on));
      this.shells.get(this.active)?.term.focus();
    });
  }

  /** Opens the shown tab once there is a session; while the cluster is prepared, waits for it. */
  private start(): void {
    void session().then(
      () => {
        this.ready = true;
        this.shells.get(this.active)?.open(this.lab);
        for (const { tab, command } of this.queued.splice(0)) this.shells.get(tab)?.run(this.lab, command);
      },
      (error: Error) => {
        if (error instanceof ApiError && error.code === 'preparing') {
          this.waitForCluster(error.message);
          return;
        }
        this.setState('unavailable');
        this.shells.get(this.active)?.term.writeln(`\r\n${error.message}`);
      },
    );
  }

  private waiting = false;

  /** Says what the server prepares and how far it is, until its cluster is ready; then connects. */
  waitForCluster(first: string): void {
    if (this.waiting) return;
    this.waiting = true;
    this.ready = false;
    void (async () => {
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
          this.waiting = false;
          this.start();
          return;
        }
        this.setState('preparing', preparingLine(health));
      }
    })();
  }

  private setState(state: State, detail?: string): void {
    this.dataset.state = state;
    // The server's words may hold `code spans` (a command to run): shown as code, never as markup.
    this.status.replaceChildren(...inlineCode(detail ?? LABELS[state]));
  }
}

customElements.define('cdl-terminal', CdlTerminal);
