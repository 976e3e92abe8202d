import type { V1Namespace, V1NetworkPolicy } from '@kubernetes/client-node';
import { criterion, defineCheck } from './lib/check.ts';
import { allows, type Endpoint } from './lib/network.ts';

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
        namespaceLabels: { 'kubernetes.io/metadata.name': name, ...namespace?.metadata?.labels },
        podLabels,
      });
      const ui = at(appNs, app, { app: 'ui' });
      const catalog = at(appNs, app, { app: 'catalog' });
      const orders = at(appNs, app, { app: 'orders' });
      const newcomer = at(appNs, app, { app: 'newcomer' });
      const foreignUi = at(outsideNs, outside, { app: 'ui' });
      const dns = at(undefined, 'kube-system', { 'k8s-app': 'kube-dns' });
      const may = (from: Endpoint, to: Endpoint, port: number, protocol: 'TCP' | 'UDP' = 'TCP') =>
        allows(policies, { from, to, port, protocol });
      // What catalog's own ingress rules admit, whatever the sources' egress rules say.
      const admits = (from: Endpoint, port: number) => allows(policies, { from, to: catalog, port }, 'ingress');

      const openIngress = may(orders, newcomer, 80);
      const openEgress = may(newcomer, foreignUi, 443);
      const withoutDns = [ui, catalog, orders].filter((p) => !may(p, dns, 53, 'UDP') || !may(p, dns, 53, 'TCP'));
      const intruders = [
        admits(orders, 8080) ? 'a pod labelled app=orders in your namespace' : '',
        admits(foreignUi, 8080) ? 'a pod labelled app=ui in the outside namespace' : '',
        admits(ui, 9090) ? 'ui on ports other than 8080' : '',
      ].filter(Boolean);
      const hint = '`kubectl get networkpolicies -o yaml`; for each, which pods does it select, and which peers and ports does it allow?';
      return [
        criterion('default-deny', !openIngress && !openEgress, {
          pass: 'A pod that no policy names can neither receive nor send traffic.',
          fail: openIngress
            ? 'A new pod in your namespace would still accept traffic from any pod: ingress is not denied by default.'
            : 'A new pod in your namespace could still send traffic anywhere: egress is not denied by default.',
          hint,
        }),
        criterion('dns', withoutDns.length === 0, {
          pass: 'Every pod can reach the cluster DNS on port 53.',
          fail: `The pods ${withoutDns.map((p) => `app=${p.podLabels.app}`).join(', ')} cannot reach the cluster DNS (kube-dns in kube-system, 53 over UDP and TCP), so no name resolves.`,
          hint,
        }),
        criterion('ui-reaches-catalog', may(ui, catalog, 8080), {
          pass: 'ui reaches catalog on 8080.',
          fail: 'The pods app=ui cannot reach app=catalog on TCP 8080: check both the egress from ui and the ingress to catalog.',
          hint,
        }),
        criterion('only-ui', intruders.length === 0, {
          pass: 'Nothing else reaches catalog.',
          fail: `Besides this namespace's ui, catalog admits ${intruders.join(' and ')}: its ingress rule must name ui alone, whatever other pods' egress rules say today.`,
          hint: 'Two items in a from list are an OR; one item with both selectors is an AND.',
        }),
      ];
    },
  },
});
