/**
 * Sessions and labs under time and contention, on the real cluster: an
 * active learner outlives the TTL (up to the hard maximum), and an expired
 * session loses its sandboxes and shells but not its progress; 40
 * concurrent checks of one session are all answered and all recorded; a
 * re-check of a passed step keeps the count; concurrent resets of one lab,
 * on one server or two, answer 2xx or 409 and leave a lab that works.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabCatalog, LabDefinition } from '../../contract/catalog.ts';
import { LabService } from '../../labs-server/src/labs/service.ts';
import { createMetrics } from '../../labs-server/src/metrics.ts';
import { sweep } from '../../labs-server/src/reaper.ts';
import { Sandboxes } from '../../labs-server/src/sandbox/provision.ts';
import { SessionStore } from '../../labs-server/src/sessions/store.ts';
import { fixtureCatalog } from '../support/fixture-catalog.ts';
import { testKubeConfig } from '../support/kube.ts';
import { Client, startTestServer, type TestServer } from '../support/server.ts';

const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);

/** The palette lab with two steps, both graded by the palette's colour. */
const twoSteps: LabDefinition = {
  ...(fixtureCatalog.get('palette') as LabDefinition),
  id: 'palette-twice',
  steps: [
    { id: 'repaint', title: 'Set the colour to green' },
    { id: 'again', title: 'Keep it green' },
  ],
};
const catalog: LabCatalog = {
  ...fixtureCatalog,
  list: () => [...fixtureCatalog.list(), twoSteps],
  get: (id) => (id === twoSteps.id ? twoSteps : fixtureCatalog.get(id)),
};

async function namespaceLive(name: string): Promise<boolean> {
  const ns = await core.readNamespace({ name }).catch(() => undefined);
  return ns !== undefined && ns.status?.phase !== 'Terminating';
}

async function colour(namespace: string): Promise<string | undefined> {
  const map = await core.readNamespacedConfigMap({ name: 'palette', namespace }).catch(() => undefined);
  return map?.data?.colour;
}

const servers: TestServer[] = [];
const sessions: string[] = [];
let main: TestServer;
let admin: Client;

beforeAll(async () => {
  main = await startTestServer({ CDL_MODE: 'single' }, catalog);
  servers.push(main);
  admin = new Client(main.origin, { authorization: `Bearer ${main.secrets.adminToken}` });
});

afterAll(async () => {
  for (const id of sessions) await admin.delete(`/api/admin/sessions/${id}`);
  await Promise.all(servers.map((s) => s.close()));
});

async function learnerOn(server: TestServer): Promise<{ client: Client; id: string }> {
  const client = new Client(server.origin);
  const id = (await client.post('/api/session')).body.id as string;
  sessions.push(id);
  return { client, id };
}

describe('session expiry', () => {
  it('keeps an active learner past the TTL, then removes sandboxes and shells at expiry and keeps the progress', {
    timeout: 90_000,
  }, async () => {
    // A TTL of 6 s; the learner acts every 400 ms for well over twice that.
    const short = await startTestServer({ CDL_MODE: 'single', SESSION_TTL_MINUTES: '0.1' }, catalog);
    servers.push(short);
    const { client: learner, id } = await learnerOn(short);
    const namespace = (await learner.post('/api/labs/palette/start')).body.namespaces[0].namespace as string;
    await learner.post('/api/labs/palette/solve');
    expect((await learner.post('/api/labs/palette/steps/repaint/check')).body.passed).toBe(true);
    const activeUntil = Date.now() + 14_000;
    const statuses = new Set<number>();
    while (Date.now() < activeUntil) {
      statuses.add((await learner.get('/api/labs')).status);
      await sleep(400);
    }
    expect([...statuses], 'an active learner is never logged out').toEqual([200]);

    // Then the learner stops; the session runs out.
    await sleep(7000);
    expect((await learner.get('/api/labs')).status, "an expired session's cookie opens nothing").toBe(401);
    expect((await learner.post('/api/labs/palette/start')).status).toBe(401);

    const store = new SessionStore(kc, { ttlMs: 180_000 });
    const closed: string[] = [];
    const labs = new LabService({
      kc,
      catalog,
      store,
      sandboxes: new Sandboxes(kc),
      metrics: createMetrics(),
      capabilities: { runsContainers: false, ownedByPlatform: true, enforcesNetworkPolicy: false, auditLog: false },
      mode: 'single',
      onSessionEnd: (name) => closed.push(name),
    });
    const result = await sweep({ store, labs, metrics: createMetrics(), logger: pino({ level: 'silent' }), idleMs: 3_600_000 });
    expect(result.expired).toContain(id);
    expect(closed, 'its shells are closed').toContain(id);
    expect(await namespaceLive(namespace)).toBe(false);

    // The instructor still sees the learner and their progress, until ending the session.
    const row = (await admin.get('/api/admin/progress')).body.learners.find((l: { id: string }) => l.id === id);
    expect(row).toMatchObject({ expired: true, stepsPassed: 1 });
    expect(row.labs.palette.steps[0].passedAt).toBeTruthy();
    expect(row.labs.palette.sandbox).toBe('removed');
    expect((await admin.delete('/api/admin/sessions')).status, 'ending the event needs to say which sessions').toBe(400);
    expect((await admin.delete(`/api/admin/sessions/${id}`)).status).toBe(204);
    const after = (await admin.get('/api/admin/progress')).body.learners.map((l: { id: string }) => l.id);
    expect(after).not.toContain(id);
  });

  it('refuses an ended session at once on the server that ended it, and within 2 s on another', async () => {
    const here = new SessionStore(kc, { ttlMs: 180_000 });
    const elsewhere = new SessionStore(kc, { ttlMs: 180_000 });
    const first = await here.create('ended here');
    const second = await here.create('ended elsewhere');
    sessions.push(first.session.metadata.name, second.session.metadata.name);
    expect(await here.byToken(first.token)).toBeDefined();
    expect(await here.byToken(second.token)).toBeDefined();

    // A read under way when the session ends does not bring it back.
    const reading = here.get(first.session.metadata.name);
    expect(await here.end(first.session.metadata.name)).toBe(true);
    await reading;
    expect(await here.byToken(first.token), 'ended by this server: refused at once').toBeUndefined();

    expect(await elsewhere.end(second.session.metadata.name)).toBe(true);
    const endedAt = Date.now();
    while ((await here.byToken(second.token)) !== undefined) {
      expect(Date.now() - endedAt, 'ended by another replica: refused within 2 s').toBeLessThan(2500);
      await sleep(100);
    }
    expect(await here.byToken('x'.repeat(43)), 'a token of no session').toBeUndefined();
  });

  it('lets activity push the expiry back only up to the hard maximum', async () => {
    const store = new SessionStore(kc, { ttlMs: 1500, maxMs: 4000, touchIntervalMs: 100 });
    const { token, session } = await store.create('typing');
    sessions.push(session.metadata.name);
    const started = Date.parse(session.metadata.creationTimestamp);
    let livePastTtl = false;
    while (Date.now() < started + 6000) {
      await store.touch(session.metadata.name);
      const live = await store.byToken(token);
      if (Date.now() > started + 2500 && Date.now() < started + 3500) livePastTtl ||= live !== undefined;
      if (Date.now() > started + 4500) expect(live, 'not past the hard maximum').toBeUndefined();
      await sleep(200);
    }
    expect(livePastTtl, 'activity kept it past the TTL').toBe(true);
    const stored = await store.require(session.metadata.name);
    expect(Date.parse(stored.spec.expiresAt)).toBeLessThanOrEqual(store.hardLimit(stored));
  });
});

describe('under contention', () => {
  it('answers and records every one of 40 concurrent checks of one session', async () => {
    const { client: learner } = await learnerOn(main);
    expect((await learner.post('/api/labs/palette-twice/start')).status).toBe(201);
    await learner.post('/api/labs/palette-twice/solve');
    const steps = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 'repaint' : 'again'));
    const answers = await Promise.all(steps.map((step) => learner.post(`/api/labs/palette-twice/steps/${step}/check`)));
    expect(answers.map((a) => a.status).filter((status) => status !== 200)).toEqual([]);
    const { progress } = (await learner.get('/api/labs/palette-twice')).body;
    expect(progress.steps.map((s: { attempts: number }) => s.attempts)).toEqual([20, 20]);
    expect(progress.passed).toBe(2);
    expect((await learner.get('/api/session')).body.stepsPassed).toBe(2);
  });

  it('keeps the count of steps passed when a passed step is checked again', async () => {
    const { client: learner, id } = await learnerOn(main);
    await learner.post('/api/labs/palette-twice/start');
    await learner.post('/api/labs/palette-twice/solve');
    await learner.post('/api/labs/palette-twice/steps/repaint/check');
    await learner.post('/api/labs/palette-twice/steps/again/check');
    expect((await learner.get('/api/session')).body.stepsPassed).toBe(2);
    expect((await learner.post('/api/labs/palette-twice/steps/repaint/check')).body.passed).toBe(true);
    const stored = await new SessionStore(kc, { ttlMs: 60_000 }).require(id);
    expect(stored.status?.stepsPassed).toBe(2);
    expect((await learner.get('/api/session')).body.stepsPassed).toBe(2);
  });

  it('answers 4 concurrent resets of one lab with 2xx or 409, on one server or two, and the lab works after', {
    timeout: 120_000,
  }, async () => {
    const other = await startTestServer({ CDL_MODE: 'single' }, catalog);
    servers.push(other);
    const { client: learner } = await learnerOn(main);
    const namespace = (await learner.post('/api/labs/palette/start')).body.namespaces[0].namespace as string;
    await learner.post('/api/labs/palette/solve');
    expect(await colour(namespace)).toBe('green');

    // The same learner's cookie on a second replica.
    const elsewhere = new Client(other.origin);
    elsewhere.cookie = learner.cookie;
    for (const clients of [
      [learner, learner, learner, learner],
      [learner, learner, elsewhere, elsewhere],
    ]) {
      const answers = await Promise.all(clients.map((client) => client.post('/api/labs/palette/reset')));
      const statuses = answers.map((a) => a.status);
      expect(
        statuses.filter((s) => s !== 200 && s !== 409),
        JSON.stringify(answers.map((a) => a.body)),
      ).toEqual([]);
      expect(statuses).toContain(200);
      for (const answer of answers.filter((a) => a.status === 409)) expect(answer.body.message).toMatch(/being reset/);
      expect(await namespaceLive(namespace)).toBe(true);
      expect(await colour(namespace), 'back to its setup').toBe('blue');
      expect((await learner.post('/api/labs/palette/steps/repaint/check')).body.passed).toBe(false);
      expect((await learner.post('/api/labs/palette/solve')).status).toBe(200);
      expect((await learner.post('/api/labs/palette/steps/repaint/check')).body.passed).toBe(true);
    }
  });
});
