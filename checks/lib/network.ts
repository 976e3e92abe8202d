/**
 * What a set of NetworkPolicies allows, worked out from the objects as the
 * NetworkPolicy API defines it, so a check can ask "may a pod labelled
 * app=ui in namespace A reach catalog on 8080/TCP?" on a cluster whose nodes
 * are simulated. On a cluster with a network plugin, a lab can also probe.
 */
import type {
  V1LabelSelector,
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
} from '@kubernetes/client-node';

export interface Endpoint {
  namespace: string;
  /** The namespace's labels (kubernetes.io/metadata.name is always among them). */
  namespaceLabels: Record<string, string>;
  podLabels: Record<string, string>;
}

export interface Traffic {
  from: Endpoint;
  to: Endpoint;
  port: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** Whether a label selector selects these labels; an empty selector selects everything. */
export function selects(selector: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !e.values?.includes(value ?? '')) return false;
        break;
      case 'NotIn':
        if (has && e.values?.includes(value ?? '')) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/**
 * Whether `peer` (from a policy in `policyNamespace`) covers `endpoint`.
 * Pod addresses are not known here, so an ipBlock matches a pod only when
 * its CIDR covers every address (`/0`, whatever its `except`): a policy
 * whose egress goes to 0.0.0.0/0 opens every pod, as on a real cluster,
 * and must not look as closed as default deny; a narrower block matches none.
 */
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
    // A named port would need the pod's container ports; the labs use numbers.
    if (typeof p.port !== 'number') return false;
    return p.endPort !== undefined ? port >= p.port && port <= p.endPort : port === p.port;
  });
}

/** An ingress rule's `from` (named `_from` by the typed client, `from` in raw JSON). */
function sources(rule: V1NetworkPolicyIngressRule): V1NetworkPolicyPeer[] {
  const raw = rule as V1NetworkPolicyIngressRule & { from?: V1NetworkPolicyPeer[] };
  return raw._from ?? raw.from ?? [];
}

function types(policy: V1NetworkPolicy): string[] {
  if (policy.spec?.policyTypes?.length) return policy.spec.policyTypes;
  return policy.spec?.egress ? ['Ingress', 'Egress'] : ['Ingress'];
}

/**
 * Whether the policies (of every namespace involved) let this traffic
 * through; `side` limits the question to the source's egress or the
 * destination's ingress rules.
 */
export function allows(policies: readonly V1NetworkPolicy[], traffic: Traffic, side: 'both' | 'ingress' | 'egress' = 'both'): boolean {
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
