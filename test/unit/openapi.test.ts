/**
 * The OpenAPI document and the routes the server really has agree: every
 * route is documented, and every documented path exists.
 */
import { readFileSync } from 'node:fs';
import type { Router } from 'express';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectRoot } from '../../cluster/src/paths.ts';
import { adminApi } from '../../labs-server/src/http/admin-api.ts';
import { learnerApi } from '../../labs-server/src/http/learner-api.ts';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
}

function routes(router: Router, prefix: string): string[] {
  return (router.stack as Layer[]).flatMap((layer) =>
    layer.route
      ? Object.keys(layer.route.methods).map((method) => `${method} ${prefix}${layer.route?.path.replace(/:(\w+)/g, '{$1}')}`)
      : [],
  );
}

const spec = parse(readFileSync(`${projectRoot}/labs-server/openapi.yaml`, 'utf8')) as { paths: Record<string, Record<string, unknown>> };
const documented = Object.entries(spec.paths).flatMap(([path, item]) =>
  Object.keys(item)
    .filter((key) => ['get', 'post', 'put', 'patch', 'delete'].includes(key))
    .map((method) => `${method} ${path}`),
);
// Served by the app itself (app.ts) and the terminal upgrade handler, not by the two API routers.
const outsideRouters = ['get /healthz', 'get /metrics', 'get /api/terminal'];

describe('the OpenAPI document', () => {
  const deps = {} as never;
  const served = [...routes(learnerApi(deps), '/api'), ...routes(adminApi(deps), '/api/admin')];

  it('documents every route of the API', () => {
    expect(served.length).toBeGreaterThan(10);
    expect(served.filter((route) => !documented.includes(route))).toEqual([]);
  });

  it('documents no route the server does not have', () => {
    expect(documented.filter((route) => !served.includes(route) && !outsideRouters.includes(route))).toEqual([]);
  });
});
