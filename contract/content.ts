/**
 * The one schema for the course's content: topics, labs and lessons. The lab
 * server, the check catalog, the proof suite and the site all parse content
 * with these, so a mistake in a lab's data fails the same way everywhere.
 * Every object is strict: a misspelt field (`needContainers: true`) is an
 * error naming the file and the field, never a silent default.
 */
import { z } from 'zod';

/** The topics of the Container Day, in the order the course follows them. */
export const TOPICS = [
  { slug: 'getting-started', title: 'The workshop' },
  { slug: 'industry', title: 'Industry talk' },
  { slug: 'platform-engineering', title: 'Platform engineering' },
  { slug: 'data-on-kubernetes', title: 'Data on Kubernetes' },
  { slug: 'container-security', title: 'Container security' },
  { slug: 'operational-excellence', title: 'Operational excellence' },
  { slug: 'observability', title: 'Observability' },
  { slug: 'reliability', title: 'Reliability' },
  { slug: 'guardrails', title: 'Accelerators and guardrails' },
] as const;

export type TopicSlug = (typeof TOPICS)[number]['slug'];
export const TopicSlugSchema = z.enum(TOPICS.map((t) => t.slug) as [TopicSlug, ...TopicSlug[]]);

/** Lab, step and criterion ids: lower-case words joined by hyphens. */
export const SlugSchema = z
  .string()
  .regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'use lower-case words joined by hyphens, e.g. first-deployment')
  .max(40);

/**
 * A namespace as a lab names it. The learner's real namespace is
 * `<session>-<lab code>-<name>` and must fit Kubernetes' 63 characters.
 */
export const LogicalNamespaceSchema = z.strictObject({
  name: SlugSchema.max(20),
  labels: z.record(z.string(), z.string()).optional(),
});

export const LabStepSchema = z.strictObject({
  id: SlugSchema,
  title: z.string().min(3).max(120),
  /** What to do, in a sentence or two; the lesson explains why. */
  task: z.string().min(10),
  /** Nudges that say how to look, not the answer. Shown one at a time. */
  hints: z.array(z.string().min(5)).min(1),
  /**
   * Instead of a check module: a bash script in the lab's folder, run with
   * kubectl and the sandbox's kubeconfig; exit 0 passes, and what it prints
   * is what the learner reads. For authors coming from other platforms.
   */
  verify: z
    .strictObject({
      script: z.string().regex(/^[a-z0-9-]+\.sh$/, 'a script in the lab folder, e.g. verify-expose.sh'),
      timeoutSeconds: z.number().int().min(1).max(60).default(10),
    })
    .optional(),
});

/**
 * A request the platform makes right after a lab's setup, as one of the
 * setup's ServiceAccounts (with a token of its own), so that the API
 * server's audit log tells a story for the learner to read: who read what,
 * who was refused. A refusal (403) is part of the story; any other error
 * fails the setup.
 */
export const ActivitySchema = z.strictObject({
  /** The ServiceAccount that makes the request, in `namespace`. */
  as: SlugSchema,
  /** The lab's name for the namespace of the ServiceAccount and of the object; default: the lab's first. */
  namespace: SlugSchema.max(20).optional(),
  verb: z.enum(['get', 'list', 'delete']),
  /** `v1`, or `<group>/<version>`. */
  apiVersion: z.string().regex(/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/, 'an API version, e.g. v1 or apps/v1'),
  /** The resource as the URL names it, e.g. `secrets`. */
  resource: z.string().regex(/^[a-z][a-z0-9]*$/, 'a resource in the plural, e.g. secrets'),
  /** The object, for `get` and `delete`. */
  name: z.string().min(1).max(253).optional(),
  /** What the client says it is, as the audit log shows it (`userAgent`). */
  userAgent: z.string().min(1).max(100).optional(),
});

/** A plausible mistake kept beside the lab, which its check must refuse. */
export const WrongAttemptSchema = z.strictObject({
  /** The objects of the attempt, in `wrong/`, applied on top of the setup. */
  file: z.string().regex(/^[a-z0-9-]+\.yaml$/, 'a file name in wrong/, e.g. one-replica.yaml'),
  /** Why someone would try it. */
  why: z.string().min(5),
  /** The step whose check refuses it, the criterion that fails, and words its message must contain. */
  step: SlugSchema,
  criterion: SlugSchema,
  messageIncludes: z.string().min(3),
});

/** A correct answer written differently from the solution (another form, other names the task leaves free), which its check must accept. */
export const RightAttemptSchema = z.strictObject({
  /** The objects of the attempt, in `right/`, applied on top of the setup. */
  file: z.string().regex(/^[a-z0-9-]+\.yaml$/, 'a file name in right/, e.g. replicas-by-patch.yaml'),
  /** How it differs from the solution, and why it is right too. */
  why: z.string().min(5),
});

export const LabSchema = z
  .strictObject({
    id: SlugSchema,
    title: z.string().min(3).max(80),
    topic: TopicSlugSchema,
    summary: z.string().min(10).max(300),
    /** Minutes a learner needs, roughly. */
    minutes: z.number().int().min(1).max(120),
    /** `namespace`: runs in the learner's own namespaces on a shared cluster. `cluster`: needs a cluster of their own. */
    scope: z.enum(['namespace', 'cluster']),
    needsContainers: z.boolean().default(false),
    /** Needs Karpenter beside the cluster (the platform runs it beside its local cluster when the lab starts). */
    needsKarpenter: z.boolean().default(false),
    /** Reads the API server's audit log: each terminal of the lab gets its namespaces' share in `$AUDIT_LOG`. */
    needsAuditLog: z.boolean().default(false),
    /** Requests made after the setup, in order, for the audit log to show. */
    activity: z.array(ActivitySchema).max(40).default([]),
    namespaces: z.array(LogicalNamespaceSchema).min(1).max(4),
    steps: z.array(LabStepSchema).min(1),
    wrong: z.array(WrongAttemptSchema).min(1, 'every lab keeps at least one wrong attempt that its check refuses'),
    /** Other correct answers: each, on top of the setup, passes every step. */
    right: z.array(RightAttemptSchema).default([]),
  })
  .superRefine((lab, ctx) => {
    const steps = new Set<string>();
    for (const [i, step] of lab.steps.entries()) {
      if (steps.has(step.id)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'id'], message: `step "${step.id}" appears twice` });
      steps.add(step.id);
    }
    const namespaces = new Set(lab.namespaces.map((ns) => ns.name));
    if (namespaces.size !== lab.namespaces.length)
      ctx.addIssue({ code: 'custom', path: ['namespaces'], message: 'namespace names repeat' });
    for (const [i, request] of lab.activity.entries()) {
      if (request.namespace !== undefined && !namespaces.has(request.namespace))
        ctx.addIssue({ code: 'custom', path: ['activity', i, 'namespace'], message: `no namespace "${request.namespace}" in this lab` });
      if (request.verb !== 'list' && request.name === undefined)
        ctx.addIssue({ code: 'custom', path: ['activity', i, 'name'], message: `a ${request.verb} needs the object's name` });
    }
    for (const [i, wrong] of lab.wrong.entries()) {
      if (!steps.has(wrong.step)) {
        ctx.addIssue({ code: 'custom', path: ['wrong', i, 'step'], message: `no step "${wrong.step}" in this lab` });
      }
    }
    const files = new Set(lab.wrong.map((w) => `wrong/${w.file}`));
    for (const [i, right] of lab.right.entries()) {
      if (files.has(`right/${right.file}`))
        ctx.addIssue({ code: 'custom', path: ['right', i, 'file'], message: `${right.file} appears twice` });
      files.add(`right/${right.file}`);
    }
  });

export type Lab = z.infer<typeof LabSchema>;
export type LogicalNamespace = z.infer<typeof LogicalNamespaceSchema>;
export type LabStep = z.infer<typeof LabStepSchema>;
export type WrongAttempt = z.infer<typeof WrongAttemptSchema>;
export type RightAttempt = z.infer<typeof RightAttemptSchema>;
export type Activity = z.infer<typeof ActivitySchema>;

/** A lesson's front matter. */
export const LessonSchema = z.strictObject({
  title: z.string().min(3).max(100),
  topic: TopicSlugSchema,
  summary: z.string().min(10).max(300),
  /** What the learner can do afterwards. */
  objectives: z.array(z.string().min(5)).min(1),
  minutes: z.number().int().min(1).max(180),
  /** Order within the topic. */
  order: z.number().int().min(0).default(0),
  /** The lab the lesson walks through, if any. */
  lab: SlugSchema.optional(),
});

export type Lesson = z.infer<typeof LessonSchema>;
