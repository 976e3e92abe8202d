/**
 * Sessions and sandboxes on the real cluster: each learner's rights stop at
 * their own namespaces, proven with SubjectAccessReviews and with real API
 * calls made with each learner's own short-lived token.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, AuthorizationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ignoreStatus, waitFor } from '../../cluster/src/kube.ts';
import { defaultNamespace } from '../../contract/sandbox.ts';
import type { LabSession } from '../../contract/session.ts';
import { learnerUser, Sandboxes } from '../../labs-server/src/sandbox/provision.ts';
import { ensureCrd } from '../../labs-server/src/sessions/crd.ts';
import { SessionStore } from '../../labs-server/src/sessions/store.ts';
import { testKubeConfig } from '../support/kube.ts';

const kc = testKubeConfig();
const store = new SessionStore(kc, { ttlMs: 3600_000 });
const sandboxes = new Sandboxes(kc);
const namespaces = [{ name: 'app' }];

interface Learner {
  session: LabSession;
  token: string;
  namespace: string;
  client: KubeConfig;
}
let ada: Learner;
let bob: Learner;

async function learner(name: string): Promise<Learner> {
  const { session } = await store.create(name);
  const namespace = defaultNamespace(await sandboxes.provision(session, 'first-deployment', namespaces)) ?? '';
  const { token } = await sandboxes.issueToken(session, 600);
  const client = new KubeConfig();
  client.loadFromString(sandboxes.learnerKubeconfig(token, namespace));
  return { session, token, namespace, client };
}

beforeAll(async () => {
  await ensureCrd(kc);
  await sandboxes.ensureSystemNamespace();
  [ada, bob] = await Promise.all([learner('Ada'), learner('Bob')]);
});

afterAll(async () => {
  await Promise.all([ada, bob].filter(Boolean).map((l) => store.end(l.session.metadata.name)));
});

async function allowed(user: string, verb: string, resource: string, namespace: string): Promise<boolean> {
  const review = await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      spec: {
        user,
        groups: ['system:serviceaccounts', 'system:serviceaccounts:cdl-system', 'system:authenticated'],
        resourceAttributes: { verb, resource, namespace },
      },
    },
  });
  return review.status?.allowed ?? false;
}

async function status(promise: Promise<unknown>): Promise<number> {
  return promise.then(
    () => 200,
    (error: unknown) => (error instanceof ApiException ? error.code : 0),
  );
}

describe('two learners', () => {
  it('get separate sandboxes', () => {
    expect(ada.namespace).not.toBe(bob.namespace);
    expect(ada.namespace.startsWith(ada.session.metadata.name)).toBe(true);
  });

  it('may work in their own namespace and not in the other one (SubjectAccessReview)', async () => {
    expect(await allowed(learnerUser(ada.session), 'create', 'pods', ada.namespace)).toBe(true);
    expect(await allowed(learnerUser(ada.session), 'get', 'pods', bob.namespace)).toBe(false);
    expect(await allowed(learnerUser(bob.session), 'delete', 'deployments', ada.namespace)).toBe(false);
    expect(await allowed(learnerUser(ada.session), 'create', 'pods', 'kube-system')).toBe(false);
    expect(await allowed(learnerUser(ada.session), 'update', 'resourcequotas', ada.namespace)).toBe(false);
  });

  it('can read and change their own sandbox with their token, and neither read nor change the other', async () => {
    const adaCore = ada.client.makeApiClient(CoreV1Api);
    expect(await status(adaCore.listNamespacedPod({ namespace: ada.namespace }))).toBe(200);
    expect(await status(adaCore.createNamespacedConfigMap({ namespace: ada.namespace, body: { metadata: { name: 'mine' } } }))).toBe(200);
    expect(await status(adaCore.listNamespacedPod({ namespace: bob.namespace }))).toBe(403);
    expect(await status(adaCore.createNamespacedConfigMap({ namespace: bob.namespace, body: { metadata: { name: 'theirs' } } }))).toBe(403);
    expect(await status(adaCore.listNamespacedSecret({ namespace: 'kube-system' }))).toBe(403);
    expect(await status(adaCore.listNamespace())).toBe(403);
  });

  it('get their namespace only once its quota has been counted, so it holds from the first request', async () => {
    const quotas = await kc.makeApiClient(CoreV1Api).listNamespacedResourceQuota({ namespace: bob.namespace });
    const hard = quotas.items.flatMap((q) => Object.keys(q.spec?.hard ?? {}));
    const uncounted = quotas.items.flatMap((q) => Object.keys(q.spec?.hard ?? {}).filter((r) => !(r in (q.status?.used ?? {}))));
    expect(hard).toContain('count/pods');
    expect(hard).toContain('count/configmaps');
    expect(hard).toContain('count/secrets');
    expect(uncounted).toEqual([]);
  });

  it('carry a token Kubernetes accepts as the learner, not as the server', async () => {
    expect(await sandboxes.whoIs(ada.token)).toBe(learnerUser(ada.session));
  });
});

describe('sessions', () => {
  it('are found by their token only', async () => {
    const { token, session } = await store.create('Cy');
    try {
      expect((await store.byToken(token))?.metadata.name).toBe(session.metadata.name);
      expect(await store.byToken(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
      expect(await store.byToken('not-a-token')).toBeUndefined();
    } finally {
      await store.end(session.metadata.name);
    }
  });

  it('keep progress in the cluster, readable by a new store (a restarted server)', async () => {
    await store.patchStatus(ada.session.metadata.name, () => ({
      labs: { 'first-deployment': { steps: { deploy: { passedAt: '2026-11-24T10:00:00Z', attempts: 2 } } } },
    }));
    const restarted = new SessionStore(kc, { ttlMs: 3600_000 });
    const again = await restarted.get(ada.session.metadata.name);
    expect(again?.status?.labs?.['first-deployment']?.steps?.deploy).toMatchObject({ passedAt: '2026-11-24T10:00:00Z', attempts: 2 });
  });

  it('expire', async () => {
    const past = new SessionStore(kc, { ttlMs: 1 });
    const { token, session } = await past.create('Dee');
    try {
      await sleep(20);
      expect(await past.byToken(token)).toBeUndefined();
    } finally {
      await past.end(session.metadata.name);
    }
  });

  it('take their sandboxes with them when they end', async () => {
    const eve = await learner('Eve');
    expect(await sandboxes.removeSession(eve.session.metadata.name)).toContain(eve.namespace);
    await store.end(eve.session.metadata.name);
    const core = kc.makeApiClient(CoreV1Api);
    await waitFor(
      `the namespace ${eve.namespace} to be deleted or terminating`,
      async () => {
        const ns = await core.readNamespace({ name: eve.namespace }).catch(ignoreStatus(404));
        return ns?.status?.phase !== 'Active';
      },
      30_000,
      200,
    );
  });
});
