/**
 * The commands a lesson asks a learner to run, in the order a learner who
 * follows the lesson runs them, so a test can run each one in the learner's
 * own identity (test/labs/lesson-commands.test.ts). docs/authoring.md ("The
 * lesson") states the same rules for authors.
 *
 * What counts as a command:
 * - every `<Run cmd="…">`, which must be literal (its Run button types it
 *   into the terminal); `exits="1"` says it is meant to exit 1;
 * - every fenced block marked `sh`, `bash` or `shell` (the whole block, as
 *   one script) or `console` (its `$ ` lines); `exits=1` after the language
 *   says how it exits;
 * - every `yaml` block in a `<Solution>` that holds whole objects (each with
 *   `apiVersion` and `kind`): the learner saves and applies it, so it runs
 *   as `kubectl apply -f -`. A fragment (`affinity:` …) is for the learner
 *   to merge into an object and is not run;
 * - every inline code span that starts with `kubectl ` and names more than
 *   the subcommand, in the text, in a `<Hint>` or in a `<Solution>`, and in
 *   the hints of the lab's steps (lab.yaml). A span with a placeholder
 *   (`<namespace>`, `…`) is an outline for the learner to fill in and is
 *   skipped, as is a bare mention of a subcommand (`kubectl describe`).
 *   Such a span cannot say how it exits: one that asks `kubectl auth can-i`
 *   may answer no.
 *
 * The order is the document's, with two exceptions that follow what a
 * learner does rather than where the text sits. A `<Solution>` stands for
 * the learner's own work on the task, so its commands run where the learner
 * does that work: after the last `<Hint>` before the first `<Check>` it
 * answers (or just before that `<Check>` when there is no hint). A lab
 * step's hints say how to look at the result, so they run just before the
 * step's `<Check>`, or at the end when the lesson has none.
 */
import { createProcessor } from '@mdx-js/mdx';
import { parseAllDocuments } from 'yaml';
import type { Lab } from '../contract/content.ts';
import { LessonContentError, type LessonFile } from './lessons.ts';

export type CommandSource = 'run' | 'block' | 'text' | 'hint' | 'solution' | 'lab-hint';

export interface LessonCommand {
  /** What the learner runs, as they would type it. */
  command: string;
  /** The exit status the lesson promises: 0 unless it says otherwise. */
  exits: number;
  source: CommandSource;
  /** Where it is written: `line 15` of the lesson, or `step deploy, hint 2` of lab.yaml. */
  where: string;
  /**
   * It runs until the learner stops it (`kubectl get … -w`, `kubectl logs -f`,
   * `kubectl port-forward`): it passes if it is still running after a few
   * seconds, or if it has exited as promised.
   */
  untilStopped: boolean;
  /**
   * A yes-or-no question asked in inline code (`kubectl auth can-i …` in a
   * hint): the text does not say the answer, so "no" (exit 1, printing no)
   * passes as well as yes; an error does not. A `<Run>` states its answer
   * with `exits`.
   */
  question: boolean;
}

export interface SkippedCommand {
  command: string;
  where: string;
  reason: string;
}

export interface LessonCommands {
  commands: LessonCommand[];
  /** Code that looks like a command and is not run, with the reason. */
  skipped: SkippedCommand[];
}

/** The languages of a fenced block whose content is run; `console` runs only its `$ ` lines. */
const SHELL_LANGUAGES = new Set(['sh', 'bash', 'shell', 'console']);

/** A placeholder for the learner to fill in: `<namespace>`, `<the scratch namespace>`, or an ellipsis. */
const PLACEHOLDER = /<[a-z][a-z0-9 -]*>|…|\.\.\./i;

/** The parts of an MDX tree this module reads; the parser's own types say more. */
interface MdNode {
  type: string;
  name?: string | null;
  value?: string | null;
  lang?: string | null;
  meta?: string | null;
  attributes?: ReadonlyArray<{ type: string; name?: string; value?: unknown }>;
  children?: readonly MdNode[];
  position?: { start: { line: number } };
}

type Item =
  | { kind: 'command'; command: LessonCommand }
  | { kind: 'hint-end' }
  | { kind: 'check'; step: string }
  | { kind: 'solution'; commands: LessonCommand[] };

/** Whether a command runs until stopped: a kubectl watch, a followed log, a port-forward or a proxy. */
export function runsUntilStopped(command: string): boolean {
  const words = command.split(/\s+/);
  if (!words.includes('kubectl')) return false;
  if (words.some((w) => w === '-w' || w === '--watch' || w === '--watch-only' || w === '--watch=true')) return true;
  if (words.includes('logs') && words.some((w) => w === '-f' || w === '--follow' || w === '--follow=true')) return true;
  return words.includes('port-forward') || words.includes('proxy');
}

class Extraction {
  readonly skipped: SkippedCommand[] = [];
  private readonly file: LessonFile;

  constructor(file: LessonFile) {
    this.file = file;
  }

  /** The node's line in the file, front matter included. */
  line(node: MdNode): number {
    return this.file.bodyLine + (node.position?.start.line ?? 1) - 1;
  }

  where(node: MdNode): string {
    return `line ${this.line(node)}`;
  }

  fail(node: MdNode, message: string): never {
    throw new LessonContentError(`${this.file.path}:${this.line(node)}: ${message}`);
  }

  /** An exit status as an author writes it: `exits="1"`, `exits={1}` or, on a fenced block, `exits=1`. */
  exitStatus(node: MdNode, value: string | number): number {
    const text = String(value).trim();
    if (!/^\d{1,3}$/.test(text) || Number(text) > 255) {
      this.fail(node, `exits must be an exit status from 0 to 255, not ${JSON.stringify(value)}`);
    }
    return Number(text);
  }

  /**
   * An attribute's value: `name="…"`, or `name={…}` holding a literal (a
   * string, a number, a template literal without `${}`), which is how an
   * author quotes a command with both kinds of quotes. Anything computed
   * is refused: the command must be readable from the file.
   */
  attribute(node: MdNode, name: string): string | number | undefined {
    const value = node.attributes?.find((a) => a.type === 'mdxJsxAttribute' && a.name === name)?.value;
    if (value === undefined || value === null || typeof value === 'string') return value ?? undefined;
    const literal = literalOf(value);
    if (literal === undefined) this.fail(node, `${name}={…} must be a literal: a string, a number or a template literal without \${…}`);
    return literal;
  }

  /** Every item of a node and its children, in document order; `inside` says what encloses it. */
  items(node: MdNode, inside: 'text' | 'hint' | 'solution'): Item[] {
    if (node.type === 'mdxJsxFlowElement' || node.type === 'mdxJsxTextElement') {
      if (node.name === 'Run') return [{ kind: 'command', command: this.run(node) }];
      if (node.name === 'Check') return [{ kind: 'check', step: String(this.attribute(node, 'step') ?? '') }];
      if (node.name === 'Hint') return [...this.children(node, inside === 'solution' ? 'solution' : 'hint'), { kind: 'hint-end' }];
      if (node.name === 'Solution') {
        const commands = this.children(node, 'solution').flatMap((item) => (item.kind === 'command' ? [item.command] : []));
        return [{ kind: 'solution', commands }];
      }
    }
    if (node.type === 'code') {
      const command = this.block(node) ?? (inside === 'solution' ? this.manifest(node) : undefined);
      return command ? [{ kind: 'command', command }] : [];
    }
    if (node.type === 'inlineCode') {
      const command = inlineCommand(node.value ?? '', inside, this.where(node), this.skipped);
      return command ? [{ kind: 'command', command }] : [];
    }
    return this.children(node, inside);
  }

  children(node: MdNode, inside: 'text' | 'hint' | 'solution'): Item[] {
    return (node.children ?? []).flatMap((child) => this.items(child, inside));
  }

  run(node: MdNode): LessonCommand {
    const cmd = this.attribute(node, 'cmd');
    if (typeof cmd !== 'string' || !cmd.trim()) this.fail(node, '<Run> needs cmd="…", the command as the learner types it');
    const exits = this.attribute(node, 'exits');
    return {
      command: cmd,
      exits: exits === undefined ? 0 : this.exitStatus(node, exits),
      source: 'run',
      where: this.where(node),
      untilStopped: runsUntilStopped(cmd),
      question: false,
    };
  }

  block(node: MdNode): LessonCommand | undefined {
    const lang = node.lang ?? '';
    if (!SHELL_LANGUAGES.has(lang)) return undefined;
    const stated = /(?:^|\s)exits=(\S+)/.exec(node.meta ?? '')?.[1];
    const exits = stated === undefined ? 0 : this.exitStatus(node, stated);
    const text = node.value ?? '';
    const script = lang === 'console' ? consoleCommands(text) : text;
    if (!script.trim()) return undefined;
    const where = this.where(node);
    if (PLACEHOLDER.test(script)) {
      this.skipped.push({ command: script, where, reason: 'it has a placeholder to fill in' });
      return undefined;
    }
    return { command: script, exits, source: 'block', where, untilStopped: runsUntilStopped(script), question: false };
  }

  /** A solution's YAML of whole objects, applied as the learner would apply the file they saved it in. */
  manifest(node: MdNode): LessonCommand | undefined {
    const text = node.value ?? '';
    if (node.lang !== 'yaml' && node.lang !== 'yml') return undefined;
    if (!wholeObjects(text)) return undefined;
    const command = `kubectl apply -f - <<'${HEREDOC}'\n${text}\n${HEREDOC}`;
    return { command, exits: 0, source: 'solution', where: this.where(node), untilStopped: false, question: false };
  }
}

/** The value of an attribute expression that is a single literal, from the parser's estree. */
function literalOf(value: unknown): string | number | undefined {
  const program = (value as { data?: { estree?: { body?: unknown[] } } }).data?.estree;
  if (program?.body?.length !== 1) return undefined;
  const expression = (program.body[0] as { type?: string; expression?: EstreeLiteral }).expression;
  if (expression?.type === 'Literal' && (typeof expression.value === 'string' || typeof expression.value === 'number'))
    return expression.value;
  if (expression?.type === 'TemplateLiteral' && expression.expressions?.length === 0)
    return expression.quasis?.[0]?.value.cooked ?? undefined;
  return undefined;
}

interface EstreeLiteral {
  type: string;
  value?: unknown;
  expressions?: unknown[];
  quasis?: Array<{ value: { cooked?: string | null } }>;
}

/** Ends the here-document that carries a solution's YAML to `kubectl apply`. */
const HEREDOC = 'CDL_MANIFEST';

/** Whether YAML text is one or more whole Kubernetes objects, each with apiVersion and kind. */
function wholeObjects(text: string): boolean {
  if (text.split('\n').includes(HEREDOC)) return false;
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents) || documents.length === 0) return false;
  return documents.every((document) => {
    if (document.errors.length > 0) return false;
    const object: unknown = document.toJS();
    return typeof object === 'object' && object !== null && 'apiVersion' in object && 'kind' in object;
  });
}

/** The commands of a `console` block: its `$ ` lines, with their `\` continuations; the rest is output. */
function consoleCommands(text: string): string {
  const commands: string[] = [];
  let continuing = false;
  for (const line of text.split('\n')) {
    if (continuing) commands.push(line);
    else if (line.startsWith('$ ')) commands.push(line.slice(2));
    else continue;
    continuing = line.endsWith('\\');
  }
  return commands.join('\n');
}

/** A kubectl command in inline code, or undefined (noting why in `skipped` when it looks like one). */
function inlineCommand(code: string, inside: CommandSource, where: string, skipped: SkippedCommand[]): LessonCommand | undefined {
  const command = code.trim();
  if (!command.startsWith('kubectl ')) return undefined;
  if (command.split(/\s+/).length < 3) {
    skipped.push({ command, where, reason: 'it names a subcommand, not a whole command' });
    return undefined;
  }
  if (PLACEHOLDER.test(command)) {
    skipped.push({ command, where, reason: 'it has a placeholder to fill in' });
    return undefined;
  }
  const question = /^kubectl auth can-i\s/.test(command) && !/[|;&]/.test(command);
  return { command, exits: 0, source: inside, where, untilStopped: runsUntilStopped(command), question };
}

/** The kubectl commands of each step's hints in lab.yaml, by step id. */
function labHintCommands(lab: Lab | undefined, skipped: SkippedCommand[]): Map<string, LessonCommand[]> {
  const byStep = new Map<string, LessonCommand[]>();
  for (const step of lab?.steps ?? []) {
    const commands = step.hints.flatMap((hint, i) =>
      [...hint.matchAll(/`([^`]+)`/g)].flatMap(([, code]) => {
        const command = inlineCommand(code ?? '', 'lab-hint', `step ${step.id}, hint ${i + 1}`, skipped);
        return command ? [command] : [];
      }),
    );
    byStep.set(step.id, commands);
  }
  return byStep;
}

/**
 * A stretch of the lesson up to a `<Solution>`, in the learner's order: the
 * solution after the last hint before the first check (else just before
 * that check, else where it stands), each step's lab hints before its check.
 */
function arrange(part: Item[], solution: LessonCommand[], labHints: Map<string, LessonCommand[]>): LessonCommand[] {
  const firstCheck = part.findIndex((item) => item.kind === 'check');
  const end = firstCheck === -1 ? part.length : firstCheck;
  const lastHint = part.slice(0, end).findLastIndex((item) => item.kind === 'hint-end');
  const at = lastHint === -1 ? end : lastHint + 1;
  const ordered: LessonCommand[] = [];
  for (const [i, item] of part.entries()) {
    if (i === at) ordered.push(...solution);
    if (item.kind === 'command') ordered.push(item.command);
    if (item.kind === 'check') {
      ordered.push(...(labHints.get(item.step) ?? []));
      labHints.delete(item.step);
    }
  }
  if (at === part.length) ordered.push(...solution);
  return ordered;
}

/** Every command of the lesson and of its lab's hints, in the order a learner following the lesson runs them. */
export function lessonCommands(file: LessonFile, lab?: Lab): LessonCommands {
  const extraction = new Extraction(file);
  const tree: MdNode = createProcessor().parse(file.body);
  const items = extraction.children(tree, 'text');
  const labHints = labHintCommands(lab, extraction.skipped);
  const commands: LessonCommand[] = [];
  let part: Item[] = [];
  for (const item of items) {
    if (item.kind !== 'solution') {
      part.push(item);
      continue;
    }
    commands.push(...arrange(part, item.commands, labHints));
    part = [];
  }
  commands.push(...arrange(part, [], labHints));
  for (const rest of labHints.values()) commands.push(...rest);
  return { commands, skipped: extraction.skipped };
}
