/**
 * The terminal agent's interface (labs-server/src/agent/): what a lab server
 * says to the agent that owns a learner's shells, when shells run apart from
 * the server (in pods: one agent per session and lab). Only a lab server
 * speaks it, never a browser: every request carries the agent's own secret
 * (`Authorization: Bearer <secret>`), which only the servers know.
 *
 *   GET    /healthz                      no secret: { ok, shells }
 *   PUT    /v1/credentials?session&lab   the learner's kubeconfig (text), for
 *                                        the shells' first start and their
 *                                        token renewals
 *   GET    /v1/terminal?session&lab&tab&namespace&since&cols&rows
 *                                        the WebSocket of one shell: the
 *                                        browser's protocol (protocol.ts),
 *                                        frames relayed unchanged both ways
 *   DELETE /v1/shells?session            ends every shell of the session
 *   PUT    /v1/files/{name}?session&lab  a file the learner saved in the
 *                                        editor (text), which the shells
 *                                        find at ~/files/{name}
 *
 * An agent serves one session and lab: the first request binds it, and a
 * request for another is refused (409), whatever secret it carries.
 */
import { z } from 'zod';
import { IdSchema, SessionIdSchema, TerminalQuerySchema } from './api.ts';

export const AGENT_PATHS = {
  health: '/healthz',
  credentials: '/v1/credentials',
  terminal: '/v1/terminal',
  shells: '/v1/shells',
  /** Followed by `/<name>`. */
  files: '/v1/files',
} as const;

/** The port an agent listens on unless told otherwise. */
export const AGENT_PORT = 7681;

/** The largest kubeconfig an agent takes. */
export const MAX_CREDENTIALS_BYTES = 64 * 1024;

/** Whose shell a request is about. */
export const AgentOwnerSchema = z.object({ session: SessionIdSchema, lab: IdSchema });
export type AgentOwner = z.infer<typeof AgentOwnerSchema>;

export const AgentTerminalQuerySchema = TerminalQuerySchema.extend({
  session: SessionIdSchema,
  /** The learner's default namespace for the lab, shown in the prompt. */
  namespace: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a namespace name'),
});
export type AgentTerminalQuery = z.infer<typeof AgentTerminalQuerySchema>;

export const AgentHealthSchema = z.object({ ok: z.boolean(), shells: z.number().int() });
