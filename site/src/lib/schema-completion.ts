/**
 * Completion of field names from the kind's JSON Schema (the server's
 * draft-07, with local `#/definitions/…` references): where the cursor
 * starts a key, the path to it is read from the indentation of the lines
 * above (a key, or a list item `- ` under one), the schema is walked along
 * that path, and the object's properties not yet written are offered, each
 * with its type and the first line of its description.
 */
import type { Completion, CompletionContext, CompletionResult } from '@codemirror/autocomplete';

type Schema = { [key: string]: unknown };

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follows `$ref` (and a lone `allOf`) to the schema it names. */
function resolve(schema: unknown, root: Schema): Schema | undefined {
  let node = schema;
  for (let hops = 0; hops < 32 && isSchema(node); hops++) {
    const ref = node.$ref;
    if (typeof ref === 'string' && ref.startsWith('#/definitions/')) {
      node = (root.definitions as Schema | undefined)?.[ref.slice('#/definitions/'.length)];
      continue;
    }
    const allOf = node.allOf;
    if (Array.isArray(allOf) && allOf.length === 1) {
      node = allOf[0];
      continue;
    }
    return node;
  }
  return undefined;
}

/** A step of the path: a key, or into a list's items. */
type Step = { key: string } | { item: true };

/** The schema at `path` from the root, or undefined when the path leaves it. */
export function schemaAt(root: Schema, path: readonly Step[]): Schema | undefined {
  let node: Schema | undefined = resolve(root, root);
  for (const step of path) {
    if (!node) return undefined;
    node = 'key' in step ? resolve((node.properties as Schema | undefined)?.[step.key], root) : resolve(node.items, root);
  }
  return node;
}

interface Line {
  indent: number;
  /** The key the line starts (after any `- `), if it starts one. */
  key?: string;
  /** Whether the line starts a list item, and the column its content starts at. */
  item?: number;
}

function readLine(text: string): Line | undefined {
  if (/^\s*(#.*)?$/.test(text)) return undefined;
  const match = /^(\s*)(- +)?([^\s:#][^:#]*?)?\s*:(\s|$)/.exec(text);
  const indent = /^\s*/.exec(text)?.[0].length ?? 0;
  const dash = /^(\s*)- +/.exec(text);
  const line: Line = { indent };
  if (dash) line.item = (dash[0] ?? '').length;
  if (match?.[3]) line.key = match[3].trim();
  return line;
}

/**
 * The path to a key written at `column` after the lines `above`, and the
 * keys its object already has. Walking up: a line at the same level is a
 * sibling; a `- ` whose content starts at this level is the list item that
 * holds the object; a key further left is the parent (a list may also sit
 * at its parent key's own indentation).
 */
export function pathAt(above: readonly string[], column: number): { path: Step[]; siblings: string[] } {
  const path: Step[] = [];
  const siblings: string[] = [];
  let limit = column;
  let listAtParent = false;
  let collecting = true;
  for (let i = above.length - 1; i >= 0; i--) {
    const line = readLine(above[i] ?? '');
    if (!line) continue;
    const content = line.item ?? line.indent;
    if (line.item !== undefined && line.item === limit && line.indent < limit && !listAtParent) {
      // The list item that holds the object: its own key is a sibling.
      if (collecting && line.key) siblings.push(line.key);
      path.unshift({ item: true });
      limit = line.indent;
      listAtParent = true;
      collecting = false;
      continue;
    }
    const parent = line.indent < limit || (listAtParent && line.indent === limit && line.item === undefined);
    if (!parent) {
      if (collecting && content === limit && line.key) siblings.push(line.key);
      continue;
    }
    if (!line.key) break;
    path.unshift({ key: line.key });
    collecting = false;
    listAtParent = false;
    limit = line.indent;
    if (line.item !== undefined) {
      // `- key:` further up: the key belongs to an item of a list.
      path.unshift({ item: true });
      listAtParent = true;
    }
  }
  return { path, siblings };
}

function typeOf(schema: Schema | undefined): string {
  const type = schema?.type;
  if (Array.isArray(type)) return type.join(' | ');
  if (typeof type === 'string') return type;
  if (Array.isArray(schema?.oneOf)) return 'int or string';
  return '';
}

/** A completion source over the schema `current()` gives (none: no completion). */
export function schemaCompletion(current: () => Schema | undefined): (ctx: CompletionContext) => CompletionResult | null {
  return (ctx) => {
    const root = current();
    if (!root) return null;
    const line = ctx.state.doc.lineAt(ctx.pos);
    const before = line.text.slice(0, ctx.pos - line.from);
    // Only where a key is being started: indentation, an optional `- `, then a word.
    const typed = /^(\s*(?:- +)?)([A-Za-z0-9_.-]*)$/.exec(before);
    if (!typed) return null;
    if (!ctx.explicit && (typed[2] ?? '').length === 0) return null;
    const column = (typed[1] ?? '').length;
    const above: string[] = [];
    for (let n = line.number - 1; n >= 1; n--) {
      const text = ctx.state.doc.line(n).text;
      if (/^---\s*$/.test(text)) break;
      above.unshift(text);
    }
    const { path, siblings } = pathAt(above, column);
    const object = schemaAt(root, path);
    const properties = object?.properties as Schema | undefined;
    if (!properties) return null;
    const options: Completion[] = Object.entries(properties)
      .filter(([name]) => !siblings.includes(name))
      .map(([name, value]) => {
        const schema = resolve(value, root);
        const description = typeof schema?.description === 'string' ? schema.description : '';
        return { label: name, type: 'property', detail: typeOf(schema), info: description.split('\n')[0], apply: `${name}: ` };
      });
    return { from: ctx.pos - (typed[2] ?? '').length, options, validFor: /^[A-Za-z0-9_.-]*$/ };
  };
}
