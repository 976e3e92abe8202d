/**
 * The lab server's HTTP API on the real cluster: sessions and their cookie,
 * lab actions and progress, the instructor's controls, and the answers to bad
 * input. The labs here are the server's own test labs (fixture-catalog.ts).
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionStore } from '../../labs-server/src/sessions/store.ts';
import { testKubeConfig } from '../support/kube.ts';
import { Client, startTestServer, type TestServer } from '../support/server.ts';

const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);

async function colour(namespace: string): Promise<string | undefined> {
  const map = await core.readNamespacedConfigMap({ name: 'palette', namespace }).catch(() => undefined);
  return map?.data?.colour;
}

describe('in single-user mode', () => {
  let server: TestServer;
  let learner: Client;
  let admin: Client;
  const ended: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ CDL_MODE: 'single' });
    learner = new Client(server.origin);
    admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
  });

  afterAll(async () => {
    for (const id of ended) await admin.delete(`/api/admin/sessions/${id}`);
    await server?.close();
  });

  it('gives a first visitor a session in an HttpOnly, SameSite=Strict cookie, and keeps it', async () => {
    expect((await learner.get('/api/session')).body.error).toBe('session_required');
    const first = await learner.post('/api/session');
    expect(first.status).toBe(201);
    const cookie = first.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^cdl_session=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    ended.push(first.body.id);
    const again = await learner.get('/api/session');
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
  });

  it('refuses a forged cookie and a request without one', async () => {
    const forged = new Client(server.origin);
    forged.cookie = `cdl_session=${'A'.repeat(43)}`;
    expect((await forged.get('/api/labs')).status).toBe(401);
    forged.cookie = 'cdl_session=../../etc/passwd';
    expect((await forged.get('/api/labs')).body.error).toBe('no_session');
    expect((await new Client(server.origin).post('/api/labs/palette/start')).status).toBe(401);
  });

  it('lists the labs, saying which cannot run here and why', async () => {
    const { body } = await learner.get('/api/labs');
    const byId = Object.fromEntries(body.labs.map((lab: { id: string }) => [lab.id, lab]));
    expect(byId.palette.available).toBe(true);
    // The test cluster has its real node: a lab that needs containers runs, its namespace bound to that node.
    expect(byId['real-containers'].available).toBe(true);
    expect(byId['real-containers'].unavailableReason).toBeUndefined();
    // A cluster of the learner's own: cluster-scope labs run in single-user mode.
    expect(byId['whole-cluster'].available).toBe(true);
    const started = await learner.post('/api/labs/real-containers/start');
    expect(started.status).toBe(201);
    const namespace = await kc.makeApiClient(CoreV1Api).readNamespace({ name: started.body.namespaces[0].namespace });
    expect(namespace.metadata?.annotations?.['scheduler.alpha.kubernetes.io/node-selector']).toBe(
      'labs.containerdaylabs.dev/real-node=true',
    );
  });

  it('answers bad input with a clear status and message', async () => {
    expect((await learner.post('/api/labs/no-such-lab/start')).body).toMatchObject({ error: 'not_found' });
    expect((await learner.post('/api/labs/NOT..valid/start')).status).toBe(400);
    expect((await learner.post('/api/labs/palette/steps/repaint/check')).body.error).toBe('lab_not_started');
    const malformed = await learner.call('POST', '/api/session', '{"name":', { 'content-type': 'application/json' });
    expect(malformed.status).toBe(400);
    expect((await learner.post('/api/session', { name: 'x'.repeat(500) })).status).toBe(400);
    expect((await learner.get('/api/nothing-here')).status).toBe(404);
    const crossSite = await learner.call('POST', '/api/labs/palette/start', {}, { origin: 'https://evil.example' });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.error).toBe('bad_origin');
  });

  it('starts a lab, checks a step with the difference shown, solves it, and records the pass', async () => {
    const start = await learner.post('/api/labs/palette/start');
    expect(start.status).toBe(201);
    const namespace = start.body.namespaces[0].namespace as string;
    expect(await colour(namespace)).toBe('blue');
    expect((await learner.post('/api/labs/palette/start')).status).toBe(200);

    const failing = await learner.post('/api/labs/palette/steps/repaint/check');
    expect(failing.body.passed).toBe(false);
    expect(failing.body.criteria[0]).toMatchObject({
      id: 'colour',
      passed: false,
      diff: [{ path: 'data.colour', expected: 'green', actual: 'blue' }],
    });
    expect((await learner.post('/api/labs/palette/steps/nope/check')).status).toBe(404);

    expect((await learner.post('/api/labs/palette/solve')).status).toBe(200);
    const passing = await learner.post('/api/labs/palette/steps/repaint/check');
    expect(passing.body.passed).toBe(true);

    const lab = await learner.get('/api/labs/palette');
    expect(lab.body.progress).toMatchObject({ passed: 1, total: 1 });
    expect(lab.body.progress.steps[0].attempts).toBe(2);
    const stored = await new SessionStore(kc, { ttlMs: 1 }).get((await learner.get('/api/session')).body.id);
    expect(stored?.status?.labs?.palette?.steps?.repaint?.passedAt).toBeTruthy();
    expect(stored?.status?.stepsPassed).toBe(1);

    const metrics = await learner.get('/metrics');
    expect(metrics.body).toMatch(/cdl_checks_total\{lab="palette",outcome="pass"\} 1/);
    // Two sandboxes built so far: real-containers (listed and started above) and palette.
    expect(metrics.body).toMatch(/cdl_sandbox_provision_seconds_count 2/);
  });

  it('gives the learner a kubeconfig with their own short-lived token, not the server credentials', async () => {
    const { status, body } = await learner.get('/api/labs/palette/kubeconfig');
    expect(status).toBe(200);
    const own = new KubeConfig();
    own.loadFromString(body);
    expect(own.getCurrentUser()?.token).toMatch(/^ey/);
    expect(own.getCurrentUser()?.certData).toBeUndefined();
    const review = await own
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: 'kube-system' })
      .catch((e) => e.code);
    expect(review).toBe(403);
  });

  it("guards the instructor's API with the admin token", async () => {
    expect((await learner.get('/api/admin/progress')).status).toBe(401);
    const wrong = new Client(server.origin, { authorization: 'Bearer not-the-token' });
    expect((await wrong.get('/api/admin/progress')).status).toBe(403);
    expect((await admin.get('/api/admin/progress')).status).toBe(200);
    expect((await admin.post('/api/admin/sessions/s-000000000000/extend', { minutes: 5 })).status).toBe(404);
    expect((await admin.post('/api/admin/sessions/..%2f..%2fsecret/extend', { minutes: 5 })).status).toBe(400);
    // Shells on this server are its own: there is no pool of shell pods to size.
    const pool = await admin.put('/api/admin/pool', { size: 3 });
    expect(pool.status).toBe(409);
    expect(pool.body.error).toBe('not_pods');
    expect((await learner.put('/api/admin/pool', { size: 3 })).status).toBe(401);
  });

  it("shows the instructor each learner's progress, and resets a sandbox to its setup state", async () => {
    const me = (await learner.get('/api/session')).body.id;
    const progress = await admin.get('/api/admin/progress?stuckMinutes=5');
    const row = progress.body.learners.find((l: { id: string }) => l.id === me);
    expect(row.labs.palette.steps[0].passedAt).toBeTruthy();
    expect(row.currentLab).toBe('palette');

    const namespace = (await learner.get('/api/labs/palette')).body.namespaces[0].namespace as string;
    expect(await colour(namespace)).toBe('green');
    const reset = await admin.post(`/api/admin/sessions/${me}/labs/palette/reset`);
    expect(reset.status).toBe(200);
    expect(await colour(namespace)).toBe('blue');
    // Progress is kept across a reset.
    expect((await learner.get('/api/labs/palette')).body.progress.passed).toBe(1);
  });

  it('lets the instructor reset a lab for everyone, extend a session and end it', async () => {
    const other = new Client(server.origin);
    const id = (await other.post('/api/session')).body.id;
    const ns = (await other.post('/api/labs/palette/start')).body.namespaces[0].namespace as string;
    await other.post('/api/labs/palette/solve');
    const all = await admin.post('/api/admin/labs/palette/reset');
    expect(all.body.reset).toBeGreaterThanOrEqual(2);
    expect(await colour(ns)).toBe('blue');

    const before = Date.parse((await other.get('/api/session')).body.expiresAt);
    const extended = await admin.post(`/api/admin/sessions/${id}/extend`, { minutes: 60 * 24 });
    expect(Date.parse(extended.body.expiresAt)).toBeGreaterThan(before);

    expect((await admin.delete(`/api/admin/sessions/${id}`)).status).toBe(204);
    expect((await other.get('/api/labs')).status).toBe(401);
    const gone = await core.readNamespace({ name: ns }).then(
      (n) => n.status?.phase,
      () => 'Gone',
    );
    expect(['Terminating', 'Gone']).toContain(gone);
  });
});

describe('in workshop mode', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ CDL_MODE: 'workshop', CDL_ACCESS_CODE: 'KUBE-2026' });
  });
  afterAll(() => server?.close());

  it('needs the access code to join', async () => {
    const visitor = new Client(server.origin);
    expect((await visitor.get('/api/session')).body.error).toBe('join_required');
    expect((await visitor.post('/api/session', { name: 'Ada' })).body.error).toBe('access_code_required');
    expect((await visitor.post('/api/session', { name: 'Ada', accessCode: 'WRONG-0000' })).body.error).toBe('bad_access_code');
    const joined = await visitor.post('/api/session', { name: 'Ada', accessCode: 'kube 2026' });
    expect(joined.status).toBe(201);
    expect(joined.body.learner).toBe('Ada');
    const admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
    expect((await admin.delete(`/api/admin/sessions/${joined.body.id}`)).status).toBe(204);
  });

  it('says a cluster-scope lab is unavailable on the shared cluster', async () => {
    const visitor = new Client(server.origin);
    await visitor.post('/api/session', { name: 'Bo', accessCode: 'KUBE-2026' });
    const lab = await visitor.get('/api/labs/whole-cluster');
    expect(lab.body.unavailableReason).toMatch(/shares one cluster/);
    const admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
    await admin.delete(`/api/admin/sessions/${(await visitor.get('/api/session')).body.id}`);
  });
});
