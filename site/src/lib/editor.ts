/**
 * The YAML editor beside the terminal, loaded only when the learner opens
 * it (never on a lesson page's first load): CodeMirror 6 with YAML, and the
 * JSON Schema of the kind being written, from the learner's cluster
 * (`GET /api/schema`), so a misspelt field or a wrong type is underlined as
 * the learner types, CRDs included, and field names are completed
 * (schema-completion.ts; Ctrl+Space lists them). "Validate on the cluster" sends the
 * text for a server-side dry run in the learner's identity
 * (`POST /api/labs/{lab}/validate`): Pod Security, quotas and admission
 * policies answer on the lines they concern. The text is kept in the
 * browser for the lab, across reloads.
 */

import { autocompletion } from '@codemirror/autocomplete';
import { indentWithTab } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import { indentOnInput } from '@codemirror/language';
import { type Diagnostic, linter, lintGutter, setDiagnostics } from '@codemirror/lint';
import type { Extension } from '@codemirror/state';
import { highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';
import { EditorView, minimalSetup } from 'codemirror';
import * as jsonSchema from 'codemirror-json-schema';
import { yamlSchemaLinter } from 'codemirror-json-schema/yaml';
import type { Answer } from '../../../contract/api.ts';
import { FILE_NAME } from '../../../contract/files.ts';
import { ApiError, api } from './api.ts';
import { inlineCode } from './inline-code.ts';
import { schemaCompletion } from './schema-completion.ts';
import { readStored, writeStored } from './stored.ts';

/**
 * The library's schema state. Its types re-export these with `export *`
 * from extensionless paths, which TypeScript's nodenext resolution does not
 * follow: they are named here as the library declares them.
 */
const { handleRefresh, stateExtensions, updateSchema } = jsonSchema as unknown as {
  handleRefresh: typeof jsonSchema.handleRefresh;
  stateExtensions: (schema?: object) => Extension[];
  updateSchema: (view: EditorView, schema?: object) => void;
};

const STARTER = "# Write or paste YAML here: it is checked against this cluster's own schema as you type.\n";
/** How long typing pauses before the kind's schema is looked up again. */
const KIND_DEBOUNCE_MS = 400;

function storageKey(lab: string): string {
  return `cdl:editor:${lab}`;
}

/** The file name the editor saves as, kept per lab. */
const DEFAULT_FILE = 'manifest.yaml';

function savedName(lab: string): string {
  const name = readStored(`${storageKey(lab)}:name`);
  return name && FILE_NAME.test(name) ? name : DEFAULT_FILE;
}

/** The first document's apiVersion and kind, as written at the top level. */
export function kindOf(text: string): { apiVersion: string; kind: string } | undefined {
  const first = text.split(/^---\s*$/m).find((doc) => /^kind:/m.test(doc)) ?? '';
  const apiVersion = /^apiVersion:\s*["']?([^\s"'#]+)/m.exec(first)?.[1];
  const kind = /^kind:\s*["']?([^\s"'#]+)/m.exec(first)?.[1];
  return apiVersion && kind ? { apiVersion, kind } : undefined;
}

/**
 * A field the schema does not know is reported on the whole object that
 * holds it: the diagnostic is moved onto the field's own key, the line the
 * learner mistyped.
 */
export function onUnknownKey(diagnostics: readonly Diagnostic[], text: string): Diagnostic[] {
  return diagnostics.map((d) => {
    const key = /^Additional property `([^`]+)`/.exec(d.message)?.[1];
    if (!key) return d;
    const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const found = new RegExp(`(^|\\n)([ \\t]*(?:- )?)(${escaped})[ \\t]*:`).exec(text.slice(d.from, d.to));
    if (!found) return d;
    const from = d.from + found.index + (found[1]?.length ?? 0) + (found[2]?.length ?? 0);
    return { ...d, from, to: from + key.length };
  });
}

export interface Editor {
  view: EditorView;
  /** Replaces the text with a lesson's starter file, to be saved as `file`. */
  load(file: string, content: string): void;
  destroy(): void;
}

function button(text: string, title: string): HTMLButtonElement {
  const made = document.createElement('button');
  made.type = 'button';
  made.textContent = text;
  made.title = title;
  return made;
}

/** Builds the editor in `host`: its toolbar, the CodeMirror view, and what the cluster said. */
export function openEditor(host: HTMLElement, lab: string): Editor {
  const toolbar = document.createElement('div');
  toolbar.className = 'editor-bar';
  const nameLabel = document.createElement('label');
  nameLabel.textContent = 'File ';
  const nameInput = document.createElement('input');
  nameInput.value = savedName(lab);
  nameInput.spellcheck = false;
  nameInput.size = 16;
  nameInput.setAttribute('aria-describedby', 'editor-file-rule');
  nameLabel.append(nameInput);
  const rule = document.createElement('span');
  rule.id = 'editor-file-rule';
  rule.className = 'visually-hidden';
  rule.textContent = 'Lower-case letters, digits, dots, dashes or underscores, ending in .yaml';
  const save = button('Save', "Saves it where this lab's terminals find it: ~/files/<name> (Ctrl+S)");
  const validate = button('Validate on the cluster', 'A dry run in your identity: nothing is created');
  const status = document.createElement('div');
  status.className = 'editor-status';
  status.setAttribute('role', 'status');
  toolbar.append(nameLabel, rule, save, validate, status);
  const answers = document.createElement('ul');
  answers.className = 'editor-answers';
  answers.setAttribute('aria-label', "The cluster's answers");
  const area = document.createElement('div');
  area.className = 'editor-area';
  host.replaceChildren(toolbar, area, answers);

  const say = (text: string) => status.replaceChildren(...inlineCode(text));
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current = '';
  const schemaLint = yamlSchemaLinter();
  /** The schema of the kind being written, for completion (the linter keeps its own copy in the state). */
  let schemaNow: Record<string, unknown> | undefined;

  const view = new EditorView({
    parent: area,
    doc: readStored(storageKey(lab)) ?? STARTER,
    extensions: [
      // The small setup (history, selection, highlighting, the default keys) and what YAML needs;
      // not the search panel or the folding gutter, which cost more than they give here.
      minimalSetup,
      lineNumbers(),
      highlightActiveLine(),
      indentOnInput(),
      keymap.of([indentWithTab]),
      yaml(),
      lintGutter(),
      autocompletion({ override: [schemaCompletion(() => schemaNow)] }),
      linter((view) => onUnknownKey(schemaLint(view), view.state.doc.toString()), { needsRefresh: handleRefresh }),
      stateExtensions(),
      EditorView.contentAttributes.of({ 'aria-label': 'YAML' }),
      keymap.of([
        {
          key: 'Mod-s',
          preventDefault: true,
          run: () => {
            void saveFile();
            return true;
          },
        },
      ]),
      EditorView.updateListener.of((update) => {
        if (!update.docChanged) return;
        const text = update.state.doc.toString();
        writeStored(storageKey(lab), text);
        clearTimeout(timer);
        timer = setTimeout(() => void lookUp(text), KIND_DEBOUNCE_MS);
      }),
    ],
  });

  /** Fetches the schema of the kind being written, once per kind. */
  async function lookUp(text: string): Promise<void> {
    const found = kindOf(text);
    const key = found ? `${found.apiVersion}/${found.kind}` : '';
    if (key === current) return;
    current = key;
    if (!found) {
      schemaNow = undefined;
      updateSchema(view);
      say('Write an `apiVersion` and a `kind`: fields are checked against them.');
      return;
    }
    try {
      const query = new URLSearchParams(found);
      const schema = await api<Answer<'schema', 200>>('GET', `/api/schema?${query}`);
      if (current !== key) return;
      schemaNow = schema;
      updateSchema(view, schema);
      say(`Checked against this cluster's schema of ${found.kind} (${found.apiVersion}).`);
    } catch (error) {
      if (current !== key) return;
      schemaNow = undefined;
      updateSchema(view);
      say(error instanceof ApiError ? error.message : String(error));
    }
  }

  /** Saves the text for the lab's terminals: `kubectl apply -f ~/files/<name>` then uses it. */
  async function saveFile(): Promise<void> {
    const name = nameInput.value.trim();
    if (!FILE_NAME.test(name)) {
      say('A file name is lower-case letters, digits, dots, dashes or underscores, ending in `.yaml` or `.yml`.');
      nameInput.focus();
      return;
    }
    save.disabled = true;
    try {
      const saved = await api<Answer<'saveFile', 200>>('POST', `/api/labs/${lab}/files/${name}`, { content: view.state.doc.toString() });
      writeStored(`${storageKey(lab)}:name`, name);
      say(`Saved: \`kubectl apply -f ${saved.path}\` in the terminal uses it.`);
    } catch (error) {
      say(error instanceof ApiError ? `${error.message}${error.hint ? ` ${error.hint}` : ''}` : String(error));
    } finally {
      save.disabled = false;
    }
  }
  save.addEventListener('click', () => void saveFile());

  validate.addEventListener('click', async () => {
    validate.disabled = true;
    say('Asking the cluster…');
    const text = view.state.doc.toString();
    try {
      const { results } = await api<Answer<'validate', 200>>('POST', `/api/labs/${lab}/validate`, { yaml: text });
      const diagnostics: Diagnostic[] = [];
      const items: HTMLLIElement[] = [];
      for (const result of results) {
        const name = [result.kind, result.name].filter(Boolean).join(' ');
        const item = document.createElement('li');
        item.className = result.ok ? 'ok' : 'refused';
        item.replaceChildren(
          ...inlineCode(
            `${name || `Document ${result.index + 1}`}: ${result.ok ? 'the cluster would accept it' : (result.message ?? 'refused')}`,
          ),
        );
        items.push(item);
        if (result.ok) continue;
        const lines = result.fields?.length ? result.fields.map((f) => f.line) : [result.line];
        for (const number of lines) {
          const line = view.state.doc.line(Math.min(Math.max(1, number), view.state.doc.lines));
          diagnostics.push({
            from: line.from,
            to: line.to,
            severity: 'error',
            source: 'the cluster',
            message: result.message ?? 'refused',
          });
        }
      }
      answers.replaceChildren(...items);
      view.dispatch(setDiagnostics(view.state, diagnostics));
      const refused = results.filter((r) => !r.ok).length;
      say(
        refused === 0
          ? `The cluster would accept ${results.length === 1 ? 'it' : `all ${results.length}`}.`
          : `The cluster refuses ${refused} of ${results.length}.`,
      );
    } catch (error) {
      say(error instanceof ApiError ? `${error.message}${error.hint ? ` ${error.hint}` : ''}` : String(error));
    } finally {
      validate.disabled = false;
    }
  });

  void lookUp(view.state.doc.toString());
  return {
    view,
    load(file, content) {
      if (FILE_NAME.test(file)) nameInput.value = file;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: content } });
      say(`Opened \`${file}\` from the lesson: finish it, check it, then Save.`);
      view.focus();
    },
    destroy() {
      clearTimeout(timer);
      view.destroy();
    },
  };
}
