/**
 * What grading says: a step's check returns criteria, each passing or
 * failing with a sentence for the learner (naming the object and field,
 * never the answer), a hint on how to look, and for a wrong shape the
 * differing fields side by side. The checks produce these, the server
 * stores and returns them, the page shows them.
 */
import { z } from 'zod';

export const DifferenceSchema = z
  .object({
    /** Where in the object, e.g. `spec.template.spec.containers[0].image`. */
    path: z.string(),
    /** Absent where the field should not be there. */
    expected: z.unknown().optional(),
    /** Absent where the field (or the object) is not there: a JSON answer drops an undefined value. */
    actual: z.unknown().optional(),
  })
  .meta({ id: 'Difference' });
export type Difference = z.infer<typeof DifferenceSchema>;

export const CriterionResultSchema = z
  .object({
    id: z.string(),
    passed: z.boolean(),
    /** What holds, or what is wrong. */
    message: z.string(),
    /** How to look (failing criteria only). */
    hint: z.string().optional(),
    diff: z.array(DifferenceSchema).optional(),
  })
  .meta({ id: 'CriterionResult' });
export type CriterionResult = z.infer<typeof CriterionResultSchema>;

export const CheckResultSchema = z
  .object({
    labId: z.string(),
    stepId: z.string(),
    /** Every criterion passes. */
    passed: z.boolean(),
    criteria: z.array(CriterionResultSchema),
    durationMs: z.number().nonnegative(),
  })
  .meta({ id: 'CheckResult' });
export type CheckResult = z.infer<typeof CheckResultSchema>;
