/**
 * The API's contract (contract/api.ts), the routes the server really has,
 * and the OpenAPI document generated from the contract all agree: every
 * route is in the contract, every route of the contract is served, and the
 * committed document is the one the contract generates.
 */
import { readFileSync } from 'node:fs';
import type { Router } from 'express';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROUTES, type Route, routeFor } from '../../contract/api.ts';
import { openApiYaml } from '../../contract/openapi.ts';
import { createApp } from '../../labs-server/src/app.ts';
import { adminApi } from '../../labs-server/src/http/admin-api.ts';
import { learnerApi } from '../../labs-server/src/http/learner-api.ts';
import { createMetrics } from '../../labs-server/src/metrics.ts';
import { TERMINAL_PATH } from '../../labs-server/src/terminal/ws.ts';
import { OPENAPI_FILE } from '../../scripts/openapi.ts';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
}

/** `get /api/labs/{lab}` for each route an Express router serves. */
function served(router: Router, prefix: string): string[] {
  return (router.stack as Layer[]).flatMap((layer) =>
    layer.route
      ? Object.keys(layer.route.methods).map((method) => `${method} ${prefix}${layer.route?.path.replace(/:(\w+)/g, '{$1}')}`)
      : [],
  );
}

const contract = (Object.values(ROUTES) as Route[]).map((route) => `${route.method} ${route.path}`);

describe('the API contract', () => {
  const deps = {} as never;
  const app = createApp({
    cluster: deps,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
    mode: 'single',
  }) as unknown as { router: Router };
  const routes = [
    ...served(app.router, ''),
    ...served(learnerApi(deps), '/api'),
    ...served(adminApi(deps), '/api/admin'),
    // Not an Express route: the upgrade handler (terminal/ws.ts) takes it.
    `get ${TERMINAL_PATH}`,
  ];

  it('names every route the server serves', () => {
    expect(routes.length).toBeGreaterThan(15);
    expect(routes.filter((route) => !contract.includes(route))).toEqual([]);
  });

  it('names no route the server does not serve', () => {
    expect(contract.filter((route) => !routes.includes(route))).toEqual([]);
  });

  it('finds the route of a request by its method and path', () => {
    expect(routeFor('POST', '/api/labs/first-deployment/steps/deploy/check')).toBe(ROUTES.check);
    expect(routeFor('GET', '/api/admin/progress?stuckMinutes=5')).toBe(ROUTES.progress);
    expect(routeFor('GET', '/api/labs/first-deployment/steps/deploy/check')).toBeUndefined();
  });
});

describe('the OpenAPI document', () => {
  it('is the one the contract generates (run `npm run openapi` after changing contract/api.ts)', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(openApiYaml());
  });

  it('documents each route with its parameters and answers', () => {
    const document = parse(openApiYaml()) as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; responses: Record<string, unknown> }>>;
    };
    const check = document.paths['/api/labs/{lab}/steps/{step}/check']?.post;
    expect(check?.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual(['path:lab', 'path:step']);
    expect(Object.keys(check?.responses ?? {})).toEqual(expect.arrayContaining(['200', '401', '404', '409', '503']));
    expect(JSON.stringify(check?.responses['200'])).toContain('#/components/schemas/CheckResult');
  });
});
