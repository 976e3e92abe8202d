/**
 * The words a user reads for each kind of mistake in what they wrote: a
 * lab's YAML, a lesson's front matter, a request body. One snapshot per
 * kind, so a change in wording shows in review.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ROUTES } from '../../contract/api.ts';
import { LabSchema, LessonSchema } from '../../contract/content.ts';
import { closest, describeIssues, issuePath, UserError } from '../../contract/errors.ts';

const lab = {
  id: 'first-deployment',
  title: 'Your first deployment',
  topic: 'getting-started',
  summary: 'Deploy an app and expose it inside the cluster.',
  minutes: 15,
  scope: 'namespace',
  namespaces: [{ name: 'app' }],
  steps: [{ id: 'deploy', title: 'Deploy it', task: 'Create a Deployment of two replicas.', hints: ['Look at kubectl create.'] }],
  wrong: [{ file: 'one-replica.yaml', why: 'One is enough?', step: 'deploy', criterion: 'replicas', messageIncludes: 'replicas' }],
};

function mistake(schema: z.ZodType, value: unknown, root?: string): string {
  const parsed = schema.safeParse(value);
  if (parsed.success) throw new Error('the value was accepted');
  return describeIssues(parsed.error, { schema, ...(root ? { root } : {}) });
}

describe('what a user reads for a mistake', () => {
  it('accepts the example lab, so each case below has one mistake', () => {
    expect(LabSchema.safeParse(lab).success).toBe(true);
  });

  it('a misspelt field names it and suggests the right one', () => {
    expect(mistake(LabSchema, { ...lab, needContainers: true })).toMatchInlineSnapshot(
      `"needContainers: unknown field (did you mean "needsContainers"?)"`,
    );
  });

  it('a misspelt field deep in a list names where it is', () => {
    expect(mistake(LabSchema, { ...lab, steps: [{ ...lab.steps[0], hint: ['x'] }] })).toMatchInlineSnapshot(
      `"steps[0].hint: unknown field (did you mean "hints"?)"`,
    );
  });

  it('an unknown field with no near name is only named', () => {
    expect(mistake(LabSchema, { ...lab, colour: 'blue' })).toMatchInlineSnapshot(`"colour: unknown field"`);
  });

  it('a missing field says it is required', () => {
    const { summary: _, ...without } = lab;
    expect(mistake(LabSchema, without)).toMatchInlineSnapshot(`"summary: is required"`);
  });

  it('a value of the wrong type says what it must be and what it is', () => {
    expect(mistake(LabSchema, { ...lab, minutes: '15' })).toMatchInlineSnapshot(`"minutes: must be a number, not a string"`);
    expect(mistake(LabSchema, { ...lab, namespaces: { app: {} } })).toMatchInlineSnapshot(`"namespaces: must be a list, not a map"`);
  });

  it('a value outside a list of choices lists them', () => {
    expect(mistake(LabSchema, { ...lab, scope: 'cluster-wide' })).toMatchInlineSnapshot(`"scope: must be one of "namespace", "cluster""`);
  });

  it('a value out of range, too short or of the wrong form says the rule', () => {
    expect(mistake(LabSchema, { ...lab, minutes: 500 })).toMatchInlineSnapshot(`"minutes: must be at most 120"`);
    expect(mistake(LabSchema, { ...lab, title: 'Hi' })).toMatchInlineSnapshot(`"title: must be at least 3 characters long"`);
    expect(mistake(LabSchema, { ...lab, id: 'First_Deployment' })).toMatchInlineSnapshot(
      `"id: use lower-case words joined by hyphens, e.g. first-deployment"`,
    );
  });

  it("a rule across fields says it in the lab's terms", () => {
    expect(mistake(LabSchema, { ...lab, wrong: [{ ...lab.wrong[0], step: 'expose' }] })).toMatchInlineSnapshot(
      `"wrong[0].step: no step "expose" in this lab"`,
    );
  });

  it('several mistakes are all named, in one line', () => {
    expect(mistake(LessonSchema, { title: 'A lesson', topic: 'kubernetes', objectives: [], minutes: 0, extra: 1 })).toMatchInlineSnapshot(
      `"topic: must be one of "getting-started", "industry", "platform-engineering", "data-on-kubernetes", "container-security", "operational-excellence", "observability", "reliability", "guardrails"; summary: is required; objectives: must not be empty; minutes: must be at least 1; extra: unknown field"`,
    );
  });

  it('a request body names the body as the root', () => {
    expect(mistake(ROUTES.extend.body, { minutes: 'soon' }, 'body')).toMatchInlineSnapshot(`"minutes: must be a number, not a string"`);
    expect(mistake(ROUTES.extend.body, 'soon', 'body')).toMatchInlineSnapshot(`"body: must be a map, not a string"`);
  });
});

describe('the helpers behind the words', () => {
  it('writes paths as a reader would', () => {
    expect(issuePath(['steps', 2, 'hints', 0])).toBe('steps[2].hints[0]');
    expect(issuePath([], 'body')).toBe('body');
  });

  it('suggests a near name, and none when nothing is near', () => {
    expect(closest('needContainers', ['needsContainers', 'namespaces'])).toBe('needsContainers');
    expect(closest('Minutes', ['minutes', 'summary'])).toBe('minutes');
    expect(closest('colour', ['id', 'title', 'topic'])).toBeUndefined();
  });

  it('a user error carries its code and hint, and its class name', () => {
    class LabGone extends UserError {}
    const error = new LabGone('lab_gone', 'The lab is gone.', 'Start it again.');
    expect([error.name, error.code, error.message, error.hint]).toEqual(['LabGone', 'lab_gone', 'The lab is gone.', 'Start it again.']);
  });
});
