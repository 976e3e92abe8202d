/**
 * The YAML editor's schemas, from the test cluster's own OpenAPI: a kind's
 * JSON Schema that a validator (json-schema-library, the editor's own)
 * accepts a right Deployment with and refuses a misspelt field and a wrong
 * type with; a CRD's schema once it is installed; a clear 404 for a kind the
 * cluster does not serve; only for a learner with a session. The latency,
 * converted and cached, is printed for the notes.
 */
import { ApiextensionsV1Api } from '@kubernetes/client-node';
import { Draft07 } from 'json-schema-library';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadKubeConfig, waitFor } from '../../cluster/src/kube.ts';
import { Client, startTestServer, type TestServer } from '../support/server.ts';

const kc = loadKubeConfig(inject('kubeconfig'));
const CRD = `widgets${process.pid}.schema.test.containerdaylabs.dev`;
const GROUP = 'schema.test.containerdaylabs.dev';
const KIND = `Widget${process.pid}`;

describe("the editor's schema of a kind, from the cluster", () => {
  let server: TestServer;
  let learner: Client;

  beforeAll(async () => {
    server = await startTestServer();
    learner = new Client(server.origin);
    expect((await learner.post('/api/session')).status).toBe(201);
  });

  afterAll(async () => {
    await kc
      .makeApiClient(ApiextensionsV1Api)
      .deleteCustomResourceDefinition({ name: CRD })
      .catch(() => undefined);
    await server?.close();
  });

  it('accepts a right Deployment and refuses a misspelt field and a wrong type', async () => {
    const started = performance.now();
    const first = await learner.get('/api/schema?apiVersion=apps/v1&kind=Deployment');
    const cold = performance.now() - started;
    expect(first.status).toBe(200);
    const again = performance.now();
    expect((await learner.get('/api/schema?apiVersion=apps/v1&kind=Deployment')).headers.get('server-timing')).toContain('cached');
    const warm = performance.now() - again;
    process.stderr.write(
      `[schema] apps/v1 Deployment: ${cold.toFixed(0)} ms converted, ${warm.toFixed(1)} ms cached, ${JSON.stringify(first.body).length} bytes\n`,
    );

    const schema = new Draft07(first.body);
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              {
                name: 'web',
                image: 'nginx:1.27',
                ports: [{ containerPort: 80 }],
                readinessProbe: { httpGet: { path: '/', port: 'http' } },
                resources: { limits: { memory: '64Mi', cpu: 1 } },
              },
            ],
          },
        },
      },
    };
    expect(schema.validate(deployment)).toEqual([]);
    const typo = structuredClone(deployment) as Record<string, unknown> & { spec: Record<string, unknown> };
    typo.spec.replicaz = 2;
    expect(
      schema
        .validate(typo)
        .map((e) => e.message)
        .join('\n'),
    ).toMatch(/replicaz/);
    const wrongType = structuredClone(deployment);
    (wrongType.spec as Record<string, unknown>).replicas = 'two';
    expect(schema.validate(wrongType).length).toBeGreaterThan(0);
    // The kind is fixed by its schema: a Deployment's schema refuses another kind.
    expect(schema.validate({ ...deployment, kind: 'StatefulSet' }).length).toBeGreaterThan(0);
  });

  it("has a CRD's schema once the CRD is installed", async () => {
    await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({
      body: {
        metadata: { name: CRD },
        spec: {
          group: GROUP,
          scope: 'Namespaced',
          names: { plural: `widgets${process.pid}`, singular: `widget${process.pid}`, kind: KIND },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: { spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } }, required: ['size'] } },
                },
              },
            },
          ],
        },
      },
    });
    const url = `/api/schema?apiVersion=${GROUP}/v1&kind=${KIND}`;
    // The API server publishes a new CRD's OpenAPI a moment later; the server asks discovery again after 10 s.
    let answer = await learner.get(url);
    await waitFor(
      'the CRD in the OpenAPI',
      async () => {
        answer = await learner.get(url);
        return answer.status === 200;
      },
      30_000,
      500,
    );
    const schema = new Draft07(answer.body);
    expect(schema.validate({ apiVersion: `${GROUP}/v1`, kind: KIND, metadata: { name: 'w' }, spec: { size: 3 } })).toEqual([]);
    expect(schema.validate({ apiVersion: `${GROUP}/v1`, kind: KIND, metadata: { name: 'w' }, spec: { size: 0 } }).length).toBeGreaterThan(
      0,
    );
    expect(
      schema.validate({ apiVersion: `${GROUP}/v1`, kind: KIND, metadata: { name: 'w' }, spec: { colour: 'red' } }).length,
    ).toBeGreaterThan(0);
  }, 60_000);

  it('says so for a kind the cluster does not serve, refuses bad input, and answers only a learner', async () => {
    const missing = await learner.get('/api/schema?apiVersion=apps/v1&kind=Gadget');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: 'kind_not_found', message: 'The cluster serves no kind Gadget in apps/v1.' });
    expect((await learner.get('/api/schema?apiVersion=nowhere.example/v1&kind=Gadget')).status).toBe(404);
    expect((await learner.get('/api/schema?apiVersion=../../etc&kind=Deployment')).status).toBe(400);
    expect((await learner.get('/api/schema?apiVersion=apps/v1')).status).toBe(400);
    expect((await new Client(server.origin).get('/api/schema?apiVersion=apps/v1&kind=Deployment')).status).toBe(401);
  });
});
