/**
 * Errors a person reads. Every failure the platform expects (a bad setting,
 * a mistake in a lab's files, a lab that is not started, a cluster that
 * cannot start) is a `UserError`: a sentence saying what is wrong, a code a
 * program can branch on, and a hint saying what to do. Command-line tools
 * print the message and the hint instead of a stack trace; the lab server
 * maps the class to an HTTP or WebSocket answer at its edge.
 *
 * And the one place a zod error becomes words: `describeIssues` turns the
 * issues of a failed parse into `where: what` phrases, the same for a lab's
 * YAML, a lesson's front matter, a setting or a request body.
 */
import type { z } from 'zod';

export class UserError extends Error {
  /** A stable, machine-readable name for this kind of failure, e.g. `lab_not_started`. */
  readonly code: string;
  /** What the reader can do about it, as one short sentence. */
  readonly hint: string | undefined;

  constructor(code: string, message: string, hint?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.hint = hint;
  }
}

type Issue = z.core.$ZodIssue;

/** `steps[2].hints[0]` from `['steps', 2, 'hints', 0]`; the root is `root`. */
export function issuePath(path: readonly PropertyKey[], root = '(root)'): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || root;
}

/** The closest of `candidates` to `word` (at most two edits, or a difference of case or a letter), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= Math.min(2, Math.floor(candidate.length / 3)) && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The keys an object schema at `path` of `schema` accepts, to suggest one for a misspelt key. */
function knownKeys(schema: z.core.$ZodType | undefined, path: readonly PropertyKey[]): string[] {
  let at = schema;
  const unwrap = () => {
    for (let guard = 0; at && guard < 10; guard += 1) {
      const def = at._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType; schema?: z.core.$ZodType };
      const inner = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
      if (!inner) return;
      at = inner;
    }
  };
  for (const key of path) {
    unwrap();
    const def = at?._zod.def as { type?: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType } | undefined;
    if (def?.type === 'object' && typeof key === 'string') at = def.shape?.[key];
    else if (def?.type === 'array' && typeof key === 'number') at = def.element;
    else return [];
  }
  unwrap();
  const def = at?._zod.def as { type?: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

/** zod's own wording (an author's message, given in the schema, is kept as it is). */
const ZOD_DEFAULT = /^(Invalid (input|option)|Unrecognized key|Too (big|small))/;

function describeIssue(issue: Issue, schema: z.core.$ZodType | undefined, root: string): string[] {
  const where = issuePath(issue.path, root);
  if (issue.code !== 'unrecognized_keys' && !ZOD_DEFAULT.test(issue.message)) return [`${where}: ${issue.message}`];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(schema, issue.path);
      return issue.keys.map((key) => {
        const guess = closest(key, known);
        return `${issuePath([...issue.path, key], root)}: unknown field${guess ? ` (did you mean "${guess}"?)` : ''}`;
      });
    }
    case 'invalid_type': {
      // zod reports what it received only in its message ("…, received undefined").
      const received = /received (\w+)$/.exec(issue.message)?.[1];
      if (received === 'undefined') return [`${where}: is required`];
      return [`${where}: must be ${kind(issue.expected)}${received ? `, not ${kind(received)}` : ''}`];
    }
    case 'too_big':
    case 'too_small':
      return [`${where}: ${bound(issue)}`];
    case 'invalid_value':
      return [`${where}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`];
    case 'invalid_union':
      return [`${where}: matches none of the shapes allowed here`];
    default:
      return [`${where}: ${issue.message}`];
  }
}

/** A JSON type as an author of YAML calls it. */
function kind(type: string): string {
  const words: Record<string, string> = { object: 'a map', array: 'a list', null: 'null', int: 'a whole number' };
  return words[type] ?? (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);
}

function bound(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall): string {
  const big = issue.code === 'too_big';
  const limit = Number(big ? issue.maximum : issue.minimum);
  const exact = issue.inclusive === false ? (big ? 'less than' : 'more than') : big ? 'at most' : 'at least';
  const plural = (word: string) => `${limit} ${word}${limit === 1 ? '' : 's'}`;
  switch (issue.origin) {
    case 'string':
      return `must be ${exact} ${plural('character')} long`;
    case 'array':
    case 'set':
      return limit === 1 && !big ? 'must not be empty' : `must have ${exact} ${plural('item')}`;
    default:
      return `must be ${exact} ${limit}`;
  }
}

/**
 * The issues of a failed parse as words, one phrase per problem joined by
 * `; `. `schema` (the one that failed) lets an unknown key suggest the field
 * it was probably meant to be; `root` names the whole input.
 */
export function describeIssues(error: z.ZodError, options: { schema?: z.core.$ZodType; root?: string } = {}): string {
  return error.issues.flatMap((issue) => describeIssue(issue, options.schema, options.root ?? '(root)')).join('; ');
}
