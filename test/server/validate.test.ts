/**
 * "Validate on the cluster" through the API, on the real cluster: each YAML
 * document is dry-run in the learner's identity with strict field
 * validation. A misspelt field is named with its line; Pod Security and
 * RBAC answer as they would to an apply; warnings come back; nothing is
 * stored; input that is not YAML, not an object or of no served kind gets
 * a message, never an error of the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, startTestServer, type TestServer } from '../support/server.ts';

describe('validating YAML on the cluster', () => {
  let server: TestServer;
  let ada: Client;
  let admin: Client;

  beforeAll(async () => {
    server = await startTestServer({ CDL_MODE: 'workshop', CDL_ACCESS_CODE: 'VALID-2026' });
    admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
    ada = new Client(server.origin);
    expect((await ada.post('/api/session', { name: 'Ada', accessCode: 'VALID-2026' })).status).toBe(201);
  });

  afterAll(async () => {
    const id = ada ? (await ada.get('/api/session')).body.id : undefined;
    if (id) await admin.delete(`/api/admin/sessions/${id}`);
    await server?.close();
  });

  const validate = (yaml: string) => ada.post('/api/labs/palette/validate', { yaml });

  it('needs the lab started', async () => {
    const answer = await validate('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n');
    expect(answer.status).toBe(409);
    expect(answer.body.error).toBe('lab_not_started');
  });

  it('answers for each document as an apply would, on the lines they concern, and stores nothing', async () => {
    expect((await ada.post('/api/labs/palette/start')).status).toBe(201);
    const yaml = [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: checked-only',
      'data:',
      '  colour: green',
      '---',
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: web',
      'spec:',
      '  replica: 2',
      '  selector:',
      '    matchLabels: {app: web}',
      '  template:',
      '    metadata:',
      '      labels: {app: web}',
      '    spec:',
      '      containers:',
      '        - name: web',
      '          image: public.ecr.aws/nginx/nginx:1.27',
      '          imagePullPolcy: IfNotPresent',
      '---',
      'apiVersion: v1',
      'kind: Pod',
      'metadata:',
      '  name: root',
      'spec:',
      '  containers:',
      '    - name: root',
      '      image: public.ecr.aws/docker/library/busybox:1.37',
      '      securityContext: {privileged: true}',
      '---',
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: elsewhere',
      '  namespace: kube-system',
    ].join('\n');
    const answer = await validate(yaml);
    expect(answer.status).toBe(200);
    const [configMap, deployment, pod, elsewhere] = answer.body.results;
    expect(configMap).toMatchObject({ index: 0, line: 1, kind: 'ConfigMap', name: 'checked-only', ok: true });
    expect(deployment).toMatchObject({ index: 1, line: 8, kind: 'Deployment', ok: false, status: 400 });
    expect(deployment.message).toMatch(/unknown field "spec\.replica"/);
    expect(deployment.fields).toEqual(
      expect.arrayContaining([
        { field: 'spec.replica', line: 13 },
        { field: 'spec.template.spec.containers[0].imagePullPolcy', line: 23 },
      ]),
    );
    expect(pod).toMatchObject({ index: 2, line: 25, kind: 'Pod', ok: false, status: 403 });
    expect(pod.message).toMatch(/violates PodSecurity "baseline/);
    expect(elsewhere).toMatchObject({ index: 3, ok: false, status: 403 });
    expect(elsewhere.message).toMatch(/forbidden/i);
    // A dry run: nothing was made.
    const kubeconfig = await ada.get('/api/labs/palette/kubeconfig');
    expect(kubeconfig.status).toBe(200);
    const none = await validate('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: checked-only\n');
    expect(none.body.results[0].ok).toBe(true);
  });

  it("passes on the API server's warnings (restricted Pod Security warns; baseline admits)", async () => {
    const answer = await validate(
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: plain\nspec:\n  containers:\n    - name: c\n      image: public.ecr.aws/nginx/nginx:1.27\n',
    );
    expect(answer.body.results[0]).toMatchObject({ ok: true });
    expect(answer.body.results[0].warnings.join('\n')).toMatch(/restricted/);
  });

  it('sends a cluster-scope object without a namespace, and the learner is refused it as they would be', async () => {
    const answer = await validate('apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: mine\nrules: []\n');
    expect(answer.body.results[0]).toMatchObject({ kind: 'ClusterRole', ok: false, status: 403 });
    expect(answer.body.results[0].message).toMatch(/clusterroles.*forbidden|forbidden.*clusterroles/i);
  });

  it('says what is wrong with what is not a Kubernetes object, and refuses what is too large', async () => {
    const answer = await validate(
      'a: [unclosed\n---\n- just\n- a list\n---\napiVersion: v9\nkind: Nothing\nmetadata:\n  name: n\n---\napiVersion: v1\nkind: ConfigMap\n',
    );
    expect(answer.status).toBe(200);
    const [broken, list, unknown, nameless] = answer.body.results;
    expect(broken).toMatchObject({ index: 0, ok: false });
    expect(broken.line).toBeLessThanOrEqual(2);
    expect(broken.message).toMatch(/not valid YAML/);
    expect(list.message).toMatch(/needs apiVersion and kind/);
    expect(unknown.message).toBe('This cluster serves no kind Nothing in v9.');
    expect(nameless.message).toMatch(/no metadata\.name/);
    expect((await validate('x'.repeat(13 * 1024))).status).toBe(400);
    // A flood of small objects costs the API server at most twenty dry runs.
    const many = Array.from({ length: 25 }, (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c${i}\n`).join('---\n');
    const results = (await validate(many)).body.results;
    expect(results).toHaveLength(25);
    expect(results.slice(0, 20).every((r: { ok: boolean }) => r.ok)).toBe(true);
    expect(results[20].message).toBe('Not checked: at most 20 objects are validated at once.');
    expect((await validate('')).status).toBe(400);
  });
});
