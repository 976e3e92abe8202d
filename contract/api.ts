/**
 * The lab server's HTTP API, written once: every route with its parameters,
 * body and answers as zod schemas. The server's routers validate what comes
 * in with these, the page and the tests read what comes back with them, and
 * the OpenAPI document (labs-server/openapi.yaml) is generated from them
 * (contract/openapi.ts), so none of the three can drift from the others.
 */
import { z } from 'zod';
import { CheckResultSchema } from './check.ts';
import { TOPICS } from './content.ts';
import { FILE_NAME, MAX_FILE_BYTES, MAX_FILES, MAX_SESSION_FILES } from './files.ts';
import { SIZE_LIMITS } from './protocol.ts';
import { SandboxNamespacesSchema } from './sandbox.ts';
import { SANDBOX_STATES } from './session.ts';

const time = z.iso.datetime({ offset: true });

/** A lab or step id in a path: lower-case letters, digits and dashes. */
export const IdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes')
  .meta({ description: 'A lab or step id from the catalog (lower-case letters, digits, dashes).' });
export const SessionIdSchema = z
  .string()
  .regex(/^s-[0-9a-f]{12}$/, 'is not a session id')
  .meta({ description: 'A session id, as listed by `/api/admin/progress` and `kubectl get labsessions`.' });

export const LabParams = z.object({ lab: IdSchema });
export const StepParams = z.object({ lab: IdSchema, step: IdSchema });
export const SessionParams = z.object({ session: SessionIdSchema });
export const SessionLabParams = z.object({ session: SessionIdSchema, lab: IdSchema });

export const ErrorBodySchema = z
  .object({
    /** A stable code for programs, e.g. `lab_not_started`. */
    error: z.string(),
    /** What went wrong, for people. */
    message: z.string(),
    /** What to do about it. */
    hint: z.string().optional(),
  })
  .meta({ id: 'Error', description: 'What went wrong, for people (`message`, `hint`) and for programs (`error`).' });
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

export const ModeSchema = z.enum(['single', 'workshop']);

export const JoinRequestSchema = z
  .object({
    /** How the instructor will see this learner. Default "Learner". */
    name: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .regex(/^[^\p{C}]+$/u, 'must not contain control characters')
      .default('Learner')
      .meta({ description: 'How the instructor sees you. Default "Learner".' }),
    /** The event's access code (workshop mode only). */
    accessCode: z.string().max(64).optional().meta({ description: "The event's access code (workshop mode only)." }),
  })
  .meta({ id: 'Join' });

export const SessionViewSchema = z
  .object({
    id: z.string(),
    learner: z.string(),
    mode: ModeSchema,
    expiresAt: time,
    currentLab: z.string().optional(),
    stepsPassed: z.int().min(0),
  })
  .meta({ id: 'Session' });
export type SessionView = z.infer<typeof SessionViewSchema>;

export const StepViewSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    passedAt: time.optional(),
    attempts: z.int().min(0),
    lastCheckedAt: time.optional(),
    lastPassed: z.boolean().optional(),
    lastMessage: z.string().optional(),
  })
  .meta({ id: 'Step' });
export type StepView = z.infer<typeof StepViewSchema>;

export const LabProgressViewSchema = z
  .object({
    startedAt: time.optional(),
    sandbox: z.enum(SANDBOX_STATES).optional(),
    passed: z.int().min(0),
    total: z.int().min(0),
    steps: z.array(StepViewSchema),
  })
  .meta({ id: 'LabProgress' });
export type LabProgressView = z.infer<typeof LabProgressViewSchema>;

export const LabViewSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    topic: z.enum(TOPICS.map((t) => t.slug)),
    scope: z.enum(['namespace', 'cluster']),
    needsContainers: z.boolean(),
    available: z.boolean(),
    unavailableReason: z.string().optional().meta({ description: 'Why the lab cannot run on this cluster or in this mode.' }),
    namespaces: SandboxNamespacesSchema.optional().meta({ description: "The lab's namespaces, in order, with the learner's real ones." }),
    progress: LabProgressViewSchema,
  })
  .meta({ id: 'Lab' });
export type LabView = z.infer<typeof LabViewSchema>;

export const LabsViewSchema = z.object({ labs: z.array(LabViewSchema) });

export const StartedSchema = z.object({ lab: z.string(), namespaces: SandboxNamespacesSchema, created: z.boolean() });
export const ResetSchema = z.object({ lab: z.string(), namespaces: SandboxNamespacesSchema });
export const SolvedSchema = z.object({ lab: z.string(), solved: z.literal(true) });

/** At most this much YAML is validated at once (the API reads bodies of 16 KiB at most). */
export const VALIDATE_MAX_BYTES = MAX_FILE_BYTES;

export const FileParams = z.object({
  lab: IdSchema,
  name: z
    .string()
    .regex(FILE_NAME, 'a file name: lower-case letters, digits, dots, dashes or underscores, ending in .yaml or .yml (at most 64)'),
});
export const SaveFileRequestSchema = z
  .object({ content: z.string().max(MAX_FILE_BYTES).meta({ description: 'The YAML, as the learner wrote it.' }) })
  .meta({ id: 'SaveFileRequest' });
export const SavedFileSchema = z
  .object({
    lab: z.string(),
    name: z.string(),
    bytes: z.int().min(0),
    path: z.string().meta({ description: "Where the lab's terminals find it, e.g. ~/files/deployment.yaml." }),
  })
  .meta({ id: 'SavedFile' });

export const ValidateRequestSchema = z
  .object({
    yaml: z.string().min(1).max(VALIDATE_MAX_BYTES).meta({ description: 'One or more YAML documents, as the learner wrote them.' }),
  })
  .meta({ id: 'ValidateRequest' });

export const ValidationResultSchema = z
  .object({
    index: z.int().min(0).meta({ description: 'The document, counted from 0.' }),
    line: z.int().min(1).meta({ description: 'The line the document starts on.' }),
    kind: z.string().optional(),
    name: z.string().optional(),
    ok: z.boolean(),
    status: z.int().optional().meta({ description: "The API server's answer, when it refused the object." }),
    message: z.string().optional(),
    fields: z
      .array(z.object({ field: z.string(), line: z.int().min(1) }))
      .optional()
      .meta({ description: "The fields the API server's message names, and their lines in the YAML." }),
    warnings: z.array(z.string()).optional(),
  })
  .meta({ id: 'ValidationResult' });
export type ValidationResult = z.infer<typeof ValidationResultSchema>;

export const ValidationSchema = z.object({ lab: z.string(), results: z.array(ValidationResultSchema) }).meta({ id: 'Validation' });

export const HintsShownSchema = z
  .object({
    shown: z.int().min(1).max(50).meta({ description: "How many of the step's hints are open now (the page sends it as each opens)." }),
  })
  .meta({ id: 'HintsShown' });
export const HintsRecordedSchema = z.object({ lab: z.string(), step: z.string(), hintsShown: z.int().min(0) });

/** One learner's one step: the unit a training record keeps. */
export const ExportRecordSchema = z
  .object({
    session: z.string(),
    learner: z.string(),
    lab: z.string(),
    step: z.string(),
    stepTitle: z.string(),
    startedAt: time.optional().meta({ description: 'When the learner first started the lab.' }),
    passedAt: time.optional(),
    minutesToPass: z
      .number()
      .min(0)
      .optional()
      .meta({ description: 'From the lab’s start to this step’s pass, in minutes (one decimal).' }),
    attempts: z.int().min(0),
    hintsShown: z.int().min(0),
    solutionUsed: z.boolean().meta({ description: "The lab's solution was applied for the learner before this step passed." }),
  })
  .meta({ id: 'ExportRecord' });
export type ExportRecord = z.infer<typeof ExportRecordSchema>;

export const ProgressExportSchema = z.object({ at: time, records: z.array(ExportRecordSchema) }).meta({ id: 'ProgressExport' });

export const StuckViewSchema = z
  .object({ lab: z.string(), step: z.string(), since: time, minutes: z.int().min(0) })
  .meta({ id: 'Stuck', description: 'The step this learner has been on for longer than `stuckMinutes`.' });
export type StuckView = z.infer<typeof StuckViewSchema>;

export const LearnerViewSchema = z
  .object({
    id: z.string(),
    learner: z.string(),
    createdAt: time,
    expiresAt: time,
    /** Past its expiry: the learner's cookie opens nothing, the progress is kept. */
    expired: z.boolean().meta({ description: 'Past its expiry: sandboxes and shells removed, progress kept until the session is ended.' }),
    lastActivityAt: time.optional(),
    currentLab: z.string().optional(),
    stepsPassed: z.int().min(0),
    labs: z.record(z.string(), LabProgressViewSchema),
    stuck: StuckViewSchema.optional(),
  })
  .meta({ id: 'Learner' });
export type LearnerView = z.infer<typeof LearnerViewSchema>;

export const ProgressQuerySchema = z.object({
  /** A learner is stuck after this many minutes on one step. Default 10. */
  stuckMinutes: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(10)
    .meta({ description: 'A learner is stuck after this many minutes on one step. Default 10.' }),
});

export const ProgressViewSchema = z
  .object({
    at: time,
    stuckMinutes: z.int(),
    labs: z.array(
      z.object({
        id: z.string(),
        title: z.string(),
        topic: z.string(),
        steps: z.array(z.object({ id: z.string(), title: z.string() })),
      }),
    ),
    learners: z.array(LearnerViewSchema),
  })
  .meta({ id: 'Progress' });
export type ProgressView = z.infer<typeof ProgressViewSchema>;

export const PoolRequestSchema = z.object({
  /** Shell pods to keep ready for the next learners to join; 0 is no pool. */
  size: z.int().min(0).max(10_000),
});

export const PoolSchema = z
  .object({
    /** The size every replica keeps the pool at. */
    size: z.int().min(0),
    /** Pool pods running and ready to be claimed. */
    ready: z.int().min(0),
    /** Pool pods still starting. */
    starting: z.int().min(0),
  })
  .meta({ id: 'Pool' });

export const ExtendRequestSchema = z.object({
  /** Minutes from now. Default 60. */
  minutes: z
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .default(60)
    .meta({ description: 'Minutes from now. Default 60.' }),
});

export const EndEventQuerySchema = z.object({
  /** `expired`: end only the sessions whose time is up; `all`: end every session. Required, so nobody ends an event by accident. */
  which: z.enum(['all', 'expired']).meta({
    description: '`expired`: only the sessions whose time is up; `all`: every session. Required, so nobody ends an event by accident.',
  }),
});

/** What the server is doing before its cluster is ready (`npm start` serves the lessons meanwhile). */
export const PreparationSchema = z
  .object({
    /** One line for people: what is being prepared and how far it is, e.g. `building kubernetes: 412 of at most 1830 packages`. */
    detail: z.string(),
    /** How far the longest part is, when it can say: done of total, in `unit`. */
    done: z.number().nonnegative().optional(),
    total: z.number().positive().optional(),
    unit: z.enum(['bytes', 'packages']).optional(),
    /** When the preparation started. */
    since: time,
  })
  .meta({ id: 'Preparation' });
export type Preparation = z.infer<typeof PreparationSchema>;

export const HealthSchema = z
  .object({
    ok: z.boolean(),
    mode: ModeSchema,
    cluster: z.object({
      provider: z.string(),
      /** `running`, `stopped` or `degraded`; `preparing` while the server prepares it. */
      state: z.string(),
      detail: z.string().optional(),
      capabilities: z.record(z.string(), z.boolean()),
    }),
    /** While the cluster is prepared: what is being done, and how far it is. */
    preparing: PreparationSchema.optional(),
    /** The server has begun to stop (a replica being replaced): send no one new here. */
    stopping: z.literal(true).optional(),
  })
  .meta({ id: 'Health' });

export const TerminalQuerySchema = z.object({
  lab: IdSchema,
  /** Which of the lab's terminals: a lab may show several side by side (one to watch, one to act), each its own shell. */
  tab: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,19}$/, 'a tab name: a lower-case letter, then letters, digits or dashes (at most 20)')
    .default('main'),
  /** The output offset the page already has, when it reconnects: only what came after it is replayed. */
  since: z.coerce.number().int().min(0).optional(),
  cols: z.coerce.number().int().min(SIZE_LIMITS.cols.min).max(SIZE_LIMITS.cols.max).default(80),
  rows: z.coerce.number().int().min(SIZE_LIMITS.rows.min).max(SIZE_LIMITS.rows.max).default(24),
});

export const SchemaQuerySchema = z.object({
  apiVersion: z
    .string()
    .regex(/^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/, 'an apiVersion, e.g. v1 or apps/v1'),
  kind: z.string().regex(/^[A-Z][A-Za-z0-9]{0,62}$/, 'a kind, e.g. Deployment'),
});

export const KindSchemaSchema = z.record(z.string(), z.unknown()).meta({
  id: 'KindSchema',
  description: "A JSON Schema (draft-07) of the kind, from the cluster's OpenAPI v3; objects take no fields they do not declare.",
});

type Security = 'session' | 'admin' | 'metrics' | 'none';

export interface RouteAnswer {
  description: string;
  schema?: z.ZodType;
  /** Default application/json. */
  mediaType?: string;
}

export interface Route {
  method: 'get' | 'post' | 'put' | 'delete';
  /** The path in OpenAPI's form: `/api/labs/{lab}`. */
  path: string;
  summary: string;
  description?: string;
  security: Security;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Answers other than the common errors. */
  answers: Record<number, RouteAnswer>;
  /** Error statuses this route can answer besides 400, 429, 500 and 503. */
  errors?: Record<number, string>;
}

const session = 'session' as const;
const admin = 'admin' as const;
const json = <S extends z.ZodType>(description: string, schema: S) => ({ description, schema });
const startedToo = { 409: 'The lab cannot run here (lab_unavailable), or its sandbox is being built elsewhere (lab_busy).' };
const notStarted = { 409: 'The lab is not started (lab_not_started), or its sandbox is being built elsewhere (lab_busy).' };

/** Every route of the API, by name. The server's routers and this table are checked against each other by a test. */
export const ROUTES = {
  health: {
    method: 'get',
    path: '/healthz',
    summary: 'The server and its cluster',
    security: 'none',
    answers: {
      200: json('The cluster answers.', HealthSchema),
      503: json(
        'The cluster is stopped or does not answer, is still being prepared (`preparing`), or this server is stopping (`stopping`).',
        HealthSchema,
      ),
    },
  },
  metrics: {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (sessions, terminals, checks and their latency, sandbox provisioning time)',
    description: 'Open unless METRICS_TOKEN is set; then it needs that token as a Bearer header.',
    security: 'metrics',
    answers: { 200: { description: 'Metrics in the Prometheus text format.', schema: z.string(), mediaType: 'text/plain' } },
  },
  getSession: {
    method: 'get',
    path: '/api/session',
    summary: 'The current session; it never creates one',
    security: 'none',
    answers: { 200: json('The session.', SessionViewSchema) },
    errors: {
      401: 'No session yet: in single-user mode the page then POSTs (session_required); a workshop asks for the access code (join_required).',
    },
  },
  join: {
    method: 'post',
    path: '/api/session',
    summary: 'Join, making a session and setting its cookie (workshop mode needs the access code)',
    description:
      'Only from a page of this server: an Origin that is one of PUBLIC_ORIGINS or, without one, `Sec-Fetch-Site: same-origin`. Limited per client address.',
    security: 'none',
    body: JoinRequestSchema,
    answers: { 200: json('Already joined.', SessionViewSchema), 201: json('Joined; the cookie is set.', SessionViewSchema) },
    errors: {
      403: 'Not from a page of this server (not_own_page, bad_origin), or no or a wrong access code.',
      503: 'The workshop holds MAX_SESSIONS live sessions (workshop_full).',
    },
  },
  leave: {
    method: 'delete',
    path: '/api/session',
    summary: 'Leave, removing your sandboxes',
    security: session,
    answers: { 204: { description: 'Ended.' } },
  },
  schema: {
    method: 'get',
    path: '/api/schema',
    summary: "A kind's JSON Schema, from the cluster's own OpenAPI, for the YAML editor",
    description:
      "Made from the API server's /openapi/v3 (so the CRDs a lab installs are there too), kept while the cluster's document is unchanged.",
    security: session,
    query: SchemaQuerySchema,
    answers: { 200: json("The kind's schema.", KindSchemaSchema) },
    errors: { 404: 'The cluster serves no such kind in that apiVersion (kind_not_found).' },
  },
  labs: {
    method: 'get',
    path: '/api/labs',
    summary: 'Every lab, whether it can run here, and your progress',
    security: session,
    answers: { 200: json('The labs.', LabsViewSchema) },
  },
  lab: {
    method: 'get',
    path: '/api/labs/{lab}',
    summary: 'One lab and your progress',
    security: session,
    params: LabParams,
    answers: { 200: json('The lab.', LabViewSchema) },
    errors: { 404: 'No such lab.' },
  },
  start: {
    method: 'post',
    path: '/api/labs/{lab}/start',
    summary: 'Provision your sandbox for the lab and apply its setup (again only makes it current)',
    security: session,
    params: LabParams,
    answers: { 200: json('Already started.', StartedSchema), 201: json('Started.', StartedSchema) },
    errors: { 404: 'No such lab.', ...startedToo },
  },
  reset: {
    method: 'post',
    path: '/api/labs/{lab}/reset',
    summary: "Return your sandbox to the lab's start (progress is kept)",
    security: session,
    params: LabParams,
    answers: { 200: json('Reset.', ResetSchema) },
    errors: { 404: 'No such lab.', ...startedToo },
  },
  solve: {
    method: 'post',
    path: '/api/labs/{lab}/solve',
    summary: "Apply the lab's solution in your sandbox",
    security: session,
    params: LabParams,
    answers: { 200: json('Solved.', SolvedSchema) },
    errors: { 404: 'No such lab.', ...notStarted },
  },
  check: {
    method: 'post',
    path: '/api/labs/{lab}/steps/{step}/check',
    summary: "Run a step's check; the result is recorded in your progress",
    security: session,
    params: StepParams,
    answers: { 200: json('The result, criterion by criterion.', CheckResultSchema) },
    errors: { 404: 'No such lab or step.', ...notStarted },
  },
  validate: {
    method: 'post',
    path: '/api/labs/{lab}/validate',
    summary:
      'Validate YAML on the cluster: a server-side dry run of each document in your identity, with strict field validation; nothing is stored',
    description:
      "RBAC, Pod Security, quotas, admission policies and the schema all answer, as if you applied it. Each result carries its document's line and, where the answer names fields, their lines.",
    security: session,
    params: LabParams,
    body: ValidateRequestSchema,
    answers: { 200: json('One result per document.', ValidationSchema) },
    errors: { 404: 'No such lab.', ...notStarted },
  },
  saveFile: {
    method: 'post',
    path: '/api/labs/{lab}/files/{name}',
    summary: "Save a YAML file for a lab: its terminals find it at ~/files/<name>, read-only (the editor's Save)",
    description: `At most ${MAX_FILES} files per lab and ${MAX_SESSION_FILES} per session, each at most ${MAX_FILE_BYTES / 1024} KiB; saving a name again replaces it. A session's files go when it ends.`,
    security: session,
    params: FileParams,
    body: SaveFileRequestSchema,
    answers: { 200: json('Saved.', SavedFileSchema) },
    errors: { 404: 'No such lab.', 409: `The lab, or the session, already holds as many files as it may (too_many_files).` },
  },
  hints: {
    method: 'post',
    path: '/api/labs/{lab}/steps/{step}/hints',
    summary: "Record how many of a step's hints you opened (for your progress and the instructor's records)",
    security: session,
    params: StepParams,
    body: HintsShownSchema,
    answers: { 200: json('Recorded: the most hints ever open at once.', HintsRecordedSchema) },
    errors: { 404: 'No such lab or step.' },
  },
  kubeconfig: {
    method: 'get',
    path: '/api/labs/{lab}/kubeconfig',
    summary: 'A kubeconfig for your sandbox with a short-lived token (for your own kubectl)',
    security: session,
    params: LabParams,
    answers: { 200: { description: 'The kubeconfig.', schema: z.string(), mediaType: 'application/yaml' } },
    errors: { 404: 'No such lab.', ...notStarted },
  },
  terminal: {
    method: 'get',
    path: '/api/terminal',
    summary: 'WebSocket: a terminal in your sandbox for a lab (see docs/terminal.md for the frames)',
    security: session,
    query: TerminalQuerySchema,
    answers: { 101: { description: 'Switching to the WebSocket protocol.' } },
    errors: { 403: "The Origin is not one of the server's.", 404: 'No such lab.', ...startedToo },
  },
  progress: {
    method: 'get',
    path: '/api/admin/progress',
    summary: "Every learner's progress on every lab, and who is stuck",
    security: admin,
    query: ProgressQuerySchema,
    answers: { 200: json('The grid.', ProgressViewSchema) },
  },
  exportProgress: {
    method: 'get',
    path: '/api/admin/progress/records',
    summary: "Every learner's progress as training records: who passed which step when, the time it took, the hints and solutions used",
    description: 'One record per learner and step of each lab they started, in the order the sessions began and the course goes.',
    security: admin,
    answers: { 200: json('The records.', ProgressExportSchema) },
  },
  exportProgressCsv: {
    method: 'get',
    path: '/api/admin/progress/records.csv',
    summary: 'The same training records as CSV, for a spreadsheet or a learning management system',
    description:
      'One line per record after a header line (RFC 4180). A field that starts like a spreadsheet formula gets an apostrophe in front, so it shows as text.',
    security: admin,
    answers: { 200: { description: 'The records.', schema: z.string(), mediaType: 'text/csv' } },
  },
  resetLearner: {
    method: 'post',
    path: '/api/admin/sessions/{session}/labs/{lab}/reset',
    summary: "Reset one learner's lab to its setup state",
    security: admin,
    params: SessionLabParams,
    answers: { 200: json('Reset.', z.object({ session: z.string(), lab: z.string(), namespaces: SandboxNamespacesSchema })) },
    errors: {
      404: 'No such session or lab.',
      409: 'The session has expired (session_expired), or another server is resetting this lab (lab_busy).',
    },
  },
  resetEveryone: {
    method: 'post',
    path: '/api/admin/labs/{lab}/reset',
    summary: 'Reset a lab for everyone who started it',
    security: admin,
    params: LabParams,
    answers: { 200: json('How many sandboxes were reset.', z.object({ lab: z.string(), reset: z.int().min(0) })) },
    errors: { 404: 'No such lab.' },
  },
  extend: {
    method: 'post',
    path: '/api/admin/sessions/{session}/extend',
    summary: 'Extend a session to now + minutes (never shortens it)',
    security: admin,
    params: SessionParams,
    body: ExtendRequestSchema,
    answers: { 200: json('The new expiry.', z.object({ session: z.string(), expiresAt: time })) },
    errors: { 404: 'No such session.' },
  },
  endEvent: {
    method: 'delete',
    path: '/api/admin/sessions',
    summary: 'End the event, removing every session (or every expired one) with its sandboxes and progress',
    security: admin,
    query: EndEventQuerySchema,
    answers: { 200: json('How many sessions were ended.', z.object({ ended: z.int().min(0) })) },
  },
  pool: {
    method: 'get',
    path: '/api/admin/pool',
    summary: 'The warm pool of shell pods (TERMINAL_SHELLS=pods): its size and how many pods are ready',
    security: admin,
    answers: { 200: json('The pool.', PoolSchema) },
    errors: { 409: 'Shells do not run in pods on this server.' },
  },
  setPool: {
    method: 'put',
    path: '/api/admin/pool',
    summary: 'Set the size of the warm pool, for every replica; the pool is filled (or trimmed) at once',
    security: admin,
    body: PoolRequestSchema,
    answers: { 200: json('The pool, as it is now (filling in the background).', PoolSchema) },
    errors: { 409: 'Shells do not run in pods on this server.' },
  },
  endSession: {
    method: 'delete',
    path: '/api/admin/sessions/{session}',
    summary: 'End one session, with its sandboxes and progress',
    security: admin,
    params: SessionParams,
    answers: { 204: { description: 'Ended.' } },
    errors: { 404: 'No such session.' },
  },
} satisfies Record<string, Route>;

export type RouteName = keyof typeof ROUTES;

/** What a route's guard answers before the route runs. */
const GUARDS: Record<Security, Record<number, string>> = {
  session: { 401: 'No valid session (no_session).' },
  admin: { 401: 'No admin token (no_admin_token).', 403: 'A wrong admin token (bad_admin_token).' },
  metrics: { 401: 'No metrics token (no_metrics_token).', 403: 'A wrong metrics token.' },
  none: {},
};

/** Answers every route can give besides its own. */
export function commonErrors(route: Route): Record<number, string> {
  const writes: Record<number, string> =
    route.method === 'get' ? {} : { 403: "Not from one of the server's own origins (bad_origin, not_own_page)." };
  return {
    400: 'The request is not valid (invalid_request, unsupported_encoding, ...).',
    ...writes,
    ...GUARDS[route.security],
    413: 'The request body is too large (too_large).',
    415: 'The request body is not UTF-8 (unsupported_charset).',
    429: 'Too many requests from this client or session.',
    500: 'The server failed; the error is in its log (internal).',
    503: 'The Kubernetes cluster does not answer (cluster_unavailable), or is still being prepared (preparing; Retry-After says when to ask again).',
  };
}

/** Every status a route may answer, with what it means and (for JSON answers) the schema of its body. */
export function routeAnswers(route: Route): Record<number, RouteAnswer> {
  const answers: Record<number, RouteAnswer> = { ...route.answers };
  for (const [status, description] of Object.entries({ ...commonErrors(route), ...route.errors })) {
    answers[Number(status)] ??= { description, schema: ErrorBodySchema };
  }
  return answers;
}

/** The route a request is for: its method and a path matching the route's template; undefined for none. */
export function routeFor(method: string, path: string): Route | undefined {
  const bare = path.split('?')[0] ?? '';
  return (Object.values(ROUTES) as Route[]).find(
    (route) => route.method === method.toLowerCase() && new RegExp(`^${route.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(bare),
  );
}

/** The JSON answer of a route for a status, as its schema types it. */
export type Answer<R extends RouteName, S extends keyof (typeof ROUTES)[R]['answers']> = (typeof ROUTES)[R]['answers'][S] extends {
  schema: infer T extends z.ZodType;
}
  ? z.infer<T>
  : never;
