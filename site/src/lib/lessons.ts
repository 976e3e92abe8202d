/** The lessons by topic, in the course's order. */
import { type CollectionEntry, getCollection } from 'astro:content';
import { TOPICS } from '../../../contract/content.ts';

export type LessonEntry = CollectionEntry<'lessons'>;

export async function lessonsByTopic(): Promise<Array<{ slug: string; title: string; lessons: LessonEntry[] }>> {
  const lessons = await getCollection('lessons');
  return TOPICS.map((topic) => ({
    ...topic,
    lessons: lessons.filter((l) => l.data.topic === topic.slug).sort((a, b) => a.data.order - b.data.order),
  }));
}

export function lessonHref(entry: LessonEntry): string {
  return `/lessons/${entry.id}/`;
}
