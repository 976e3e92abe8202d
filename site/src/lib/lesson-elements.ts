/**
 * The interactive parts of a lesson, as custom elements so a page ships
 * only this small script and the terminal: run blocks, check buttons and
 * lab controls. The lab is the one named by the closest [data-lab].
 */
import type { CheckResult, CriterionResult } from '../../../contract/check.ts';
import { ApiError, api, type EditRequest, EVENTS, session } from './api.ts';
import { inlineCode } from './inline-code.ts';
import type { RunRequest } from './terminal-element.ts';

function labOf(element: Element): string {
  return element.closest<HTMLElement>('[data-lab]')?.dataset.lab ?? '';
}

function text(tag: string, content: string, className?: string): HTMLElement {
  const element = document.createElement(tag);
  element.textContent = content;
  if (className) element.className = className;
  return element;
}

/** An element whose text is the server's, its `code spans` as <code>. */
function prose(tag: string, content: string, className?: string): HTMLElement {
  const element = text(tag, '', className);
  element.append(...inlineCode(content));
  return element;
}

/** What went wrong, with what to do about it when the server says. */
function problem(error: unknown): Array<string | HTMLElement> {
  if (!(error instanceof ApiError)) return [(error as Error).message];
  return inlineCode(error.hint ? `${error.message} ${error.hint}` : error.message);
}

function show(value: unknown): string {
  return value === undefined ? '(absent)' : typeof value === 'string' ? value : JSON.stringify(value);
}

class CdlRun extends HTMLElement {
  connectedCallback(): void {
    const cmd = this.dataset.cmd ?? '';
    const request: RunRequest = { command: cmd, ...(this.dataset.tab ? { tab: this.dataset.tab } : {}) };
    this.querySelector('[data-action="run"]')?.addEventListener('click', () => {
      window.dispatchEvent(new CustomEvent(EVENTS.run, { detail: request }));
    });
    const copy = this.querySelector<HTMLButtonElement>('[data-action="copy"]');
    copy?.addEventListener('click', async () => {
      await navigator.clipboard.writeText(cmd).catch(() => undefined);
      copy.textContent = 'Copied';
      setTimeout(() => {
        copy.textContent = 'Copy';
      }, 1500);
    });
  }
}

/** <cdl-edit>: a lesson's starter file, sent to the editor (editor-toggle.ts opens it there). */
class CdlEdit extends HTMLElement {
  connectedCallback(): void {
    const file = this.dataset.file ?? '';
    this.querySelector('[data-action="edit"]')?.addEventListener('click', () => {
      const content = this.querySelector('pre')?.textContent ?? '';
      const request: EditRequest = { file, content: content.endsWith('\n') ? content : `${content}\n` };
      window.dispatchEvent(new CustomEvent(EVENTS.edit, { detail: request }));
    });
  }
}

class CdlCheck extends HTMLElement {
  connectedCallback(): void {
    const button = this.querySelector('button') as HTMLButtonElement;
    const result = this.querySelector('[data-result]') as HTMLElement;
    button.addEventListener('click', async () => {
      button.disabled = true;
      result.replaceChildren(text('p', 'Checking…', 'muted'));
      try {
        await session();
        const outcome = await api<CheckResult>('POST', `/api/labs/${labOf(this)}/steps/${this.dataset.step}/check`);
        this.dataset.passed = String(outcome.passed);
        result.replaceChildren(this.render(outcome.passed, outcome.criteria));
        window.dispatchEvent(new CustomEvent(EVENTS.labChanged));
      } catch (error) {
        const message = text('p', '', 'problem');
        message.append(...(error instanceof ApiError && error.code === 'lab_not_started' ? ['Start the lab first.'] : problem(error)));
        result.replaceChildren(message);
      } finally {
        button.disabled = false;
      }
    });
  }

  private render(passed: boolean, criteria: CriterionResult[]): HTMLElement {
    const box = document.createElement('div');
    box.append(text('p', passed ? 'Well done: every criterion passes.' : 'Not yet:', passed ? 'verdict pass' : 'verdict fail'));
    const list = document.createElement('ul');
    list.className = 'criteria';
    for (const c of criteria) {
      const item = document.createElement('li');
      item.className = c.passed ? 'pass' : 'fail';
      item.dataset.criterion = c.id;
      item.append(text('span', c.passed ? '✔' : '✖', 'mark'), prose('span', c.message));
      if (!c.passed && c.hint) item.append(prose('p', `Hint: ${c.hint}`, 'hint'));
      if (!c.passed && c.diff?.length) {
        const table = document.createElement('table');
        table.className = 'diff';
        const head = table.createTHead().insertRow();
        for (const h of ['field', 'expected', 'actual']) head.append(text('th', h));
        const body = table.createTBody();
        for (const d of c.diff) {
          const row = body.insertRow();
          row.append(text('td', d.path), text('td', show(d.expected), 'expected'), text('td', show(d.actual), 'actual'));
        }
        item.append(table);
      }
      list.append(item);
    }
    box.append(list);
    return box;
  }
}

class CdlLabControls extends HTMLElement {
  connectedCallback(): void {
    const status = this.querySelector('[data-status]') as HTMLElement;
    for (const button of this.querySelectorAll<HTMLButtonElement>('button[data-action]')) {
      button.addEventListener('click', async () => {
        const action = button.dataset.action;
        if (action === 'solve' && !confirm('Apply the solution? Your own changes in this lab are replaced.')) return;
        if (action === 'reset' && !confirm('Reset the lab to its start? Your changes in this lab are lost; your progress is kept.')) return;
        for (const b of this.querySelectorAll('button')) b.disabled = true;
        status.textContent = { start: 'Starting…', reset: 'Resetting…', solve: 'Solving…' }[action ?? ''] ?? '';
        try {
          await session();
          await api('POST', `/api/labs/${labOf(this)}/${action}`);
          status.textContent = { start: 'Ready.', reset: 'Back at the start.', solve: 'Solved: run the checks.' }[action ?? ''] ?? '';
          window.dispatchEvent(new CustomEvent(EVENTS.labChanged));
        } catch (error) {
          status.replaceChildren(...problem(error));
        } finally {
          for (const b of this.querySelectorAll('button')) b.disabled = false;
        }
      });
    }
  }
}

/**
 * Hints opened count in the learner's record (the instructor's training
 * records say how many hints each step took). A lesson's hints belong to
 * the step of the next check after them; as one opens, the page tells the
 * server how many of that step's hints are open now (the server keeps the
 * most). Best effort: a learner without a started lab has nothing to record.
 */
function recordHints(): void {
  const marks = [...document.querySelectorAll<HTMLElement>('details.hint, cdl-check[data-step]')];
  const stepOf = new Map<HTMLElement, string>();
  let pending: HTMLElement[] = [];
  for (const mark of marks) {
    if (mark.tagName === 'CDL-CHECK') {
      for (const hint of pending) stepOf.set(hint, mark.dataset.step ?? '');
      pending = [];
    } else {
      pending.push(mark);
    }
  }
  for (const [hint, step] of stepOf) {
    hint.addEventListener('toggle', () => {
      const lab = labOf(hint);
      if (!(hint as HTMLDetailsElement).open || !lab || !step) return;
      const shown = [...stepOf].filter(([other, s]) => s === step && (other as HTMLDetailsElement).open).length;
      api('POST', `/api/labs/${encodeURIComponent(lab)}/steps/${encodeURIComponent(step)}/hints`, { shown }).catch(() => undefined);
    });
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', recordHints);
else recordHints();

customElements.define('cdl-run', CdlRun);
customElements.define('cdl-edit', CdlEdit);
customElements.define('cdl-check', CdlCheck);
customElements.define('cdl-lab-controls', CdlLabControls);
