/**
 * The chart installed for real, as "Run it for a big event" says: `helm
 * install` on a cluster of its own with its real node, the lab server's
 * image and the shell pods' image made without a registry and imported into
 * the node. Two replicas serve a learner who joins through the Service: the
 * learner's shell is a pod's, typed into through one replica, found again
 * with its output through the other; one replica's pod is deleted while the
 * learner types, and the page's reconnection (told by the close code)
 * reaches the same shell through the Service, losing nothing. The figures
 * (join to prompt, failover) are printed for the notes.
 *
 * Isolation is tested as the learner: their credentials cannot read, exec
 * into or delete the shell pods or anything of the platform's namespaces,
 * and their shell pod reaches the API server but no other agent and no
 * replica.
 */
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKubeConfig, waitFor } from '../../cluster/src/kube.ts';
import { findKubectl } from '../../cluster/src/kubectl.ts';
import { ensureHelm } from '../../cluster/src/local/binaries.ts';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import { CHART, helm } from '../support/helm.ts';
import { Client } from '../support/server.ts';
import { isRefusal, TerminalClient } from '../support/terminal-client.ts';

const NAMESPACE = 'cdl-event';
const RELEASE = 'cdl';
const ORIGIN = 'http://labs.event.test';
const CODE = 'HELM-2026-ROOM';
const ADMIN_TOKEN = 'helm-install-admin-token-0123456789';
const LAB = 'first-deployment';
const SELECTOR = 'app.kubernetes.io/name=container-day-labs';

const execFileAsync = promisify(execFile);
const kubectl = findKubectl() ?? 'kubectl';
const provider = new LocalProvider({ clusterName: 'helm-install', realNode: 'on' });
const log = (line: string) => process.stderr.write(`[helm install] ${line}\n`);
const figure = (line: string) => process.stderr.write(`[helm install] figure: ${line}\n`);

describe('the chart installed on the local cluster', () => {
  let admin: KubeConfig;
  let core: CoreV1Api;
  /** The Service's address, and each replica's. */
  let service = '';
  let replicas: Array<{ name: string; url: string }> = [];
  let learner: Client;
  let sessionId = '';

  const replicaPods = async () =>
    (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: SELECTOR })).items.filter(
      (pod) => !pod.metadata?.deletionTimestamp && pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );

  const open = async (base: string, since?: number) => {
    const query = new URLSearchParams({ lab: LAB, ...(since !== undefined ? { since: String(since) } : {}) });
    const term = await TerminalClient.open(`${base.replace(/^http/, 'ws')}/api/terminal?${query}`, {
      origin: ORIGIN,
      cookie: learner.cookie,
    });
    if (isRefusal(term)) throw new Error(`terminal refused: ${term.status} ${term.body}`);
    return term;
  };

  beforeAll(async () => {
    const up = await provider.up(log);
    if (up.state !== 'running') throw new Error(`the cluster did not start: ${up.detail}`);
    const nodes = provider.containerNodes;
    if (!nodes) throw new Error('the cluster has no real node to run the chart on');
    await provider.importImages(['shell', 'server'], log);
    await ensureHelm({ log });
    admin = loadKubeConfig(provider.kubeconfig);
    core = admin.makeApiClient(CoreV1Api);
    // Pods of the chart go to the real node: the simulated ones run no containers.
    const placement = {
      nodeSelector: { [nodes.label.key]: nodes.label.value },
      tolerations: [{ key: nodes.taint.key, operator: 'Equal', value: nodes.taint.value, effect: nodes.taint.effect }],
    };
    const started = Date.now();
    const installed = await helm([
      'install',
      RELEASE,
      CHART,
      '--namespace',
      NAMESPACE,
      '--create-namespace',
      '--kubeconfig',
      provider.kubeconfig,
      '--wait',
      '--timeout',
      '3m',
      '--set',
      `publicOrigin=${ORIGIN}`,
      '--set',
      'image.repository=localhost/cdl/server,image.tag=1,image.pullPolicy=Never',
      '--set',
      'shellImage.repository=localhost/cdl/shell,shellImage.tag=1',
      '--set',
      'route.kind=none,shells.poolSize=2,shutdownDelaySeconds=1',
      '--set',
      `workshop.accessCode=${CODE},workshop.adminToken=${ADMIN_TOKEN}`,
      // The API server as this machine (the attendee's computer here) reaches it, for the kubeconfig a learner downloads.
      '--set',
      `publicApiServer=${admin.getCurrentCluster()?.server}`,
      '--set-json',
      `nodeSelector=${JSON.stringify(placement.nodeSelector)}`,
      '--set-json',
      `tolerations=${JSON.stringify(placement.tolerations)}`,
      '--set-json',
      `shells.nodeSelector=${JSON.stringify(placement.nodeSelector)}`,
      '--set-json',
      `shells.tolerations=${JSON.stringify(placement.tolerations)}`,
    ]);
    if (installed.code !== 0) {
      // What the replicas said before they stopped, so that a failure in CI names its cause.
      const pods = (await core.listNamespacedPod({ namespace: NAMESPACE }).catch(() => undefined))?.items ?? [];
      const states: string[] = [];
      for (const pod of pods) {
        const name = pod.metadata?.name ?? '';
        const said = await core
          .readNamespacedPodLog({
            name,
            namespace: NAMESPACE,
            previous: (pod.status?.containerStatuses?.[0]?.restartCount ?? 0) > 0,
            tailLines: 15,
          })
          .catch((error: Error) => `(no log: ${error.message})`);
        states.push(`${name}: ${JSON.stringify(pod.status?.containerStatuses?.[0]?.state)}\n${said}`);
      }
      throw new Error(`helm install failed: ${installed.stderr}\n${states.join('\n')}`);
    }
    figure(`helm install --wait: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const svc = await core.readNamespacedService({ name: `${RELEASE}-container-day-labs`, namespace: NAMESPACE });
    service = `http://${svc.spec?.clusterIP}:${svc.spec?.ports?.[0]?.port}`;
    // The Service's rules follow its endpoints a moment after the replicas are ready.
    await waitFor(
      'the Service to answer',
      () =>
        fetch(`${service}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      60_000,
      250,
    );
    replicas = (await replicaPods()).map((pod) => ({ name: pod.metadata?.name ?? '', url: `http://${pod.status?.podIP}:4321` }));
    learner = new Client(service, { origin: ORIGIN });
  }, 900_000);

  afterAll(async () => {
    await provider.down(log);
  }, 120_000);

  it('runs two ready replicas, each answering /healthz through its pod and the Service', async () => {
    expect(replicas).toHaveLength(2);
    for (const base of [service, ...replicas.map((r) => r.url)]) {
      const health = await fetch(`${base}/healthz`);
      expect(health.status, base).toBe(200);
      expect((await health.json()).mode).toBe('workshop');
    }
    // The site is served too.
    const home = await fetch(`${service}/`);
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('<html');
  });

  it("gives a learner joining through the Service a shell pod, the same shell through either replica, and keeps it when a replica's pod is deleted", {
    timeout: 300_000,
  }, async () => {
    const joined = await learner.post('/api/session', { name: 'Helm', accessCode: CODE });
    expect(joined.status, JSON.stringify(joined.body)).toBe(201);
    sessionId = (await learner.get('/api/session')).body.id;
    expect((await learner.post(`/api/labs/${LAB}/start`)).status).toBe(201);

    const [a, b] = replicas as [{ name: string; url: string }, { name: string; url: string }];
    const joinedAt = performance.now();
    const term = await open(a.url);
    await term.waitFor(/\$ $/m, 60_000);
    figure(`join → prompt through a replica (warm pool of 2): ${Math.round(performance.now() - joinedAt)} ms`);
    expect((await term.run('kubectl auth whoami -o jsonpath="{.status.userInfo.username}"; echo')).trim()).toBe(
      `system:serviceaccount:cdl-system:learner-${sessionId}`,
    );
    // The shell is a pod's in the platform's namespace, not a process of the replica's.
    const shellPods = await core.listNamespacedPod({ namespace: 'cdl-shells', labelSelector: `containerdaylabs.dev/session=${sessionId}` });
    expect(shellPods.items.map((p) => p.metadata?.labels?.['containerdaylabs.dev/lab'])).toEqual([LAB]);
    expect((await term.run('hostname')).trim()).toBe(shellPods.items[0]?.metadata?.name);
    const pid = (await term.run('echo $$')).trim();
    await term.run('echo typed-through-a');
    await term.close();

    // Through the other replica: the same shell and what it showed.
    const other = await open(b.url, 0);
    await other.waitFor(/typed-through-a/, 20_000);
    expect(other.ready?.resumed).toBe(true);
    expect((await other.run('echo $$')).trim()).toBe(pid);

    // The learner is typing when b's pod is deleted (a node drained, a rollout): b tells the page to reconnect.
    other.send('for i in $(seq 1 300); do echo tick-$i; sleep 0.1; done\r');
    await other.waitFor(/tick-5\b/, 10_000);
    const deletedAt = performance.now();
    await core.deleteNamespacedPod({ name: b.name, namespace: NAMESPACE });
    await expect.poll(() => other.closed?.code, { timeout: 30_000, interval: 50 }).toBe(1012);
    const closedAt = performance.now();
    // The page reconnects at once, through the Service (which now sends it to a replica still serving).
    let again: TerminalClient | undefined;
    for (let attempt = 0; !again; attempt += 1) {
      try {
        again = await open(service, 0);
      } catch (error) {
        if (attempt > 50) throw error;
        await sleep(100);
      }
    }
    await again.waitFor(/tick-\d+/, 20_000);
    const resumedAt = performance.now();
    figure(
      `failover: pod deleted → page told ${Math.round(closedAt - deletedAt)} ms, → same shell's output again ${Math.round(resumedAt - deletedAt)} ms`,
    );
    expect(again.ready?.resumed).toBe(true);
    // Nothing lost: the loop ran on in the pod while no replica relayed it, and every line is in the replay.
    await again.waitFor(/tick-300\b/, 90_000);
    const ticks = [...again.textSince(0).matchAll(/tick-(\d+)/g)].map((m) => Number(m[1]));
    expect(new Set(ticks).size).toBe(300);
    expect((await again.run('echo $$')).trim()).toBe(pid);
    await again.close();

    // The Deployment replaces the pod; two replicas serve again.
    await waitFor('two ready replicas again', async () => (await replicaPods()).length === 2, 120_000, 1000);
    const deployment = await admin
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: `${RELEASE}-container-day-labs`, namespace: NAMESPACE });
    expect(deployment.status?.readyReplicas).toBe(2);
  });

  it("lets the learner's own credentials reach neither the shell pods nor the platform's namespaces", async () => {
    const kubeconfig = await learner.get(`/api/labs/${LAB}/kubeconfig`);
    expect(kubeconfig.status).toBe(200);
    // It names the API server as the learner's computer reaches it (publicApiServer), not the in-cluster address the replica uses.
    const own = new KubeConfig();
    own.loadFromString(kubeconfig.body as string);
    expect(own.getCurrentCluster()?.server).toBe(admin.getCurrentCluster()?.server);
    const theirs = own.makeApiClient(CoreV1Api);
    const refused = (promise: Promise<unknown>) =>
      promise.then(
        () => 'allowed',
        (error: { code?: number; message?: string }) => error.code ?? error.message,
      );
    const shellPod = (await core.listNamespacedPod({ namespace: 'cdl-shells', labelSelector: `containerdaylabs.dev/session=${sessionId}` }))
      .items[0]?.metadata?.name;
    expect(shellPod).toBeTruthy();
    expect(await refused(theirs.listNamespacedPod({ namespace: 'cdl-shells' }))).toBe(403);
    expect(await refused(theirs.readNamespacedPod({ name: shellPod ?? '', namespace: 'cdl-shells' }))).toBe(403);
    expect(await refused(theirs.deleteNamespacedPod({ name: shellPod ?? '', namespace: 'cdl-shells' }))).toBe(403);
    expect(await refused(theirs.listNamespacedSecret({ namespace: 'cdl-shells' }))).toBe(403);
    expect(await refused(theirs.listNamespacedSecret({ namespace: NAMESPACE }))).toBe(403);
    expect(await refused(theirs.listNamespacedPod({ namespace: NAMESPACE }))).toBe(403);
    expect(await refused(theirs.listNamespacedSecret({ namespace: 'cdl-system' }))).toBe(403);
    // Exec is a create on pods/exec: asked as the learner, the API server says no.
    const review = await own.makeApiClient((await import('@kubernetes/client-node')).AuthorizationV1Api).createSelfSubjectAccessReview({
      body: {
        spec: { resourceAttributes: { namespace: 'cdl-shells', verb: 'create', resource: 'pods', subresource: 'exec', name: shellPod } },
      },
    });
    expect(review.status?.allowed).toBe(false);
  });

  it("keeps the learner's shell pod from every address but the API server's (another shell pod's agent, a replica), and gives it the editor's saves", {
    timeout: 60_000,
  }, async () => {
    // The replicas as they are now (one was replaced above).
    replicas = (await replicaPods()).map((pod) => ({ name: pod.metadata?.name ?? '', url: `http://${pod.status?.podIP}:4321` }));
    expect(replicas).toHaveLength(2);
    const others = (await core.listNamespacedPod({ namespace: 'cdl-shells' })).items.filter(
      (pod) => pod.metadata?.labels?.['containerdaylabs.dev/session'] !== sessionId && pod.status?.podIP,
    );
    expect(others.length, 'the pool keeps other shell pods').toBeGreaterThan(0);
    const targets = [`${others[0]?.status?.podIP}/7681`, ...replicas.map((r) => `${new URL(r.url).hostname}/4321`)];
    const term = await open(service);
    await expect.poll(() => term.ready, { timeout: 30_000 }).toBeDefined();
    // bash's own /dev/tcp: a connection made or not, whatever programs the image has.
    const probe = (target: string) => `timeout 3 bash -c 'echo > /dev/tcp/${target}' 2>/dev/null && echo reached || echo refused`;
    // The probe itself works: the API server is reachable, through its Service.
    const api = await core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
    expect((await term.run(probe(`${api.spec?.clusterIP}/443`), 20_000)).trim()).toBe('reached');
    for (const target of targets) expect((await term.run(probe(target), 20_000)).trim(), target).toBe('refused');
    // A replica's own way out (the chart's NetworkPolicy, its API server addresses read from the cluster at install):
    // the API server, the agents and the DNS's port 53, nothing else.
    const fromReplica = async (target: string) => {
      const { stdout } = await execFileAsync(kubectl, [
        '--kubeconfig',
        provider.kubeconfig,
        '-n',
        NAMESPACE,
        'exec',
        replicas[0]?.name ?? '',
        '--',
        'bash',
        '-c',
        probe(target),
      ]);
      return stdout.trim();
    };
    expect(await fromReplica(`${api.spec?.clusterIP}/443`)).toBe('reached');
    expect(await fromReplica(`${others[0]?.status?.podIP}/7681`)).toBe('reached');
    // The cluster DNS on its port 53 only: its readiness port (open to anyone else) is not for the replicas.
    const dns = (await core.listNamespacedPod({ namespace: 'kube-system', labelSelector: 'k8s-app=kube-dns' })).items.find(
      (pod) => pod.status?.podIP,
    );
    expect(dns, 'a cluster DNS pod').toBeDefined();
    expect((await fetch(`http://${dns?.status?.podIP}:8181/ready`)).status, 'the port answers from the node').toBe(200);
    expect(await fromReplica(`${dns?.status?.podIP}/8181`)).toBe('refused');
    expect(await term.run(probe(`${dns?.status?.podIP}/8181`), 20_000)).toContain('refused');

    // The editor's save reaches the shell pod through whichever replica takes it.
    const saved = await learner.post(`/api/labs/${LAB}/files/web.yaml`, { content: 'kind: ConfigMap\nmetadata: { name: saved }\n' });
    expect(saved.status, JSON.stringify(saved.body)).toBe(200);
    expect(await term.run('cat ~/files/web.yaml')).toContain('name: saved');
    await term.close();
  });
});
