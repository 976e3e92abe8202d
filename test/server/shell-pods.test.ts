/**
 * Shells in pods (TERMINAL_SHELLS=pods), on the local cluster's real node:
 * a learner's shell runs in a pod of the platform's namespace, claimed from
 * a warm pool, as the learner's user with the learner's own credentials; the
 * learner can neither see nor touch that pod or its secret; the shell
 * survives the replica that opened it; ending the session removes its pod;
 * the namespace's NetworkPolicy is kept current.
 */
import { CoreV1Api, NetworkingV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../contract/session.ts';
import { apiServerDestinations, POOL_LABEL, SHELL_LABEL, SHELLS_NAMESPACE, ShellPods } from '../../labs-server/src/terminal/shell-pods.ts';
import { testKubeConfig } from '../support/kube.ts';
import { freePort } from '../support/ports.ts';
import { Client, startTestServer, type TestServer } from '../support/server.ts';
import { isRefusal, TerminalClient } from '../support/terminal-client.ts';

const CODE = 'PODS-2026-ROOM';

describe('shells in pods', () => {
  const core = testKubeConfig().makeApiClient(CoreV1Api);
  const replicas: TestServer[] = [];
  let origins: string;
  let origin: string;

  const startReplica = (port: number) =>
    startTestServer({
      PORT: String(port),
      CDL_MODE: 'workshop',
      CDL_ACCESS_CODE: CODE,
      SHARED_ADDRESSES: '127.0.0.1,::1',
      PUBLIC_ORIGINS: origins,
      TERMINAL_SHELLS: 'pods',
      TERMINAL_POOL_SIZE: '1',
    }).then((server) => {
      replicas.push(server);
      return server;
    });

  const freePods = async () => {
    const pods = await core.listNamespacedPod({ namespace: SHELLS_NAMESPACE, labelSelector: `${SHELL_LABEL}=true,${POOL_LABEL}=free` });
    return pods.items.filter((pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  };

  const open = async (server: TestServer, who: Client) => {
    const term = await TerminalClient.open(`ws://localhost:${server.port}/api/terminal?lab=palette`, { origin, cookie: who.cookie });
    if (isRefusal(term)) throw new Error(`terminal refused: ${term.status} ${term.body}`);
    return term;
  };

  beforeAll(async () => {
    const ports = [await freePort(), await freePort()];
    origin = `http://localhost:${ports[0]}`;
    origins = ports.map((port) => `http://localhost:${port}`).join(',');
    for (const port of ports) await startReplica(port);
  }, 180_000);

  afterAll(async () => {
    for (const server of replicas) await server.close().catch(() => undefined);
    // The pool outlives the servers (it is the cluster's); the rest of the suite has no use for it.
    await core.deleteCollectionNamespacedPod({ namespace: SHELLS_NAMESPACE, labelSelector: `${SHELL_LABEL}=true`, gracePeriodSeconds: 0 });
  });

  it('gives a learner a shell in a pod of the warm pool, as their own user and identity, that outlives its replica', async () => {
    const [a, b] = replicas as [TestServer, TestServer];
    expect(a.shell).toBe('agent');
    await expect.poll(freePods, { timeout: 120_000, interval: 500 }).toBe(1);
    const learner = new Client(origin);
    expect((await learner.post('/api/session', { name: 'Podded', accessCode: CODE })).status).toBe(201);
    const id = (await learner.get('/api/session')).body.id;

    const joined = performance.now();
    const term = await open(a, learner);
    await term.waitFor(/\$ $/m, 60_000);
    process.stderr.write(`[shell pods] join → prompt with a warm pool: ${Math.round(performance.now() - joined)} ms\n`);
    expect((await term.run('id -u')).trim()).toBe('65532');
    expect((await term.run('kubectl auth whoami -o jsonpath="{.status.userInfo.username}"; echo')).trim()).toBe(
      `system:serviceaccount:cdl-system:learner-${id}`,
    );
    const host = (await term.run('hostname')).trim();
    const mine = await core.listNamespacedPod({ namespace: SHELLS_NAMESPACE, labelSelector: `${LABELS.session}=${id}` });
    expect(mine.items.map((pod) => pod.metadata?.name)).toEqual([host]);
    expect(host).toMatch(/^shell-pool-/);
    // The pool is filled again behind the learner.
    await expect.poll(freePods, { timeout: 120_000, interval: 500 }).toBe(1);

    // The learner's identity reaches nothing of the platform's namespace: not the pod, not its secret.
    const denied = await term.run(
      `for v in "get pods" "get secrets" "delete pod ${host}" "exec ${host} -- true" "get pod ${host} -o yaml"; do kubectl -n ${SHELLS_NAMESPACE} $v >/dev/null 2>&1 && echo "allowed: $v"; done; echo checked`,
      30_000,
    );
    expect(denied.trim()).toBe('checked');
    // Nor can its shell reach another shell pod (the pool's, waiting for the next learner), or anything but the API server.
    const pool = await core.listNamespacedPod({ namespace: SHELLS_NAMESPACE, labelSelector: `${SHELL_LABEL}=true,${POOL_LABEL}=free` });
    const other = pool.items[0]?.status?.podIP;
    expect(other).toBeDefined();
    expect(await fetch(`http://${other}:7681/healthz`).then((r) => r.status), 'the server reaches the agents').toBe(200);
    expect(
      (await term.run(`curl -sS -m 3 -o /dev/null -w "%{http_code}" http://${other}:7681/healthz; echo " exit=$?"`, 20_000)).trim(),
    ).toMatch(/exit=(28|7)$/);
    expect((await term.run('kubectl get --raw /version >/dev/null && echo api-reached', 20_000)).trim()).toBe('api-reached');
    // Nothing on the pod's own file system can be changed but its home and /tmp.
    expect((await term.run('touch /app/x /usr/bin/x 2>&1 | grep -c "Read-only"')).trim()).toBe('2');
    const pid = (await term.run('echo $$')).trim();

    await a.close();
    await expect.poll(() => term.closed?.code, { timeout: 5000 }).toBe(1012);
    const again = await open(b, learner);
    await expect.poll(() => again.ready, { timeout: 30_000 }).toBeDefined();
    expect(again.ready?.resumed).toBe(true);
    expect((await again.run('echo $$; hostname')).trim().split(/\r?\n/)).toEqual([pid, host]);
    await again.close();

    const admin = new Client(`http://localhost:${b.port}`, { authorization: `Bearer ${b.secrets.adminToken}` });
    expect((await admin.delete(`/api/admin/sessions/${id}`)).status).toBe(204);
    await expect
      .poll(
        async () => (await core.listNamespacedPod({ namespace: SHELLS_NAMESPACE, labelSelector: `${LABELS.session}=${id}` })).items.length,
        {
          timeout: 30_000,
        },
      )
      .toBe(0);
  });

  it('lets the instructor size the pool for every replica', async () => {
    const b = replicas[1] as TestServer;
    const admin = new Client(`http://localhost:${b.port}`, { authorization: `Bearer ${b.secrets.adminToken}` });
    expect((await admin.put('/api/admin/pool', { size: 10_001 })).status).toBe(400);
    const set = await admin.put('/api/admin/pool', { size: 2 });
    expect(set.status).toBe(200);
    expect(set.body.size).toBe(2);
    await expect.poll(freePods, { timeout: 120_000, interval: 500 }).toBe(2);
    expect((await admin.get('/api/admin/pool')).body).toEqual({ size: 2, ready: 2, starting: 0 });
    // The size is the cluster's, for every replica to read.
    expect((await core.readNamespacedConfigMap({ name: 'cdl-shell-pool', namespace: 'cdl-system' })).data?.size).toBe('2');
    expect((await admin.put('/api/admin/pool', { size: 0 })).body.size).toBe(0);
    await expect.poll(freePods, { timeout: 60_000, interval: 500 }).toBe(0);
  });

  it("keeps the shell pods' NetworkPolicy current: one deleted by hand comes back with the API server's addresses", async () => {
    const kc = testKubeConfig();
    const pods = new ShellPods({
      kc,
      image: 'localhost/cdl/shell:1',
      poolSize: 0,
      memoryMiB: 256,
      cpus: 0.25,
      logger: pino({ level: 'silent' }),
    });
    const networking = kc.makeApiClient(NetworkingV1Api);
    const stop = pods.keepPolicyCurrent(300);
    try {
      await networking.deleteNamespacedNetworkPolicy({ name: 'shells', namespace: SHELLS_NAMESPACE });
      const api = await apiServerDestinations(kc);
      await expect
        .poll(
          async () => {
            const policy = await networking
              .readNamespacedNetworkPolicy({ name: 'shells', namespace: SHELLS_NAMESPACE })
              .catch(() => undefined);
            return policy?.spec?.egress?.map((rule) => rule.to?.[0]?.ipBlock?.cidr);
          },
          { timeout: 10_000, interval: 200 },
        )
        .toEqual(api.map((d) => d.cidr));
    } finally {
      stop();
    }
  });
});
