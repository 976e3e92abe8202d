/**
 * README.md documents every setting and nothing else: its settings tables
 * (every table headed `variable | default | what it does`) name exactly the
 * variables of contract/settings.ts, each once, and where the schema has a
 * fixed default the table shows that default. A new setting without docs, or
 * a row for a setting that is gone, fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../cluster/src/paths.ts';
import { SETTING_NAMES, SettingsSchema } from '../../contract/settings.ts';

interface Row {
  variable: string;
  fallback: string;
  line: number;
}

const HEADER = ['variable', 'default', 'what it does'];

/** The cells of a Markdown table row, `|` inside backticks left alone (there are none in these tables). */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((cell) => cell.trim());
}

/** The rows of every settings table in `markdown`. */
function settingsRows(markdown: string): Row[] {
  const lines = markdown.split('\n');
  const rows: Row[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const header = lines[i] ?? '';
    if (!header.trim().startsWith('|') || cells(header).join('|') !== HEADER.join('|')) continue;
    // Skip the header and its |---| line; the table ends at the first line that is not a row.
    for (let j = i + 2; j < lines.length && (lines[j] ?? '').trim().startsWith('|'); j += 1) {
      const [first = '', fallback = ''] = cells(lines[j] ?? '');
      const variable = /^`([A-Z][A-Z0-9_]*)`$/.exec(first)?.[1];
      if (!variable) throw new Error(`README.md:${j + 1}: a settings row must start with a variable in backticks, not ${first}`);
      rows.push({ variable, fallback, line: j + 1 });
    }
  }
  return rows;
}

/** The default the schema gives a variable when it is unset, if it has one. */
function schemaDefault(name: string): unknown {
  const field = SettingsSchema.shape[name as keyof typeof SettingsSchema.shape];
  const parsed = field.safeParse(undefined);
  return parsed.success ? parsed.data : undefined;
}

const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
const rows = settingsRows(readme);
const documented = rows.map((row) => row.variable);

describe("README.md's settings tables", () => {
  it('are there to check', () => {
    expect(rows.length).toBeGreaterThan(0);
  });

  it('document every setting of the schema', () => {
    const undocumented = SETTING_NAMES.filter((name) => !documented.includes(name));
    expect(undocumented, 'settings in contract/settings.ts without a row in README.md').toEqual([]);
  });

  it('document nothing but the settings of the schema', () => {
    const stale = rows.filter((row) => !SETTING_NAMES.includes(row.variable)).map((row) => `${row.variable} (README.md:${row.line})`);
    expect(stale, 'rows in README.md for variables contract/settings.ts does not read').toEqual([]);
  });

  it('document each setting once', () => {
    const twice = documented.filter((name, i) => documented.indexOf(name) !== i);
    expect(twice).toEqual([]);
  });

  it('show each fixed default as the schema has it', () => {
    const wrong = rows
      .filter((row) => SETTING_NAMES.includes(row.variable))
      .flatMap((row) => {
        const fallback = schemaDefault(row.variable);
        if (fallback === undefined) return [];
        const expected = `\`${String(fallback)}\``;
        return row.fallback === expected ? [] : [`${row.variable} (README.md:${row.line}): ${row.fallback || '(empty)'}, not ${expected}`];
      });
    expect(wrong).toEqual([]);
  });
});
