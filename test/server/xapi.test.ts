/**
 * Training records sent to a learning record store (xAPI): a learner passes
 * a lab's only step while the store is down; the server stops before the
 * store is back; a new server, once the store answers, sends the passed
 * step and the finished lab, each once, and the LabSession records that
 * they were sent. The store is a small stand-in that checks what a real one
 * checks (test/support/lrs.ts).
 */
import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadKubeConfig, waitFor } from '../../cluster/src/kube.ts';
import { GROUP, type LabSession, PLURAL, VERSION } from '../../contract/session.ts';
import { Lrs } from '../support/lrs.ts';
import { Client, startTestServer, type TestServer } from '../support/server.ts';

const objects = loadKubeConfig(inject('kubeconfig')).makeApiClient(CustomObjectsApi);
const USERNAME = 'cdl-records';
const PASSWORD = 'records-secret-0123';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function labSession(name: string): Promise<LabSession> {
  return (await objects.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name })) as LabSession;
}

describe('training records in a learning record store (xAPI)', () => {
  const lrs = new Lrs(USERNAME, PASSWORD);
  let endpoint = '';
  let server: TestServer | undefined;
  let session = '';
  const start = () => startTestServer({ CDL_XAPI_ENDPOINT: endpoint, CDL_XAPI_USERNAME: USERNAME, CDL_XAPI_PASSWORD: PASSWORD });

  beforeAll(async () => {
    endpoint = await lrs.start();
  });

  afterAll(async () => {
    if (server && session)
      await new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` }).delete(`/api/admin/sessions/${session}`);
    await server?.close();
    await lrs.close();
  });

  it('sends a passed step and a finished lab once each, after the store comes back, across a restart', { timeout: 90_000 }, async () => {
    lrs.refusing = true;
    server = await start();
    let ada = new Client(server.origin);
    expect((await ada.post('/api/session', { name: 'Ada' })).status).toBe(201);
    session = (await ada.get('/api/session')).body.id;
    expect((await ada.post('/api/labs/palette/start')).status).toBe(201);
    expect((await ada.post('/api/labs/palette/solve')).status).toBe(200);
    expect((await ada.post('/api/labs/palette/steps/repaint/check')).body.passed).toBe(true);

    // The pass asks for a round at once: the store, down, refuses it, and nothing is recorded as sent.
    await waitFor(
      'the server to try the store',
      async () => lrs.requests.some((r) => r.status === 503 && r.account === session),
      10_000,
      50,
    );
    expect(lrs.of(session)).toEqual([]);
    expect((await labSession(session)).status?.xapi?.sent ?? []).toEqual([]);

    // The server goes away while the store is still down; the records wait in the cluster.
    await server.close();
    server = undefined;
    lrs.refusing = false;
    server = await start();
    const cookie = ada.cookie;
    ada = new Client(server.origin);
    ada.cookie = cookie;

    await waitFor('both statements to be stored', async () => lrs.of(session).length === 2, 30_000, 100);
    const [passed, completed] = ['passed', 'completed'].map((verb) =>
      lrs.of(session).find((s) => (s.verb as { id: string }).id === `http://adlnet.gov/expapi/verbs/${verb}`),
    );
    expect(passed).toMatchObject({
      actor: { objectType: 'Agent', name: 'Ada', account: { name: session } },
      object: {
        id: expect.stringMatching(/\/labs\/palette\/steps\/repaint$/),
        definition: { name: { 'en-US': 'Set the colour to green' } },
      },
      result: { success: true, completion: true },
      context: { contextActivities: { parent: [{ id: expect.stringMatching(/\/labs\/palette$/) }] } },
    });
    expect(passed?.result).toMatchObject({ extensions: { 'https://containerdaylabs.dev/xapi/extensions/solution-used': true } });
    expect(completed).toMatchObject({ object: { id: expect.stringMatching(/\/labs\/palette$/) }, result: { completion: true } });
    for (const statement of [passed, completed]) expect(statement?.id).toMatch(UUID);
    const progress = (await labSession(session)).status?.labs?.palette;
    expect(passed?.timestamp).toBe(progress?.steps?.repaint?.passedAt);

    // The cursor is in the LabSession: both keys, so no later round sends them again.
    await waitFor(
      'the session to record what was sent',
      async () => JSON.stringify([...((await labSession(session)).status?.xapi?.sent ?? [])].sort()) === '["palette","palette/repaint"]',
      10_000,
      100,
    );
    const ours = () => lrs.requests.filter((r) => r.status === 204 && r.account === session);
    expect(ours()).toHaveLength(2);
    expect((await ada.post('/api/labs/palette/steps/repaint/check')).body.passed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(ours()).toHaveLength(2);
  });
});
