// Lessons load from content/lessons with the same schema the tests and the
// server use: a lesson whose front matter is wrong fails the build.
import { defineCollection } from 'astro:content';
import { glob } from 'astro/loaders';
import { LessonSchema } from '../../contract/content.ts';

export const collections = {
  lessons: defineCollection({
    loader: glob({ pattern: '**/*.mdx', base: '../content/lessons' }),
    schema: LessonSchema,
  }),
};
