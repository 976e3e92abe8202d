/**
 * Inline code in the plain strings the lab server sends (check messages and
 * hints, error messages, why a lab cannot run): `kubectl get pods` between
 * backticks, as Markdown writes it, shown as <code>. Those strings carry
 * whatever the names of a learner's objects hold, so they become text nodes
 * and <code> elements here, never HTML. Only code spans are read; any other
 * Markdown stays as it was written.
 */

export interface Span {
  /** Between backticks: shown as code. */
  code: boolean;
  text: string;
}

/** The length of the run of backticks at `at`. */
function run(source: string, at: number): number {
  let end = at;
  while (source[end] === '`') end++;
  return end - at;
}

/** Where the next run of exactly `width` backticks from `from` starts, or -1. */
function closing(source: string, from: number, width: number): number {
  for (let at = source.indexOf('`', from); at !== -1; at = source.indexOf('`', at + run(source, at))) {
    if (run(source, at) === width) return at;
  }
  return -1;
}

/**
 * The text and code spans of `source`, by CommonMark's rule: a run of n
 * backticks opens a span that the next run of exactly n closes, so
 * ``a`b`` holds a backtick; a run that nothing closes stays literal. Inside,
 * line breaks read as spaces, and one space is taken from each end when both
 * have one (so `` `x` `` shows `x` with its backticks).
 */
export function codeSpans(source: string): Span[] {
  const spans: Span[] = [];
  let text = '';
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('`', at);
    if (open === -1) {
      text += source.slice(at);
      break;
    }
    text += source.slice(at, open);
    const width = run(source, open);
    const close = closing(source, open + width, width);
    if (close === -1) {
      text += source.slice(open, open + width);
      at = open + width;
      continue;
    }
    let code = source.slice(open + width, close).replace(/\r\n|\r|\n/g, ' ');
    if (code.startsWith(' ') && code.endsWith(' ') && /[^ ]/.test(code)) code = code.slice(1, -1);
    if (text) spans.push({ code: false, text });
    spans.push({ code: true, text: code });
    text = '';
    at = close + width;
  }
  if (text) spans.push({ code: false, text });
  return spans;
}

/** `source` as nodes to append: strings (which `append` makes text nodes) and <code> elements. */
export function inlineCode(source: string): Array<string | HTMLElement> {
  return codeSpans(source).map((span) => {
    if (!span.code) return span.text;
    const code = document.createElement('code');
    code.textContent = span.text;
    return code;
  });
}
