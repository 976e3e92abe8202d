/**
 * network-segmentation: default deny both ways, DNS for every pod, and one
 * path, app=ui to app=catalog on TCP 8080. Two ways at once:
 * - measured: the lab's pods run real containers on the real node, where
 *   kube-router enforces the policies, and probe pods of the check's own
 *   (labelled as ui and orders of the app namespace, and as the outside
 *   team's ui) ask catalog by its Service name: real DNS, real packets;
 * - worked out: what the learner's policies mean, as the API defines it,
 *   for a matrix of pods (the lab's, a newcomer, the outside team's, a pod
 *   of a third namespace) and ports no probe covers. Any way of writing it
 *   (one policy or several, `{}` or matchLabels or matchExpressions, a
 *   namespace by its kubernetes.io/metadata.name label or implied) means
 *   the same and passes. Ingress to the lab's pods is judged on their own
 *   rules alone: other pods' egress rules may change tomorrow.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Deployment, V1Namespace, V1NetworkPolicy } from '@kubernetes/client-node';
import { PollTimeout, poll } from '../cluster/src/kube.ts';
import { type CheckContext, criterion, defineCheck } from './lib/check.ts';
import { allows, type Endpoint } from './lib/network.ts';

type Protocol = 'TCP' | 'UDP';

function who(endpoint: Endpoint, home: string): string {
  const labels = Object.entries(endpoint.podLabels).map(([k, v]) => `${k}=${v}`);
  const what = labels.length > 0 ? `a pod labelled ${labels.join(',')}` : 'an unlabelled pod';
  return endpoint.namespace === home ? what : `${what} in ${endpoint.namespace}`;
}

/** A firewall learns of a policy a moment after it is applied: a right answer whose packets disagree is measured again, this often. */
const MEASURE_ROUNDS = 3;

interface Measured {
  uiReaches: boolean;
  ordersReaches: boolean;
  outsideReaches: boolean;
}

/** Asks catalog, by its Service name, as a ui and an orders pod of the app namespace and as the outside team's ui. */
async function measure(ctx: CheckContext, app: string, outside: string): Promise<Measured> {
  // A catalog still starting answers nobody: wait for it (briefly) so that a "no" is the policies'.
  await poll(async () => ((await ctx.get<V1Deployment>('apps/v1', 'Deployment', 'catalog', app))?.status?.readyReplicas ?? 0) > 0, {
    what: 'catalog to be ready',
    timeoutMs: 8000,
    intervalMs: 250,
    signal: ctx.signal,
  }).catch((error: unknown) => {
    if (!(error instanceof PollTimeout)) throw error;
  });
  const url = `http://catalog.${app}.svc.cluster.local:8080/`;
  const [ui, orders, foreign] = await Promise.all([
    ctx.reach(app, { app: 'ui' }, [url]),
    ctx.reach(app, { app: 'orders' }, [url]),
    ctx.reach(outside, { app: 'ui' }, [url]),
  ]);
  return { uiReaches: ui.get(url) === true, ordersReaches: orders.get(url) === true, outsideReaches: foreign.get(url) === true };
}

const asMeant = (m: Measured) => m.uiReaches && !m.ordersReaches && !m.outsideReaches;

export default defineCheck({
  lab: 'network-segmentation',
  steps: {
    async segment(ctx) {
      const app = ctx.ns('app');
      const outside = ctx.ns('outside');
      const [policies, appNs, outsideNs] = await Promise.all([
        ctx.list<V1NetworkPolicy>('networking.k8s.io/v1', 'NetworkPolicy', app),
        ctx.get<V1Namespace>('v1', 'Namespace', app),
        ctx.get<V1Namespace>('v1', 'Namespace', outside),
      ]);
      const at = (namespace: V1Namespace | undefined, name: string, podLabels: Record<string, string>): Endpoint => ({
        namespace: name,
        namespaceLabels: { ...namespace?.metadata?.labels, 'kubernetes.io/metadata.name': name },
        podLabels,
      });
      const ui = at(appNs, app, { app: 'ui' });
      const catalog = at(appNs, app, { app: 'catalog' });
      const orders = at(appNs, app, { app: 'orders' });
      const newcomer = at(appNs, app, { app: 'newcomer' });
      const foreignUi = at(outsideNs, outside, { app: 'ui' });
      const foreignPlain = at(outsideNs, outside, {});
      const elsewhereUi = at(undefined, 'elsewhere', { app: 'ui' });
      const dns = at(undefined, 'kube-system', { 'k8s-app': 'kube-dns' });
      const systemPod = at(undefined, 'kube-system', { component: 'other' });
      const mine = [ui, catalog, orders, newcomer];
      const strangers = [foreignUi, foreignPlain, elsewhereUi, systemPod];

      const ingress = (from: Endpoint, to: Endpoint, port: number, protocol: Protocol = 'TCP') =>
        allows(policies, { from, to, port, protocol }, 'ingress');
      const egress = (from: Endpoint, to: Endpoint, port: number, protocol: Protocol = 'TCP') =>
        allows(policies, { from, to, port, protocol }, 'egress');
      const path = (from: Endpoint, to: Endpoint, port: number, protocol: Protocol) =>
        `${who(from, app)} to ${who(to, app)} on ${port}/${protocol}`;

      const openIngress = ingress(orders, newcomer, 80) || ingress(foreignUi, newcomer, 80);
      const openEgress = egress(newcomer, foreignUi, 443) || egress(newcomer, orders, 80) || egress(newcomer, systemPod, 443);
      const withoutDns = mine.filter((p) => !egress(p, dns, 53, 'UDP') || !egress(p, dns, 53, 'TCP'));
      const intruders = [
        ...[orders, newcomer, ...strangers].filter((p) => ingress(p, catalog, 8080)).map((p) => who(p, app)),
        ingress(ui, catalog, 9090) ? 'ui on ports other than 8080' : '',
        ingress(ui, catalog, 8080, 'UDP') ? 'ui over UDP' : '',
      ].filter(Boolean);

      // Every other path: into the other pods (their own ingress rules), and out of the namespace (egress rules).
      const extra: string[] = [];
      for (const to of [ui, orders]) {
        for (const from of [ui, catalog, orders, foreignUi]) {
          for (const port of [80, 8080]) if (ingress(from, to, port)) extra.push(path(from, to, port, 'TCP'));
        }
      }
      for (const from of [ui, catalog, orders]) {
        for (const to of [foreignUi, elsewhereUi, systemPod]) {
          for (const [port, protocol] of [
            [80, 'TCP'],
            [443, 'TCP'],
            [8080, 'TCP'],
            [53, 'UDP'],
            [53, 'TCP'],
          ] as const) {
            if (egress(from, to, port, protocol)) extra.push(path(from, to, port, protocol));
          }
        }
      }
      const hint = '`kubectl get networkpolicies -o yaml`; for each, which pods does it select, and which peers and ports does it allow?';
      const worked = {
        deny: !openIngress && !openEgress,
        dns: withoutDns.length === 0,
        path: allows(policies, { from: ui, to: catalog, port: 8080 }),
        only: intruders.length === 0,
        extra: extra.length === 0,
      };
      let measured = await measure(ctx, app, outside);
      // Policies that mean the right thing and packets that say otherwise: the firewall may not have caught up yet.
      for (let round = 1; round < MEASURE_ROUNDS && Object.values(worked).every(Boolean) && !asMeant(measured); round++) {
        await sleep(1500, undefined, { signal: ctx.signal });
        measured = await measure(ctx, app, outside);
      }
      const said = [
        `ui ${measured.uiReaches ? 'reached' : 'did not reach'} catalog`,
        `orders ${measured.ordersReaches ? 'reached' : 'did not reach'} it`,
        `the outside team's ui ${measured.outsideReaches ? 'reached' : 'did not reach'} it`,
      ].join(', ');
      return [
        criterion('measured', asMeant(measured), {
          pass: `Measured with real packets, by catalog's name: ${said}.`,
          fail: `Measured with real packets, by catalog's name (http://catalog:8080 from a pod of each kind): ${said}; only ui should.${measured.uiReaches ? '' : ' If ui cannot resolve the name either, its DNS is blocked.'}`,
          hint: 'Try it yourself: `kubectl run probe --rm -i --restart=Never --image=localhost/cdl/busybox:1 --labels=app=ui -- timeout 3 wget -qO- http://catalog:8080/`, then with `--labels=app=orders`.',
        }),
        criterion('default-deny', worked.deny, {
          pass: 'A pod that no policy names can neither receive nor send traffic.',
          fail: openIngress
            ? 'A new pod in your namespace would still accept traffic from other pods: ingress is not denied by default.'
            : 'A new pod in your namespace could still send traffic to other pods: egress is not denied by default (an ipBlock of 0.0.0.0/0 covers pods too).',
          hint,
        }),
        criterion('dns', worked.dns, {
          pass: 'Every pod can reach the cluster DNS on port 53 over UDP and TCP.',
          fail: `The pods ${withoutDns.map((p) => `app=${p.podLabels.app}`).join(', ')} cannot reach the cluster DNS (kube-dns in kube-system, 53 over UDP and TCP), so no name resolves.`,
          hint,
        }),
        criterion('ui-reaches-catalog', worked.path, {
          pass: 'ui reaches catalog on 8080.',
          fail: 'The pods app=ui cannot reach app=catalog on TCP 8080: check both the egress from ui and the ingress to catalog.',
          hint,
        }),
        criterion('only-ui', worked.only, {
          pass: 'Nothing else reaches catalog.',
          fail: `Besides this namespace's ui on 8080/TCP, catalog admits ${intruders.join(' and ')}: its ingress rule must name ui alone, whatever other pods' egress rules say today.`,
          hint: 'Two items in a from list are an OR; one item with both selectors is an AND. A rule without ports allows every port.',
        }),
        criterion('no-other-paths', worked.extra, {
          pass: 'No other path is open: DNS and ui to catalog are the only exceptions to default deny.',
          fail: `Besides DNS and ui to catalog, your policies still allow ${extra.slice(0, 3).join('; ')}${extra.length > 3 ? ` (and ${extra.length - 3} more)` : ''}.`,
          hint: `${hint} An egress rule with ports but no \`to\` allows those ports to every destination.`,
        }),
      ];
    },
  },
});
