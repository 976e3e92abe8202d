/**
 * A variant of `allows` in network.ts for checks that must not be fooled by
 * an ipBlock: there an ipBlock never matches a pod, so a policy whose egress
 * goes `to: [{ ipBlock: { cidr: 0.0.0.0/0 } }]` looks as closed as default
 * deny, though on a real cluster it opens egress to every pod. Here an
 * ipBlock whose CIDR covers every address (`/0`, whatever its `except`
 * says, since pod addresses are not known here) matches any pod; a
 * narrower one matches none, as before. Everything else follows the
 * NetworkPolicy API as network.ts does.
 */
import type { V1NetworkPolicy, V1NetworkPolicyIngressRule, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import { type Endpoint, selects, type Traffic } from './network.ts';

function peerMatches(peer: V1NetworkPolicyPeer, policyNamespace: string, endpoint: Endpoint): boolean {
  if (peer.ipBlock) return peer.ipBlock.cidr.endsWith('/0');
  const namespaceOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, endpoint.namespaceLabels)
    : endpoint.namespace === policyNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector, endpoint.podLabels) : true;
  return namespaceOk && podOk;
}

function portMatches(ports: V1NetworkPolicyPort[] | undefined, port: number, protocol: string): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    // A named port would need the pod's container ports; the labs name none.
    if (typeof p.port !== 'number') return false;
    return p.endPort !== undefined ? port >= p.port && port <= p.endPort : port === p.port;
  });
}

function sources(rule: V1NetworkPolicyIngressRule): V1NetworkPolicyPeer[] {
  const raw = rule as V1NetworkPolicyIngressRule & { from?: V1NetworkPolicyPeer[] };
  return raw._from ?? raw.from ?? [];
}

function types(policy: V1NetworkPolicy): string[] {
  if (policy.spec?.policyTypes?.length) return policy.spec.policyTypes;
  return policy.spec?.egress ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** Whether the policies let this traffic through, on the source's egress side, the destination's ingress side, or both. */
export function reaches(policies: readonly V1NetworkPolicy[], traffic: Traffic, side: 'both' | 'ingress' | 'egress' = 'both'): boolean {
  const protocol = traffic.protocol ?? 'TCP';
  const inNamespace = (ns: string) => policies.filter((p) => p.metadata?.namespace === ns);
  const egressPolicies = inNamespace(traffic.from.namespace).filter(
    (p) => types(p).includes('Egress') && selects(p.spec?.podSelector, traffic.from.podLabels),
  );
  const egressOk =
    egressPolicies.length === 0 ||
    egressPolicies.some((p) =>
      (p.spec?.egress ?? []).some(
        (rule) =>
          portMatches(rule.ports, traffic.port, protocol) &&
          (!rule.to || rule.to.length === 0 || rule.to.some((peer) => peerMatches(peer, traffic.from.namespace, traffic.to))),
      ),
    );
  const ingressPolicies = inNamespace(traffic.to.namespace).filter(
    (p) => types(p).includes('Ingress') && selects(p.spec?.podSelector, traffic.to.podLabels),
  );
  const ingressOk =
    ingressPolicies.length === 0 ||
    ingressPolicies.some((p) =>
      (p.spec?.ingress ?? []).some(
        (rule) =>
          portMatches(rule.ports, traffic.port, protocol) &&
          (sources(rule).length === 0 || sources(rule).some((peer) => peerMatches(peer, traffic.to.namespace, traffic.from))),
      ),
    );
  if (side === 'ingress') return ingressOk;
  if (side === 'egress') return egressOk;
  return egressOk && ingressOk;
}
