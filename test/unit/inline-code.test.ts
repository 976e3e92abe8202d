/** Code spans in the server's plain strings: what becomes <code>, what stays text, and that nothing becomes markup. */
import { describe, expect, it } from 'vitest';
import { codeSpans } from '../../site/src/lib/inline-code.ts';

const code = (text: string) => ({ code: true, text });
const text = (text: string) => ({ code: false, text });

describe('code spans in check messages and hints', () => {
  it('reads text between backticks as code', () => {
    expect(codeSpans('Take secrets out of the rules: `kubectl auth can-i --list --as x` says what is left.')).toEqual([
      text('Take secrets out of the rules: '),
      code('kubectl auth can-i --list --as x'),
      text(' says what is left.'),
    ]);
    expect(codeSpans('`kubectl scale --help`, or look at spec.replicas.')).toEqual([
      code('kubectl scale --help'),
      text(', or look at spec.replicas.'),
    ]);
    expect(codeSpans('`a` and `b`')).toEqual([code('a'), text(' and '), code('b')]);
    expect(codeSpans('no code here')).toEqual([text('no code here')]);
    expect(codeSpans('')).toEqual([]);
  });

  it('leaves an unmatched backtick as it is', () => {
    expect(codeSpans('a ` alone')).toEqual([text('a ` alone')]);
    expect(codeSpans('`one` and ` another')).toEqual([code('one'), text(' and ` another')]);
    expect(codeSpans('``two, then one`')).toEqual([text('``two, then one`')]);
  });

  it('takes a backtick inside double backticks, as Markdown does', () => {
    expect(codeSpans('``a`b``')).toEqual([code('a`b')]);
    expect(codeSpans('`` `x` `` quoted')).toEqual([code('`x`'), text(' quoted')]);
    expect(codeSpans('```` ``` ````')).toEqual([code('```')]);
    // A single backtick is closed by the next single one, not by a pair.
    expect(codeSpans('`a``b` c')).toEqual([code('a``b'), text(' c')]);
  });

  it('reads line breaks in code as spaces and keeps spaces that are all there is', () => {
    expect(codeSpans('`kubectl get\npods`')).toEqual([code('kubectl get pods')]);
    expect(codeSpans('` `')).toEqual([code(' ')]);
    expect(codeSpans('`  a  `')).toEqual([code(' a ')]);
  });

  it('keeps markup as text, in code and out of it', () => {
    const markup = '<img src=x onerror="alert(1)">';
    expect(codeSpans(`name ${markup} in \`${markup}\``)).toEqual([text(`name ${markup} in `), code(markup)]);
    expect(codeSpans('`<script>alert(1)</script>` &amp; <b>')).toEqual([code('<script>alert(1)</script>'), text(' &amp; <b>')]);
  });

  it('gives back every character outside code as it was written', () => {
    const source = 'a ` b `` c ``` d';
    expect(
      codeSpans(source)
        .map((s) => s.text)
        .join(''),
    ).toBe(source);
  });
});
