/**
 * The OpenAPI document of the lab server, generated from the route table in
 * api.ts with zod-openapi. `npm run openapi` writes it to
 * labs-server/openapi.yaml; a test fails when that file is stale or when a
 * route of the server is missing from the table (or the other way round).
 */
import { stringify } from 'yaml';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponseObject } from 'zod-openapi';
import { ROUTES, type Route, routeAnswers } from './api.ts';

const DESCRIPTION = `The lab server serves the lesson site and this API on one origin.

Learners are identified by the \`cdl_session\` cookie (HttpOnly,
SameSite=Strict; named \`__Host-cdl_session\` and Secure when the server is
served over HTTPS), which only \`POST /api/session\` sets: in single-user
mode with no body, in workshop mode with the access code. \`GET\` never
creates anything. Requests that change something must come from one of
the server's own origins (\`PUBLIC_ORIGINS\`), and making a session needs
the proof of it: an \`Origin\` that is one of them, or, without an Origin,
\`Sec-Fetch-Site: same-origin\`. The instructor's endpoints under
\`/api/admin\` need \`Authorization: Bearer <admin token>\`; \`/metrics\`
needs \`Authorization: Bearer <METRICS_TOKEN>\` when that is set.

Joining is limited per client address (\`429\`): a few joins a minute, a
few wrong access codes per ten minutes, and, in workshop mode, a few live
sessions per address (\`SESSIONS_PER_ADDRESS\`; a room behind one NAT is
listed in \`SHARED_ADDRESSES\`), with \`MAX_SESSIONS\` in all (\`503\`).
A malformed request (bad JSON, a charset other than UTF-8, a broken \`%\`
escape) is a 4xx, never a 5xx.

Every error is one JSON object: \`{ error, message, hint? }\` (see \`Error\`).
This document is generated from contract/api.ts.
`;

const SECURITY: Record<Route['security'], Array<Record<string, string[]>>> = {
  session: [{ session: [] }],
  admin: [{ admin: [] }],
  metrics: [{}, { metrics: [] }],
  none: [],
};

function operation(route: Route): ZodOpenApiOperationObject {
  const responses: Record<string, ZodOpenApiResponseObject> = {};
  for (const [status, answer] of Object.entries(routeAnswers(route))) {
    responses[status] = {
      description: answer.description,
      ...(answer.schema ? { content: { [answer.mediaType ?? 'application/json']: { schema: answer.schema } } } : {}),
    };
  }
  return {
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    ...(route.security === 'none' ? {} : { security: SECURITY[route.security] }),
    ...(route.params || route.query
      ? { requestParams: { ...(route.params ? { path: route.params } : {}), ...(route.query ? { query: route.query } : {}) } }
      : {}),
    ...(route.body ? { requestBody: { content: { 'application/json': { schema: route.body } } } } : {}),
    responses,
  };
}

export function openApiDocument() {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of Object.values(ROUTES) as Route[]) {
    paths[route.path] = { ...paths[route.path], [route.method]: operation(route) };
  }
  return createDocument({
    openapi: '3.1.0',
    info: { title: 'Container Day Labs — lab server API', version: '0.1.0', description: DESCRIPTION },
    servers: [{ url: 'http://localhost:4321' }],
    components: {
      securitySchemes: {
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'cdl_session',
          description: 'Named `__Host-cdl_session` when the server is served over HTTPS.',
        },
        admin: { type: 'http', scheme: 'bearer', description: "The instructor's admin token." },
        metrics: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, when it is set.' },
      },
    },
    paths,
  });
}

/** The document as the YAML file in the repository. */
export function openApiYaml(): string {
  return `# Generated from contract/api.ts by \`npm run openapi\`: edit the contract, not this file.\n${stringify(openApiDocument(), { lineWidth: 0 })}`;
}
