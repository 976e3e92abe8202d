/**
 * The instructor's live grid: learners by labs (steps passed of total), who
 * is stuck, and the controls (reset one or everyone, extend, end), and,
 * where shells run in pods, the warm pool's size (set it before the room
 * arrives, 0 after). Polls the admin API every five seconds with the admin
 * token, which stays in this tab's sessionStorage.
 */
import type { Answer, ProgressView } from '../../../contract/api.ts';
import { ApiError, api } from './api.ts';
import { inlineCode } from './inline-code.ts';

const KEY = 'cdl-admin-token';
const form = document.querySelector('#token-form') as HTMLFormElement;
const status = document.querySelector('#dashboard-status') as HTMLElement;
const board = document.querySelector('#dashboard') as HTMLElement;
const grid = document.querySelector('#grid') as HTMLTableElement;
const choice = document.querySelector('#lab-choice') as HTMLSelectElement;
const poolControl = document.querySelector('#pool') as HTMLElement;
const poolForm = document.querySelector('#pool-form') as HTMLFormElement;
const poolSize = poolForm.elements.namedItem('size') as HTMLInputElement;
const poolStatus = document.querySelector('#pool-status') as HTMLElement;
let timer: number | undefined;

const token = () => sessionStorage.getItem(KEY) ?? '';
const admin = <T>(method: string, path: string, body?: unknown) =>
  api<T>(method, `/api/admin${path}`, body, { authorization: `Bearer ${token()}` });

function cell(text: string, className = ''): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function button(label: string, action: () => Promise<unknown>): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await action();
      await refresh();
    } catch (error) {
      status.replaceChildren(...inlineCode((error as Error).message));
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function render(progress: ProgressView): void {
  if (choice.options.length === 0) {
    for (const lab of progress.labs) choice.add(new Option(lab.title, lab.id));
  }
  const head = document.createElement('thead');
  const top = head.insertRow();
  for (const label of ['Learner', ...progress.labs.map((l) => l.title), 'Stuck', '']) {
    const th = document.createElement('th');
    th.textContent = label;
    th.scope = 'col';
    top.append(th);
  }
  const body = document.createElement('tbody');
  for (const learner of progress.learners) {
    const row = body.insertRow();
    row.dataset.learner = learner.id;
    const name = document.createElement('th');
    name.scope = 'row';
    name.textContent = learner.learner;
    row.append(name);
    for (const lab of progress.labs) {
      const p = learner.labs[lab.id];
      const stuckHere = learner.stuck?.lab === lab.id;
      row.append(
        cell(p?.steps.length ? `${p.passed}/${p.total}` : '', p && p.total > 0 && p.passed === p.total ? 'done' : stuckHere ? 'stuck' : ''),
      );
    }
    row.append(cell(learner.stuck ? `${learner.stuck.step}, ${learner.stuck.minutes} min` : '', learner.stuck ? 'stuck' : ''));
    const actions = document.createElement('td');
    const lab = () => choice.value;
    actions.append(
      button('Reset lab', () => admin('POST', `/sessions/${learner.id}/labs/${lab()}/reset`)),
      button('+30 min', () => admin('POST', `/sessions/${learner.id}/extend`, { minutes: 30 })),
      button('End', () => (confirm(`End ${learner.learner}'s session?`) ? admin('DELETE', `/sessions/${learner.id}`) : Promise.resolve())),
    );
    row.append(actions);
  }
  grid.replaceChildren(head, body);
  const stuck = progress.learners.filter((l) => l.stuck).length;
  status.textContent = `${progress.learners.length} learners, ${stuck} stuck · updated ${new Date().toLocaleTimeString()}`;
}

function renderPool(pool: Answer<'pool', 200>): void {
  poolControl.hidden = false;
  // Not while the instructor is typing a new size.
  if (document.activeElement !== poolSize) poolSize.value = String(pool.size);
  poolStatus.textContent = `${pool.ready} ready, ${pool.starting} starting`;
}

/** The pool, where this server has one (shells in pods); hidden where it answers 409. */
async function refreshPool(): Promise<void> {
  try {
    renderPool(await admin<Answer<'pool', 200>>('GET', '/pool'));
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) poolControl.hidden = true;
    else throw error;
  }
}

poolForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    renderPool(await admin<Answer<'setPool', 200>>('PUT', '/pool', { size: Number(poolSize.value) }));
    poolSize.blur();
  } catch (error) {
    status.replaceChildren(...inlineCode((error as Error).message));
  }
});

async function refresh(): Promise<void> {
  const minutes = Number(new FormData(form).get('stuck') ?? 10);
  try {
    render(await admin<ProgressView>('GET', `/progress?stuckMinutes=${minutes}`));
    board.hidden = false;
    await refreshPool();
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      sessionStorage.removeItem(KEY);
      window.clearInterval(timer);
      board.hidden = true;
    }
    status.replaceChildren(...inlineCode((error as Error).message));
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const value = String(new FormData(form).get('token') ?? '').trim();
  if (value) sessionStorage.setItem(KEY, value);
  window.clearInterval(timer);
  void refresh();
  timer = window.setInterval(() => void refresh(), 5000);
});

document.querySelector('[data-everyone="reset"]')?.addEventListener('click', async () => {
  if (!confirm('Reset this lab for every learner who started it?')) return;
  try {
    const { reset } = await admin<Answer<'resetEveryone', 200>>('POST', `/labs/${choice.value}/reset`);
    status.textContent = `Reset for ${reset} learners.`;
  } catch (error) {
    status.replaceChildren(...inlineCode((error as Error).message));
  }
});

/** The records come with the admin token in a header, so the page fetches them and hands the file to the browser. */
for (const button of document.querySelectorAll<HTMLButtonElement>('[data-records]')) {
  button.addEventListener('click', async () => {
    const csv = button.dataset.records === 'csv';
    try {
      const response = await fetch(`/api/admin/progress/records${csv ? '.csv' : ''}`, { headers: { authorization: `Bearer ${token()}` } });
      if (!response.ok) throw new Error(`The records could not be fetched (${response.status}).`);
      const file = await response.blob();
      const link = document.createElement('a');
      link.href = URL.createObjectURL(file);
      link.download = `progress-${new Date().toISOString().slice(0, 10)}.${csv ? 'csv' : 'json'}`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (error) {
      status.replaceChildren(...inlineCode((error as Error).message));
    }
  });
}

if (token()) {
  void refresh();
  timer = window.setInterval(() => void refresh(), 5000);
}
