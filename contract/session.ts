/**
 * The LabSession: a learner's session, its sandboxes and its progress, kept
 * as a custom object in the cluster (the system of record; see
 * labs-server/src/sessions/). Its spec and status are written here once, as
 * zod schemas: the session store parses every object it reads with them, and
 * the CustomResourceDefinition's schema is generated from them
 * (`labSessionOpenApiSchema`), so what the API server validates and what the
 * server expects cannot drift apart.
 */
import { z } from 'zod';
import { SandboxNamespacesSchema } from './sandbox.ts';

export const GROUP = 'containerdaylabs.dev';
export const VERSION = 'v1alpha1';
export const PLURAL = 'labsessions';
export const KIND = 'LabSession';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Labels the platform puts on what it owns. */
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  session: `${GROUP}/session`,
  lab: `${GROUP}/lab`,
  logical: `${GROUP}/namespace`,
} as const;
export const MANAGER = 'container-day-labs';

/**
 * Where a lab's sandbox stands. `provisioning` and `resetting` are recorded
 * before any namespace is created or deleted, so a server that dies midway
 * leaves a record of what it was doing, and the next one finishes the job.
 */
export const SANDBOX_STATES = ['provisioning', 'resetting', 'ready', 'removed'] as const;
export type SandboxState = (typeof SANDBOX_STATES)[number];

const time = z.iso.datetime({ offset: true });

export const StepProgressSchema = z.object({
  passedAt: time.optional(),
  lastCheckedAt: time.optional(),
  lastPassed: z.boolean().optional(),
  attempts: z.int().min(0).optional(),
  lastMessage: z.string().optional(),
  /** How many of the step's hints the learner opened. */
  hintsShown: z.int().min(0).max(50).optional(),
});

/** Which server is provisioning or resetting a sandbox, and until when that claim holds unless renewed. */
export const OperationSchema = z
  .object({ holder: z.string().max(256), until: time })
  .describe('Which server is provisioning or resetting the sandbox, and until when its claim holds.');

export const LabProgressSchema = z.object({
  startedAt: time.optional(),
  /** When the learner first had the lab's solution applied. */
  solvedAt: time.optional(),
  sandbox: z.enum(SANDBOX_STATES).optional(),
  operation: OperationSchema.optional(),
  /** The sandbox's namespaces, in the lab's order. */
  namespaces: SandboxNamespacesSchema.optional(),
  steps: z.record(z.string(), StepProgressSchema).optional(),
});

export const LabSessionSpecSchema = z.object({
  /** The learner's name as the instructor sees it. */
  learner: z.string().max(64),
  /** SHA-256 of the learner's cookie token; the token itself is never stored. */
  tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
  expiresAt: time,
});

export const LabSessionStatusSchema = z.object({
  lastActivityAt: time.optional(),
  currentLab: z.string().optional(),
  /** Steps passed across every lab (for `kubectl get labsessions`). */
  stepsPassed: z.int().min(0).optional(),
  labs: z.record(z.string(), LabProgressSchema).optional(),
  /**
   * What the learning record store has of this session (CDL_XAPI_ENDPOINT):
   * the keys (`lab/step`, `lab`) of the statements it accepted, and of those
   * it refused for good. What is in neither is still to be sent.
   */
  xapi: z
    .object({
      sent: z.array(z.string().max(300)).max(2000).optional(),
      refused: z.array(z.string().max(300)).max(2000).optional(),
    })
    .optional(),
});

export const LabSessionSchema = z.object({
  metadata: z.object({ name: z.string(), uid: z.string(), resourceVersion: z.string(), creationTimestamp: z.string() }),
  spec: LabSessionSpecSchema,
  status: LabSessionStatusSchema.optional(),
});

export type LabSession = z.infer<typeof LabSessionSchema>;
export type LabProgress = z.infer<typeof LabProgressSchema>;
export type StepProgress = z.infer<typeof StepProgressSchema>;
export type StatusPatch = z.infer<typeof LabSessionStatusSchema>;

/** A JSON Schema node, as Kubernetes' structural schemas take it. */
export type JsonSchemaNode = { [key: string]: unknown };

/**
 * A generated JSON Schema as a CRD's structural schema takes it: references
 * inlined, and without the keywords Kubernetes refuses (`propertyNames`,
 * `additionalProperties: false` beside `properties`) or that only repeat
 * what `format` says or JavaScript's own number range.
 */
function structural(node: unknown, definitions: JsonSchemaNode): unknown {
  if (Array.isArray(node)) return node.map((item) => structural(item, definitions));
  if (typeof node !== 'object' || node === null) return node;
  const ref = (node as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') return structural(definitions[ref.replace(/^#\/(definitions|\$defs)\//, '')], definitions);
  const out: JsonSchemaNode = {};
  const isTime = (node as { format?: unknown }).format === 'date-time';
  for (const [key, value] of Object.entries(node)) {
    if (['$schema', 'propertyNames', 'definitions', '$defs', 'id'].includes(key)) continue;
    if (key === 'additionalProperties' && value === false) continue;
    if (key === 'pattern' && isTime) continue;
    if ((key === 'minimum' && value === Number.MIN_SAFE_INTEGER) || (key === 'maximum' && value === Number.MAX_SAFE_INTEGER)) continue;
    out[key] = structural(value, definitions);
  }
  return out;
}

/** The openAPIV3Schema of the LabSession CRD, generated from the spec and status schemas. */
export function labSessionOpenApiSchema(): JsonSchemaNode {
  const schema = (type: z.ZodType) => {
    const generated = z.toJSONSchema(type, { target: 'openapi-3.0', io: 'input' }) as JsonSchemaNode;
    return structural(generated, { ...(generated.definitions as JsonSchemaNode), ...(generated.$defs as JsonSchemaNode) });
  };
  return {
    type: 'object',
    properties: { spec: schema(LabSessionSpecSchema), status: schema(LabSessionStatusSchema) },
  };
}

/**
 * The number of steps passed across every lab, for `kubectl get labsessions`:
 * a step counts once it has a `passedAt`, whatever its later checks said.
 */
export function countPassed(labs: Record<string, LabProgress> | undefined): number {
  return Object.values(labs ?? {}).reduce(
    (sum, lab) => sum + Object.values(lab.steps ?? {}).filter((s) => typeof s.passedAt === 'string' && s.passedAt !== '').length,
    0,
  );
}
