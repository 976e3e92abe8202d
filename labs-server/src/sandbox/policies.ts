/**
 * What a learner may not do inside their own sandbox, though the built-in
 * `admin` ClusterRole would let them: three ValidatingAdmissionPolicies the
 * platform applies at startup, each bound to sandbox namespaces only (those
 * carrying a session label) and matching only requests made by a learner.
 *
 * - `cdl-sandbox-no-external-ips`: a Service may not set `spec.externalIPs`.
 *   Whoever creates one can intercept the cluster's traffic to any address
 *   it names (CVE-2020-8554), other learners' included.
 * - `cdl-sandbox-binding-subjects`: a RoleBinding may name a ServiceAccount
 *   of its own namespace, or a user or group of the learner's choosing, but
 *   no `system:` user or group (`system:unauthenticated`, `system:anonymous`,
 *   `system:authenticated`, `system:serviceaccounts`…, which would open the
 *   sandbox to everyone) and no ServiceAccount of another namespace (another
 *   learner's, or the learners' own identities in the platform namespace).
 * - `cdl-sandbox-kinds`: a learner creates only the kinds the sandbox's
 *   quota counts (quota.ts), so the bound on what a sandbox puts into etcd
 *   holds even when a CRD installed on the cluster aggregates into `admin`.
 *
 * Why policies and the built-in `admin` role, rather than a role of our own:
 * RBAC cannot say who may be named in a binding (its `bind` and `escalate`
 * checks look at a role's rules, never at the subjects), and it cannot look
 * inside a Service's spec, so only admission can refuse these. A narrower
 * role would also break the labs, whose wrong attempts bind `admin` and
 * `edit` (RBAC lets a learner bind only rules they hold), and it would gain
 * nothing: any learner may hand `admin` to a ServiceAccount of their
 * namespace and act as it.
 *
 * That last point is also why a learner is more than their own username
 * here. A learner may act as any ServiceAccount of their namespace (by
 * impersonation, which `admin` allows, or with a token they request for it),
 * so the policies match both the learners' identities
 * (`system:serviceaccount:cdl-system:learner-*`) and every ServiceAccount of
 * the namespace the request is made in. The platform itself, which applies
 * setups and solutions with the server's own credentials, and the cluster's
 * controllers (ServiceAccounts of kube-system) are never matched.
 */
import type {
  KubeConfig,
  KubernetesObject,
  V1MutatingAdmissionPolicy,
  V1MutatingAdmissionPolicyBinding,
  V1ValidatingAdmissionPolicy,
  V1ValidatingAdmissionPolicyBinding,
} from '@kubernetes/client-node';
import { applyObjects } from '../../../cluster/src/kube.ts';
import type { ContainerNodes } from '../../../cluster/src/provider.ts';
import { LABELS, MANAGER } from '../../../contract/session.ts';
import { COUNTED_KINDS, UNSTORED_KINDS } from './quota.ts';

const API_VERSION = 'admissionregistration.k8s.io/v1';

/** CEL text for a string literal (names here are plain, but quoting stays correct). */
function cel(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** Requests made by a learner: their own ServiceAccount, or one of the sandbox namespace they act as. */
function learnerCondition(systemNamespace: string): string {
  return [
    `request.userInfo.username.startsWith(${cel(`system:serviceaccount:${systemNamespace}:learner-`)})`,
    "request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace + ':')",
  ].join(' || ');
}

const labels = { [LABELS.managedBy]: MANAGER };

function policy(
  name: string,
  systemNamespace: string,
  spec: Omit<NonNullable<V1ValidatingAdmissionPolicy['spec']>, 'failurePolicy' | 'matchConditions'>,
): V1ValidatingAdmissionPolicy {
  return {
    apiVersion: API_VERSION,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name, labels },
    spec: {
      failurePolicy: 'Fail',
      matchConditions: [{ name: 'made-by-a-learner', expression: learnerCondition(systemNamespace) }],
      ...spec,
    },
  };
}

/** Binds a policy to sandbox namespaces: those with a session label, made by the platform. */
function binding(policyName: string): V1ValidatingAdmissionPolicyBinding {
  return {
    apiVersion: API_VERSION,
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: policyName, labels },
    spec: {
      policyName,
      validationActions: ['Deny'],
      matchResources: {
        namespaceSelector: {
          matchLabels: { [LABELS.managedBy]: MANAGER },
          matchExpressions: [{ key: LABELS.session, operator: 'Exists' }],
        },
      },
    },
  };
}

export const POLICY_NAMES = {
  externalIPs: 'cdl-sandbox-no-external-ips',
  subjects: 'cdl-sandbox-binding-subjects',
  kinds: 'cdl-sandbox-kinds',
  containerNodes: 'cdl-sandbox-container-nodes',
  noRawSockets: 'cdl-sandbox-no-raw-sockets',
} as const;

/** The label of a sandbox namespace bound to the nodes that run containers (provision.ts). */
export const CONTAINERS_LABEL = 'containerdaylabs.dev/runs-containers';

/**
 * Pods stay where their lab puts them, whoever creates them (the learner, or
 * a controller for the learner's Deployment or Job): in a namespace of a lab
 * that runs containers, a pod may not name another node (`nodeName`
 * bypasses the scheduler, and with it the namespace's node selector); in
 * any other sandbox namespace, a pod may neither tolerate the real node's
 * taint (nor every taint at once, an `Exists` without a key) nor name the
 * real node. The namespace's annotations, which a learner cannot change,
 * do the rest (PodNodeSelector and PodTolerationRestriction).
 */
export function containerNodesPolicy(nodes: ContainerNodes): KubernetesObject[] {
  const name = POLICY_NAMES.containerNodes;
  const bound = `has(namespaceObject.metadata.labels) && ${cel(CONTAINERS_LABEL)} in namespaceObject.metadata.labels && namespaceObject.metadata.labels[${cel(CONTAINERS_LABEL)}] == 'true'`;
  const named = "has(object.spec.nodeName) && object.spec.nodeName != ''";
  const tolerates = `has(object.spec.tolerations) && object.spec.tolerations.exists(t, (has(t.key) && t.key == ${cel(nodes.taint.key)}) || ((!has(t.key) || t.key == '') && has(t.operator) && t.operator == 'Exists'))`;
  const policy: V1ValidatingAdmissionPolicy = {
    apiVersion: API_VERSION,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name, labels },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
      },
      variables: [{ name: 'bound', expression: bound }],
      validations: [
        {
          expression: `!variables.bound || !(${named}) || object.spec.nodeName == ${cel(nodes.nodeName)}`,
          reason: 'Forbidden',
          message: `This lab's pods run real containers on ${nodes.nodeName}; a pod may not name another node (spec.nodeName).`,
        },
        {
          expression: `variables.bound || !(${named}) || object.spec.nodeName != ${cel(nodes.nodeName)}`,
          reason: 'Forbidden',
          message: `${nodes.nodeName} runs the pods of the labs that need real containers; this lab's pods stay on the simulated nodes.`,
        },
        {
          expression: `variables.bound || !(${tolerates})`,
          reason: 'Forbidden',
          message: `This lab's pods stay on the simulated nodes: a pod here may not tolerate the taint ${nodes.taint.key} of the node that runs real containers (nor every taint, with an Exists toleration without a key).`,
        },
      ],
    },
  };
  return [policy, binding(name)];
}

/**
 * JSON patches that add NET_RAW to what each container of `kind` drops
 * (unless it drops it, or ALL, already), creating the fields it lacks (`capabilities.drop` is an atomic list, which
 * an apply configuration may not change).
 */
function dropNetRaw(kind: string): string {
  const at = `'/spec/${kind}/' + string(object.spec.${kind}.indexOf(c))`;
  const context = `Object.spec.${kind}.securityContext`;
  const patch = [
    `!has(c.securityContext) ? JSONPatch{op: 'add', path: ${at} + '/securityContext', value: ${context}{capabilities: ${context}.capabilities{drop: ['NET_RAW']}}}`,
    `: !has(c.securityContext.capabilities) ? JSONPatch{op: 'add', path: ${at} + '/securityContext/capabilities', value: ${context}.capabilities{drop: ['NET_RAW']}}`,
    `: !has(c.securityContext.capabilities.drop) ? JSONPatch{op: 'add', path: ${at} + '/securityContext/capabilities/drop', value: ['NET_RAW']}`,
    `: JSONPatch{op: 'add', path: ${at} + '/securityContext/capabilities/drop/-', value: 'NET_RAW'}`,
  ].join(' ');
  const dropsIt =
    "has(c.securityContext) && has(c.securityContext.capabilities) && has(c.securityContext.capabilities.drop) && c.securityContext.capabilities.drop.exists(d, d == 'NET_RAW' || d == 'ALL')";
  return `(has(object.spec.${kind}) ? object.spec.${kind}.filter(c, !(${dropsIt})).map(c, ${patch}) : [])`;
}

/**
 * No raw sockets for the pods of the real node: every container of a pod
 * in a namespace bound to it drops NET_RAW (added to what it drops, on
 * create; an ephemeral container too). The pods of every learner share one
 * bridge there, and with NET_RAW (in the runtime's default set, which
 * baseline allows) a pod could forge ARP and IP packets: claim another
 * learner's pod's address, or CoreDNS's, and answer in its place. Without
 * it a pod still speaks TCP and UDP; what it loses is ping and packet
 * crafting. A mutation, not a refusal, so `kubectl run` and every lab's
 * YAML work as written.
 */
export function noRawSocketsPolicy(): KubernetesObject[] {
  const name = POLICY_NAMES.noRawSockets;
  const policy: V1MutatingAdmissionPolicy = {
    apiVersion: API_VERSION,
    kind: 'MutatingAdmissionPolicy',
    metadata: { name, labels },
    spec: {
      failurePolicy: 'Fail',
      // Once: a second pass would add NET_RAW again (harmless, but noise).
      reinvocationPolicy: 'Never',
      matchConstraints: {
        resourceRules: [
          { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] },
          { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['pods/ephemeralcontainers'] },
        ],
      },
      mutations: [
        {
          patchType: 'JSONPatch',
          // On an update (an ephemeral container added) only the ephemeral containers may change.
          jsonPatch: {
            expression: `request.operation == 'CREATE' ? ${dropNetRaw('containers')} + ${dropNetRaw('initContainers')} + ${dropNetRaw('ephemeralContainers')} : ${dropNetRaw('ephemeralContainers')}`,
          },
        },
      ],
    },
  };
  // Bound by the namespaces' labels alone (a mutating policy's match conditions see no namespace object).
  const bind: V1MutatingAdmissionPolicyBinding = {
    apiVersion: API_VERSION,
    kind: 'MutatingAdmissionPolicyBinding',
    metadata: { name, labels },
    spec: {
      policyName: name,
      matchResources: {
        namespaceSelector: {
          matchLabels: { [LABELS.managedBy]: MANAGER, [CONTAINERS_LABEL]: 'true' },
          matchExpressions: [{ key: LABELS.session, operator: 'Exists' }],
        },
      },
    },
  };
  return [policy, bind];
}

/** The policies and their bindings, for learners whose ServiceAccounts live in `systemNamespace`. */
export function sandboxPolicies(systemNamespace: string): KubernetesObject[] {
  const externalIPs = policy(POLICY_NAMES.externalIPs, systemNamespace, {
    matchConstraints: {
      resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['services'] }],
    },
    validations: [
      {
        expression: '!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0',
        reason: 'Forbidden',
        message:
          'A Service in a sandbox may not set spec.externalIPs: it would take over traffic to those addresses for the whole cluster (CVE-2020-8554). Use a ClusterIP Service.',
      },
    ],
  });

  const notSystem = "s.kind == 'ServiceAccount' || !s.name.startsWith('system:')";
  const ownNamespace = "s.kind != 'ServiceAccount' || !has(s.namespace) || s.namespace == '' || s.namespace == request.namespace";
  const subjects = policy(POLICY_NAMES.subjects, systemNamespace, {
    matchConstraints: {
      resourceRules: [
        { apiGroups: ['rbac.authorization.k8s.io'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: ['rolebindings'] },
      ],
    },
    validations: [
      {
        expression: `!has(object.subjects) || object.subjects.all(s, ${notSystem})`,
        reason: 'Forbidden',
        message:
          'A RoleBinding in a sandbox may not name a system: user or group (system:authenticated, system:unauthenticated, system:anonymous, system:serviceaccounts…): they stand for everyone on the cluster. Bind a ServiceAccount of this namespace, or a user or group of your own.',
        messageExpression: `'A RoleBinding in a sandbox may not name ' + object.subjects.filter(s, !(${notSystem})).map(s, s.kind + ' ' + s.name).join(', ') + ': system: users and groups stand for everyone on the cluster. Bind a ServiceAccount of this namespace, or a user or group of your own.'`,
      },
      {
        expression: `!has(object.subjects) || object.subjects.all(s, ${ownNamespace})`,
        reason: 'Forbidden',
        message:
          'A RoleBinding in a sandbox may name only ServiceAccounts of its own namespace: a ServiceAccount of another namespace is another learner, or the platform.',
        messageExpression: `'A RoleBinding in a sandbox may name only ServiceAccounts of its own namespace (' + request.namespace + '), not ' + object.subjects.filter(s, !(${ownNamespace})).map(s, s.namespace + '/' + s.name).join(', ') + ': a ServiceAccount of another namespace is another learner, or the platform.'`,
      },
    ],
  });

  const creatable = [...COUNTED_KINDS, ...UNSTORED_KINDS].map((kind) => cel(`${kind.group}/${kind.resource}`)).join(', ');
  const kinds = policy(POLICY_NAMES.kinds, systemNamespace, {
    matchConstraints: {
      resourceRules: [{ apiGroups: ['*'], apiVersions: ['*'], operations: ['CREATE'], resources: ['*'], scope: 'Namespaced' }],
    },
    // Guarded: a field left empty may be absent from `request`.
    variables: [
      { name: 'kind', expression: "(has(request.resource.group) ? request.resource.group : '') + '/' + request.resource.resource" },
    ],
    validations: [
      {
        expression: `variables.kind in [${creatable}]`,
        reason: 'Forbidden',
        message: 'A sandbox holds only the kinds its quota counts, and this is not one of them.',
        messageExpression:
          "'A sandbox holds only the kinds its quota counts (kubectl describe resourcequota), and ' + request.resource.resource + (variables.kind.startsWith('/') ? '' : '.' + request.resource.group) + ' is not one of them.'",
      },
    ],
  });

  return [externalIPs, subjects, kinds].flatMap((p) => [p, binding(p.metadata?.name ?? '')]);
}

/**
 * Applies the sandbox policies (server-side apply, so a newer server updates
 * them in place), and where only some nodes run containers, the policy that
 * keeps pods where their lab puts them.
 */
export async function ensureSandboxPolicies(kc: KubeConfig, systemNamespace: string, nodes?: ContainerNodes): Promise<void> {
  await applyObjects(kc, [
    ...sandboxPolicies(systemNamespace),
    ...(nodes ? [...containerNodesPolicy(nodes), ...noRawSocketsPolicy()] : []),
  ]);
}
