/**
 * Housekeeping on the real cluster: an expired session and an idle one lose
 * their shells and sandboxes (and what their cluster-scope labs made outside
 * them) but keep their progress; an active one is left alone; two replicas
 * sweeping at once do the work once; a sandbox build a dead server left
 * half done is finished.
 */

import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { courseCatalog } from '../../checks/catalog.ts';
import { realNamespace } from '../../contract/sandbox.ts';
import { LabService } from '../../labs-server/src/labs/service.ts';
import { createMetrics } from '../../labs-server/src/metrics.ts';
import { sweep } from '../../labs-server/src/reaper.ts';
import { Sandboxes } from '../../labs-server/src/sandbox/provision.ts';
import { ensureCrd } from '../../labs-server/src/sessions/crd.ts';
import { SessionStore } from '../../labs-server/src/sessions/store.ts';
import { testKubeConfig } from '../support/kube.ts';

const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const HOUR = 3_600_000;
const store = new SessionStore(kc, { ttlMs: HOUR });
const sandboxes = new Sandboxes(kc);
const metrics = createMetrics();
/** Sessions whose shells the service asked to close; undefined while nobody listens. */
let closing: string[] | undefined;
const labs = new LabService({
  kc,
  catalog: courseCatalog(),
  store,
  sandboxes,
  metrics,
  capabilities: { runsContainers: false, ownedByPlatform: true, enforcesNetworkPolicy: false, auditLog: false },
  mode: 'single',
  onSessionEnd: (name) => closing?.push(name),
});
const created: string[] = [];

async function exists(namespace: string): Promise<boolean> {
  const ns = await core.readNamespace({ name: namespace }).catch(() => undefined);
  return ns !== undefined && ns.status?.phase !== 'Terminating';
}

beforeAll(async () => {
  await ensureCrd(kc);
  await sandboxes.ensureSystemNamespace();
});

afterAll(async () => {
  for (const name of created) await labs.end(name).catch(() => undefined);
});

describe('the reaper', () => {
  it('clears idle sandboxes, keeps their progress, and leaves active ones alone', async () => {
    const [idle, active] = await Promise.all([store.create('idle'), store.create('active')]);
    created.push(idle.session.metadata.name, active.session.metadata.name);
    const idleLab = await labs.start(idle.session, 'ci-deployer');
    const activeLab = await labs.start(active.session, 'first-deployment');
    await labs.check(await store.require(idle.session.metadata.name), 'ci-deployer', 'least-privilege');
    const binding = `ci-deployer-${realNamespace(idleLab.namespaces, 'ci')}`;
    expect((await rbac.readClusterRoleBinding({ name: binding })).metadata?.name).toBe(binding);

    // The idle learner's last move was 70 minutes ago; the limit is an hour.
    const longAgo = new Date(Date.now() - 70 * 60_000).toISOString();
    await store.patchStatus(idle.session.metadata.name, () => ({ lastActivityAt: longAgo }));
    const result = await sweep({ store, labs, metrics, logger: pino({ level: 'silent' }), idleMs: HOUR });
    expect(result.expired).toEqual([]);
    expect(result.idled).toContain(idle.session.metadata.name);
    expect(result.idled).not.toContain(active.session.metadata.name);
    expect(await exists(realNamespace(idleLab.namespaces, 'ci') ?? '')).toBe(false);
    expect(await exists(realNamespace(activeLab.namespaces, 'app') ?? '')).toBe(true);
    // What the cluster-scope lab made outside its namespace went with it.
    await expect(rbac.readClusterRoleBinding({ name: binding })).rejects.toMatchObject({ code: 404 });
    const kept = await store.require(idle.session.metadata.name);
    expect(kept.status?.labs?.['ci-deployer']?.sandbox).toBe('removed');
    expect(kept.status?.labs?.['ci-deployer']?.steps?.['least-privilege']?.attempts).toBe(1);
  });

  it('removes the shells and sandboxes of a session whose time is up, and keeps its progress', async () => {
    const short = new SessionStore(kc, { ttlMs: 1500 });
    const { token, session } = await short.create('brief');
    created.push(session.metadata.name);
    const { namespaces } = await labs.start(session, 'first-deployment');
    await labs.check(await store.require(session.metadata.name), 'first-deployment', 'deploy');
    const closed: string[] = [];
    closing = closed;
    try {
      await sleep(1600);
      const result = await sweep({ store, labs, metrics, logger: pino({ level: 'silent' }), idleMs: HOUR });
      expect(result.expired).toContain(session.metadata.name);
      expect(closed, 'its shells are closed').toContain(session.metadata.name);
    } finally {
      closing = undefined;
    }
    expect(await exists(realNamespace(namespaces, 'app') ?? '')).toBe(false);
    expect(await store.byToken(token), 'its cookie opens nothing').toBeUndefined();
    const kept = await store.require(session.metadata.name);
    expect(kept.status?.labs?.['first-deployment']?.sandbox).toBe('removed');
    expect(kept.status?.labs?.['first-deployment']?.steps?.deploy?.attempts).toBe(1);
    // Nothing is left to do for it on the next sweep.
    const again = await sweep({ store, labs, metrics, logger: pino({ level: 'silent' }), idleMs: HOUR });
    expect(again.expired).not.toContain(session.metadata.name);
  });

  it('may run on two replicas at the same moment: the work is done once, and neither fails', async () => {
    // A second replica: its own store, sandboxes and service, on the same cluster.
    const otherStore = new SessionStore(kc, { ttlMs: HOUR });
    const other = new LabService({
      kc,
      catalog: courseCatalog(),
      store: otherStore,
      sandboxes: new Sandboxes(kc),
      metrics: createMetrics(),
      capabilities: { runsContainers: false, ownedByPlatform: true, enforcesNetworkPolicy: false, auditLog: false },
      mode: 'single',
    });
    const { session } = await store.create('idle-twice');
    created.push(session.metadata.name);
    const started = await labs.start(session, 'first-deployment');
    await labs.check(await store.require(session.metadata.name), 'first-deployment', 'deploy');
    await store.patchStatus(session.metadata.name, () => ({ lastActivityAt: new Date(Date.now() - 70 * 60_000).toISOString() }));
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    logger.warn('the log is read');
    expect(warnings.splice(0)).toHaveLength(1);
    const [a, b] = await Promise.all([
      sweep({ store, labs, metrics, logger, idleMs: HOUR }),
      sweep({ store: otherStore, labs: other, metrics, logger, idleMs: HOUR }),
    ]);
    expect([...a.idled, ...b.idled]).toContain(session.metadata.name);
    expect(warnings).toEqual([]);
    expect(await exists(realNamespace(started.namespaces, 'app') ?? '')).toBe(false);
    const kept = await store.require(session.metadata.name);
    expect(kept.status?.labs?.['first-deployment']?.sandbox).toBe('removed');
    expect(kept.status?.labs?.['first-deployment']?.steps?.deploy?.attempts).toBe(1);
    // And the next sweep of either finds nothing left to do for it.
    const again = await Promise.all([
      sweep({ store, labs, metrics, logger, idleMs: HOUR }),
      sweep({ store: otherStore, labs: other, metrics, logger, idleMs: HOUR }),
    ]);
    expect(again.flatMap((r) => r.idled)).not.toContain(session.metadata.name);
  });

  it('finishes a reset that a dead server left half done', async () => {
    const { session } = await store.create('interrupted');
    created.push(session.metadata.name);
    const { namespaces } = await labs.start(session, 'first-deployment');
    // A server on this host (a pid no process can have) claimed a reset and deleted the namespace, then died.
    const dead = `${hostname()}/4194305/dead`;
    await store.patchStatus(session.metadata.name, () => ({
      labs: {
        'first-deployment': { sandbox: 'resetting', operation: { holder: dead, until: new Date(Date.now() + 60_000).toISOString() } },
      },
    }));
    await core.deleteNamespace({ name: realNamespace(namespaces, 'app') ?? '' });
    const result = await sweep({ store, labs, metrics, logger: pino({ level: 'silent' }), idleMs: HOUR });
    expect(result.repaired).toContain(`${session.metadata.name}/first-deployment`);
    expect(await exists(realNamespace(namespaces, 'app') ?? '')).toBe(true);
    expect((await store.require(session.metadata.name)).status?.labs?.['first-deployment']?.sandbox).toBe('ready');
  });
});
