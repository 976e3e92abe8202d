/**
 * Reads the lessons from `content/lessons/<topic>/<slug>.mdx`: the front
 * matter, validated by the lesson schema, and the MDX body. The site loads
 * the same files as an Astro content collection with the same schema.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { type Lesson, LessonSchema } from '../contract/content.ts';
import { describeIssues, UserError } from '../contract/errors.ts';
import { CONTENT_DIR } from './load.ts';

export const LESSONS_DIR = join(CONTENT_DIR, 'lessons');

/** What an author imports components from; the site resolves it. */
export const LESSON_COMPONENTS_MODULE = '@lesson';
export const LESSON_COMPONENTS = ['Check', 'Edit', 'Hint', 'LabControls', 'Run', 'Solution'] as const;

export interface LessonFile {
  slug: string;
  path: string;
  lesson: Lesson;
  body: string;
  /** The line of the file the body starts on (after the front matter), for messages that name a line. */
  bodyLine: number;
}

export class LessonContentError extends UserError {
  constructor(message: string) {
    super('lesson_invalid', message, 'See docs/authoring.md for what each field of the front matter means.');
  }
}

const FRONT_MATTER = /^---\n([\s\S]*?)\n---\n/;

export function loadLesson(path: string): LessonFile {
  const where = relative(process.cwd(), path);
  const text = readFileSync(path, 'utf8');
  const match = FRONT_MATTER.exec(text);
  if (!match) throw new LessonContentError(`${where}: no front matter between --- lines at the top`);
  const parsed = LessonSchema.safeParse(parse(match[1] ?? ''));
  if (!parsed.success) {
    throw new LessonContentError(`${where}: ${describeIssues(parsed.error, { schema: LessonSchema })}`);
  }
  const topic = relative(LESSONS_DIR, path).split(/[\\/]/)[0];
  if (topic !== parsed.data.topic)
    throw new LessonContentError(`${where}: topic "${parsed.data.topic}" but the lesson is in the folder ${topic}/`);
  return {
    slug: relative(LESSONS_DIR, path).replace(/\.mdx$/, ''),
    path,
    lesson: parsed.data,
    body: text.slice(match[0].length),
    bodyLine: match[0].split('\n').length,
  };
}

export function loadLessons(dir = LESSONS_DIR): LessonFile[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.mdx'))
    .sort()
    .map((file) => loadLesson(join(dir, file)));
}
