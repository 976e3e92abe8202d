/**
 * The real node's network with real packets: a Service resolves by name
 * (CoreDNS) and answers (kube-proxy), a NetworkPolicy drops traffic and an
 * allow rule lets it through (kube-router), a pod's in-cluster client
 * reaches the API server at the `kubernetes` Service, and a pod reaches
 * neither the machine's own services nor anything beyond the cluster. Every answer is
 * measured from a pod of the real node (checks/lib/reachability.ts).
 */

import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { checkServerIdentity, type PeerCertificate, connect as tlsConnect } from 'node:tls';
import { AppsV1Api, CoreV1Api, NetworkingV1Api, type V1NetworkPolicy } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ProbeClient, probe } from '../../checks/lib/reachability.ts';
import { loadKubeConfig, rolledOut, waitFor } from '../../cluster/src/kube.ts';
import { IMAGE_REFS } from '../../cluster/src/local/images.ts';
import { REAL_NODE_LABEL, REAL_NODE_NAME, REAL_NODE_TAINT } from '../../cluster/src/local/real-node-config.ts';

const kc = loadKubeConfig(inject('kubeconfig'));
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const net = kc.makeApiClient(NetworkingV1Api);
const NAMESPACE = `real-network-${process.pid}`;
const placement = {
  nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
  tolerations: [{ key: REAL_NODE_TAINT.key, operator: 'Exists', effect: REAL_NODE_TAINT.effect }],
};
const client = (role: string): ProbeClient => ({ namespace: NAMESPACE, labels: { role }, ...placement });
const WEB = `http://web.${NAMESPACE}.svc.cluster.local/`;

let host: Server;

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await apps.createNamespacedDeployment({
    namespace: NAMESPACE,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            ...placement,
            containers: [
              {
                name: 'app',
                image: IMAGE_REFS.demoApp,
                imagePullPolicy: 'IfNotPresent',
                readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    },
  });
  await core.createNamespacedService({
    namespace: NAMESPACE,
    body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
  });
  await waitFor(
    'web to be ready',
    async () => rolledOut(await apps.readNamespacedDeployment({ name: 'web', namespace: NAMESPACE })),
    60_000,
  );
  // A service of the machine's own, on every interface: no pod may reach it.
  host = createServer((_req, res) => res.end('the host\n'));
  await new Promise<void>((resolve) => host.listen(0, '0.0.0.0', resolve));
}, 90_000);

afterAll(async () => {
  host?.close();
  await core.deleteNamespace({ name: NAMESPACE, gracePeriodSeconds: 0 }).catch(() => undefined);
});

async function policy(body: V1NetworkPolicy): Promise<void> {
  await net.createNamespacedNetworkPolicy({ namespace: NAMESPACE, body });
}

describe("the real node's network", () => {
  it('resolves a Service by its names and answers through it', async () => {
    const answers = await probe(core, client('client'), [WEB, 'http://web/', 'http://nothing-here/']);
    expect([...answers]).toEqual([
      [WEB, true],
      ['http://web/', true],
      ['http://nothing-here/', false],
    ]);
  });

  it('drops what a default-deny policy denies, and lets through what an allow rule allows, with real packets', async () => {
    await policy({
      metadata: { name: 'default-deny' },
      spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] },
    });
    // kube-router applies a change within a second or two: wait until the packets say so.
    await waitFor(
      'the default deny to drop traffic',
      async () => (await probe(core, client('client'), [WEB])).get(WEB) === false,
      30_000,
      500,
    );

    await policy({
      metadata: { name: 'allow-clients' },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Ingress'],
        ingress: [{ _from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 8080 }] }],
      },
    });
    await waitFor(
      'the allow rule to let clients in',
      async () => (await probe(core, client('client'), [WEB])).get(WEB) === true,
      30_000,
      500,
    );
    expect((await probe(core, client('stranger'), [WEB])).get(WEB), 'a pod the rule does not name').toBe(false);
  }, 90_000);

  it('carries no IPv6 between pods, which would walk around the policies (they filter IPv4)', async () => {
    // web's link-local address, read where its process runs (this machine): the API does not show it.
    const [pod] = (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: 'app=web' })).items;
    const name = pod?.metadata?.name ?? '';
    const pid = readdirSync('/proc').find((entry) => {
      if (!/^\d+$/.test(entry)) return false;
      const environ = (() => {
        try {
          return readFileSync(`/proc/${entry}/environ`, 'utf8');
        } catch {
          return '';
        }
      })();
      return environ.split('\0').includes(`HOSTNAME=${name}`);
    });
    const line = readFileSync(`/proc/${pid}/net/if_inet6`, 'utf8')
      .split('\n')
      .find((l) => l.trim().endsWith(' eth0'));
    const hex = line?.split(/\s+/)[0] ?? '';
    expect(hex, 'web has a link-local address').toMatch(/^fe80/);
    const address = hex.match(/.{4}/g)?.join(':');
    // By IPv4 the policies let clients in (the test above); by its link-local address nobody gets in.
    const url = `http://[${address}%eth0]:8080/`;
    expect((await probe(core, client('client'), [WEB, url])).get(url)).toBe(false);
  });

  it('lets an in-cluster client reach the API server at the kubernetes Service, whose address its certificate names', async () => {
    const service = await core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
    const ip = service.spec?.clusterIP ?? '';
    // kube-proxy leaves this one Service to the pods' firewall (the API server listens on 127.0.0.1 only).
    expect(service.metadata?.labels?.['service.kubernetes.io/service-proxy-name']).toBeTruthy();
    // What a pod's client verifies: the certificate the API server presents names the Service's address.
    const server = new URL(kc.getCurrentCluster()?.server ?? '');
    const cert = await new Promise<PeerCertificate>((resolve, reject) => {
      const socket = tlsConnect({ host: server.hostname, port: Number(server.port), rejectUnauthorized: false }, () => {
        resolve(socket.getPeerCertificate());
        socket.end();
      }).on('error', reject);
    });
    expect(checkServerIdentity(ip, cert)).toBeUndefined();
    // And the packets get there, by address and by name: the API server's TLS port answers a plain request with its 400.
    const name = `in-cluster-${process.pid}`;
    const ask = (host: string) => `printf 'GET /version HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc ${host} 443; echo`;
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name },
        spec: {
          ...placement,
          restartPolicy: 'Never',
          containers: [
            {
              name: 'client',
              image: IMAGE_REFS.busybox,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', `${ask(ip)}; ${ask('kubernetes.default.svc.cluster.local')}`],
            },
          ],
        },
      },
    });
    await waitFor(
      'the in-cluster client to finish',
      async () => (await core.readNamespacedPod({ name, namespace: NAMESPACE })).status?.phase === 'Succeeded',
      30_000,
      250,
    );
    const log = await core.readNamespacedPodLog({ name, namespace: NAMESPACE });
    expect(log.match(/Client sent an HTTP request to an HTTPS server/g)).toHaveLength(2);
  });

  it("reaches neither the machine's own services nor its network", async () => {
    const node = await core.readNode({ name: REAL_NODE_NAME });
    const nodeIp = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    const machineIp = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal && a.address !== nodeIp)?.address;
    const { port } = host.address() as AddressInfo;
    const urls = [`http://${nodeIp}:${port}/`, ...(machineIp ? [`http://${machineIp}:${port}/`] : [])];
    // The machine itself reaches it: the server is up, so a "no" below is the firewall's.
    for (const url of urls) expect(await (await fetch(url)).text()).toBe('the host\n');
    const answers = await probe(core, client('client'), urls);
    for (const url of urls) expect(answers.get(url), url).toBe(false);
  });
});
