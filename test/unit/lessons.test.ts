import { compile } from '@mdx-js/mdx';
import { describe, expect, it } from 'vitest';
import { courseCatalog } from '../../checks/catalog.ts';
import { LESSON_COMPONENTS, LESSON_COMPONENTS_MODULE, loadLessons } from '../../content/lessons.ts';
import { TOPICS } from '../../contract/content.ts';

const lessons = loadLessons();
const catalog = courseCatalog();

describe('the lessons', () => {
  it('cover every topic, and every lab has a lesson that walks through it', () => {
    const topics = new Set(lessons.map((l) => l.lesson.topic));
    expect(TOPICS.filter((t) => !topics.has(t.slug)).map((t) => t.slug)).toEqual([]);
    const taught = new Set(lessons.map((l) => l.lesson.lab));
    expect(
      catalog
        .list()
        .filter((lab) => !taught.has(lab.id))
        .map((lab) => lab.id),
    ).toEqual([]);
  });

  it.each(lessons.map((l) => [l.slug, l] as const))('%s compiles, and names only real labs, steps and components', async (_, file) => {
    await compile(file.body, { development: false });
    const lab = file.lesson.lab ? catalog.get(file.lesson.lab) : undefined;
    if (file.lesson.lab) {
      expect(lab, `no lab ${file.lesson.lab}`).toBeDefined();
      expect(lab?.topic).toBe(file.lesson.topic);
    }
    const checked = [...file.body.matchAll(/<Check step="([^"]+)"/g)].map((m) => m[1]);
    expect(checked.sort()).toEqual((lab?.steps.map((s) => s.id) ?? []).sort());
    for (const line of file.body.split('\n').filter((l) => l.startsWith('import '))) {
      const [, names, from] = /^import \{ (.+) \} from '(.+)';$/.exec(line) ?? [];
      expect(from).toBe(LESSON_COMPONENTS_MODULE);
      for (const name of names?.split(', ') ?? []) expect(LESSON_COMPONENTS).toContain(name);
    }
  });
});
