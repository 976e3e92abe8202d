/**
 * The terminal bar's "Editor" button: opens the YAML editor above the
 * terminal, loading it (CodeMirror and the schema support, editor.ts) only
 * then, never with the lesson page. Whether it is open is kept per lab.
 */
import { type EditRequest, EVENTS } from './api.ts';
import type { Editor } from './editor.ts';
import { readStored, writeStored } from './stored.ts';

function openKey(lab: string): string {
  return `cdl:editor-open:${lab}`;
}

const button = document.querySelector<HTMLButtonElement>('[data-open-editor]');
const panel = document.querySelector<HTMLElement>('[data-editor]');
const lab = document.querySelector('cdl-terminal')?.getAttribute('lab');

if (button && panel && lab) {
  let editor: Promise<Editor> | undefined;
  const set = async (open: boolean) => {
    button.setAttribute('aria-expanded', String(open));
    panel.hidden = !open;
    writeStored(openKey(lab), open ? 'yes' : 'no');
    if (!open) return;
    editor ??= import('./editor.ts').then(({ openEditor }) => openEditor(panel, lab));
    (await editor).view.focus();
  };
  button.addEventListener('click', () => void set(button.getAttribute('aria-expanded') !== 'true'));
  // A lesson's starter file: the editor opens with it.
  window.addEventListener(EVENTS.edit, (event) => {
    const { file, content } = (event as CustomEvent<EditRequest>).detail;
    void set(true).then(async () => (await editor)?.load(file, content));
  });
  if (readStored(openKey(lab)) === 'yes') void set(true);
}
