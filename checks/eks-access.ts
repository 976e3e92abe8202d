/**
 * eks-access: the two identities of an EKS cluster, graded by what the
 * cluster itself can show.
 *
 * team-access: an access entry (AWS-side, given) maps the IAM role
 * orders-developers to the user name arn:aws:sts::…:assumed-role/
 * orders-developers/<session> and the group orders-devs. The authorizer is
 * asked a matrix as EKS would present two callers of that role in different
 * sessions, and as two identities that are not the team, so that any way of
 * writing the grant counts, every over-grant is named (worst first), a
 * binding to one session's (or the role's own) name is found, and so is a
 * grant that reaches beyond the team. An aws-auth ConfigMap in the
 * namespace is named for what it is: a mapping nothing reads.
 *
 * workload-identity: the pod wired for IRSA as the pod identity webhook
 * would wire it, read as the AWS SDK and the kubelet read it: the
 * ServiceAccount the role's trust policy names, annotated with the role; a
 * projected token for sts.amazonaws.com that lives a day at most, mounted as
 * a folder (a subPath mount is never renewed); AWS_ROLE_ARN and
 * AWS_WEB_IDENTITY_TOKEN_FILE resolved as the kubelet resolves them
 * (env over envFrom, ConfigMap references followed) and the file name
 * matched against where the token is mounted; no access keys in any
 * container's environment (the SDK would use them before the role) or
 * volume, and none left in the namespace; and the pods the Deployment runs
 * now are the new ones.
 */
import { posix } from 'node:path';
import type {
  RbacV1Subject,
  V1ConfigMap,
  V1Container,
  V1Pod,
  V1PodSpec,
  V1RoleBinding,
  V1Secret,
  V1ServiceAccount,
  V1ServiceAccountTokenProjection,
} from '@kubernetes/client-node';
import { rolledOut } from '../cluster/src/kube.ts';
import { type Access, type CheckContext, type Criterion, criterion, defineCheck, missing, type Subject } from './lib/check.ts';
import { askMatrix, beyondTheTask, describeRights, READ_VERBS, rights, WRITE_VERBS } from './lib/rbac-matrix.ts';
import { awaitRollout, livePods, plural } from './lib/workloads.ts';

const ACCOUNT = '111122223333';
const TEAM_ROLE = 'orders-developers';
const TEAM_GROUP = 'orders-devs';
/** Two callers of the team's role: the access entry's user name with two session names. */
const SESSIONS = ['alice', 'deploy-pipeline-4821'] as const;
const OTHERS = ['default', 'kube-system'];
const MANAGE = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
const RBAC = 'rbac.authorization.k8s.io/v1';

const APP_ROLE = `arn:aws:iam::${ACCOUNT}:role/orders-app`;
const APP_ACCOUNT = 'orders';
const ROLE_ANNOTATION = 'eks.amazonaws.com/role-arn';
const IRSA_AUDIENCE = 'sts.amazonaws.com';
const POD_IDENTITY_AUDIENCE = 'pods.eks.amazonaws.com';
/** A day: what the pod identity webhook asks for by default, and the most the task allows. */
const MAX_EXPIRY_SECONDS = 86_400;
/** Kubernetes' default for a projected token without expirationSeconds. */
const DEFAULT_EXPIRY_SECONDS = 3_600;
const KEYS_SECRET = 'orders-aws-keys';
/** Environment variables the SDK takes as static credentials, before any role. */
const STATIC_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];
const WEB_IDENTITY_ENV = ['AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE'];
const POD_IDENTITY_ENV = ['AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'];

/** Extra rights, worst first: those that hand out rights, then those that open a shell or a token, then the rest. */
function danger(a: Access): number {
  if (a.group === 'rbac.authorization.k8s.io' || a.verb === 'impersonate' || a.verb === '*') return 0;
  if (['exec', 'attach', 'portforward', 'token'].includes(a.subresource ?? '')) return 1;
  return 2;
}

function caller(session: string): Subject {
  return { user: `arn:aws:sts::${ACCOUNT}:assumed-role/${TEAM_ROLE}/${session}`, groups: [TEAM_GROUP] };
}

function subjectName(s: RbacV1Subject): string {
  return `${s.kind} ${s.kind === 'ServiceAccount' && s.namespace ? `${s.namespace}:` : ''}${s.name}`;
}

/** What the learner's bindings name, for messages: the User and Group subjects, and Users named by a role's ARN. */
async function bindingsSeen(ctx: CheckContext, namespace: string) {
  const bindings = await ctx.list<V1RoleBinding>(RBAC, 'RoleBinding', namespace);
  const people = bindings.flatMap((b) =>
    (b.subjects ?? []).filter((s) => s.kind === 'User' || s.kind === 'Group').map((s) => ({ binding: b.metadata?.name ?? '', s })),
  );
  return {
    named: [...new Set(people.map(({ s }) => subjectName(s)))],
    roleArns: people.filter(({ s }) => s.kind === 'User' && s.name.startsWith('arn:aws:iam::')),
  };
}

async function teamAccess(ctx: CheckContext): Promise<Criterion[]> {
  const ns = ctx.ns();
  const need = [
    ...rights(MANAGE, 'deployments.apps', ns),
    ...rights(MANAGE, 'services', ns),
    ...rights(MANAGE, 'configmaps', ns),
    ...rights(READ_VERBS, 'pods', ns),
    ...rights(['get'], 'pods/log', ns),
  ];
  const refuse: Access[] = [
    ...rights(WRITE_VERBS, 'pods', ns),
    ...rights(['create'], 'pods/attach', ns),
    ...rights(['create'], 'pods/portforward', ns),
    ...rights(['create', 'update', 'delete'], 'replicasets.apps', ns),
    ...['statefulsets.apps', 'daemonsets.apps', 'jobs.batch', 'cronjobs.batch'].flatMap((r) => rights(['list', 'create', 'delete'], r, ns)),
    ...rights(['list', 'create'], 'persistentvolumeclaims', ns),
    ...rights(['list', 'create'], 'ingresses.networking.k8s.io', ns),
    ...rights(['create', 'delete'], 'networkpolicies.networking.k8s.io', ns),
    ...rights(['create', 'delete'], 'serviceaccounts', ns),
    ...rights(['create', 'update', 'delete'], 'resourcequotas', ns),
    ...OTHERS.flatMap((other) => [
      ...rights(['list', 'create', 'delete'], 'deployments.apps', other),
      ...rights(['list'], 'pods', other),
      ...rights(['get'], 'pods/log', other),
      ...rights(['create', 'update'], 'configmaps', other),
    ]),
    ...rights(['list'], 'pods'),
    ...rights(['list', 'create'], 'deployments.apps'),
    ...rights(['list'], 'configmaps'),
    ...beyondTheTask({ own: [ns], others: OTHERS }, ['deployments.apps', 'services', 'configmaps', 'pods']),
  ];
  const [first, second] = SESSIONS;
  const outsiders: Array<{ who: string; subject: Subject }> = [
    {
      who: `a caller of another role (arn:aws:sts::${ACCOUNT}:assumed-role/support/alice, group support)`,
      subject: { user: `arn:aws:sts::${ACCOUNT}:assumed-role/support/alice`, groups: ['support'] },
    },
    { who: `the ServiceAccount default of ${ns}`, subject: { serviceAccount: 'default', namespace: ns } },
  ];
  const [team, again, awsAuth, ...others] = await Promise.all([
    askMatrix(ctx, caller(first), { need, refuse }),
    askMatrix(ctx, caller(second), { need, refuse: [] }),
    ctx.get<V1ConfigMap>('v1', 'ConfigMap', 'aws-auth', ns),
    ...outsiders.map(({ subject }) => askMatrix(ctx, subject, { need: [], refuse: need })),
  ]);
  const key = (a: Access) => JSON.stringify([a.verb, a.resource, a.subresource, a.group, a.namespace]);
  const firstLacks = new Set(team.lacking.map(key));
  const sessionOnly = again.lacking.filter((a) => !firstLacks.has(key(a)));
  const inOwn = (a: Access) => a.namespace === ns;
  const isSecrets = (a: Access) => a.resource === 'secrets';
  const secrets = team.extra.filter((a) => inOwn(a) && isSecrets(a));
  const outside = team.extra.filter((a) => !inOwn(a));
  const rest = team.extra.filter((a) => inOwn(a) && !isSecrets(a)).sort((a, b) => danger(a) - danger(b));
  const leaks = outsiders.map(({ who }, i) => ({ who, extra: others[i]?.extra ?? [] })).filter(({ extra }) => extra.length > 0);
  const seen = team.lacking.length > 0 ? await bindingsSeen(ctx, ns) : undefined;

  const user = `arn:aws:sts::${ACCOUNT}:assumed-role/${TEAM_ROLE}/<session>`;
  let why = '';
  if (seen?.roleArns.length) {
    const { binding, s } = seen.roleArns[0] ?? { binding: '', s: { kind: '', name: '' } };
    why = ` The RoleBinding ${binding} names the User ${s.name}, but EKS never presents the role's own ARN as a user name: a caller who assumes the role arrives as ${user}, another user for every session.`;
  } else if (awsAuth) {
    why = ` A ConfigMap aws-auth in ${ns} changes nothing: EKS's authenticator only ever read aws-auth from kube-system, aws-auth is deprecated in favour of access entries, and the access entry already maps the role. What a caller may do is still up to RBAC.`;
  } else if (seen?.named.length) {
    why = ` Your RoleBindings name ${seen.named.join(', ')}; the access entry gives its callers the user name ${user} and the group ${TEAM_GROUP}.`;
  }
  const lsar =
    'Ask as EKS presents a caller: a LocalSubjectAccessReview with spec.user, spec.groups and spec.resourceAttributes (`kubectl explain localsubjectaccessreview.spec`).';
  const roles = '`kubectl get rolebindings -o wide`, then `kubectl describe role <name>` (or `clusterrole`) for what each grants.';
  return [
    criterion('team-rights', team.lacking.length === 0, {
      pass: `Callers of ${TEAM_ROLE}, in the group ${TEAM_GROUP}, may manage Deployments, Services and ConfigMaps and read pods and their logs.`,
      fail: `A caller of the role ${TEAM_ROLE} (${user.replace('<session>', first)}, group ${TEAM_GROUP}) may not yet ${describeRights(team.lacking)}.${why}`,
      hint: lsar,
      diff: [
        { path: 'user (access entry)', expected: user, actual: user.replace('<session>', first) },
        { path: 'groups (access entry)', expected: [TEAM_GROUP], actual: [TEAM_GROUP] },
      ],
    }),
    criterion('every-session', sessionOnly.length === 0, {
      pass: 'A caller in any other session of the role has the same rights.',
      fail: `A caller in another session (${user.replace('<session>', second)}) may not ${describeRights(sessionOnly)}, though ${first} may: a binding to one session's user name holds for that session only, and the session name changes with every caller and every time the role is assumed.`,
      hint: '`kubectl get configmap eks-access-entry -o yaml`: which part of what the access entry gives is the same for every caller?',
    }),
    criterion('no-secrets', secrets.length === 0, {
      pass: `Callers of ${TEAM_ROLE} may not read Secrets.`,
      fail: `Callers of ${TEAM_ROLE} may read Secrets (${describeRights(secrets)}), and with them every password and key the namespace keeps.`,
      hint: 'Built-in roles such as edit and admin read Secrets; write a Role of your own. `kubectl describe clusterrole edit | grep secrets`',
    }),
    criterion('confined', outside.length === 0, {
      pass: `Callers of ${TEAM_ROLE} have no rights outside ${ns}.`,
      fail: `Callers of ${TEAM_ROLE} may ${describeRights(outside)}, outside their namespace.`,
      hint: roles,
    }),
    criterion('nothing-else', rest.length === 0, {
      pass: `Callers of ${TEAM_ROLE} may do nothing in ${ns} beyond what the task names.`,
      fail: `Callers of ${TEAM_ROLE} may also ${describeRights(rest)}: the team manages Deployments, Services and ConfigMaps and reads pods and their logs, nothing more.`,
      hint: roles,
    }),
    criterion('only-the-team', leaks.length === 0, {
      pass: `No one outside the group ${TEAM_GROUP} was given the team's rights.`,
      fail: `Not only the team: ${leaks.map(({ who, extra }) => `${who} may ${describeRights(extra, 3)}`).join('; ')}. The rights are for the group ${TEAM_GROUP} alone.`,
      hint: 'Look at the subjects of your RoleBindings: `kubectl get rolebindings -o wide`.',
    }),
    criterion('no-aws-auth', !awsAuth, {
      pass: `No aws-auth ConfigMap in ${ns}.`,
      fail: `The ConfigMap aws-auth in ${ns} maps IAM principals, but nothing reads it: EKS's authenticator only ever read aws-auth from kube-system, aws-auth is deprecated in favour of access entries, and the access entry already maps the role. A mapping that looks in force and is not misleads whoever reads it next.`,
      hint: '`kubectl get configmaps`; the access entry lives in the EKS API, not in the cluster.',
    }),
  ];
}

/** A container's environment as the kubelet makes it: envFrom in order, then env, the later name winning. */
type EnvValue = { value?: string; secret?: string };

function environment(container: V1Container, configMaps: Map<string, V1ConfigMap>, secrets: Map<string, V1Secret>): Map<string, EnvValue> {
  const env = new Map<string, EnvValue>();
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      for (const [k, v] of Object.entries(configMaps.get(from.configMapRef.name ?? '')?.data ?? {})) env.set(prefix + k, { value: v });
    }
    if (from.secretRef) {
      const name = from.secretRef.name ?? '';
      for (const k of Object.keys(secrets.get(name)?.data ?? {})) env.set(prefix + k, { secret: name });
    }
  }
  for (const e of container.env ?? []) {
    const cm = e.valueFrom?.configMapKeyRef;
    const secret = e.valueFrom?.secretKeyRef;
    if (secret) env.set(e.name, { secret: secret.name ?? '' });
    else if (cm) env.set(e.name, { value: configMaps.get(cm.name ?? '')?.data?.[cm.key] });
    else env.set(e.name, { value: e.value });
  }
  return env;
}

/** Where a container finds each projected ServiceAccount token: the file, the projection, and whether by subPath. */
interface MountedToken {
  file: string;
  volume: string;
  token: V1ServiceAccountTokenProjection;
  subPath: boolean;
}

function clean(path: string): string {
  const normal = posix.normalize(path);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

function mountedTokens(container: V1Container, pod: V1PodSpec | undefined): MountedToken[] {
  const volumes = new Map((pod?.volumes ?? []).map((v) => [v.name, v]));
  return (container.volumeMounts ?? []).flatMap((m) => {
    const tokens = (volumes.get(m.name)?.projected?.sources ?? []).map((s) => s.serviceAccountToken).filter((t) => t !== undefined);
    return tokens.flatMap((token): MountedToken[] => {
      const inVolume = clean(token.path);
      if (!m.subPath) return [{ file: clean(`${m.mountPath}/${inVolume}`), volume: m.name, token, subPath: false }];
      const sub = clean(m.subPath);
      if (inVolume === sub) return [{ file: clean(m.mountPath), volume: m.name, token, subPath: true }];
      if (inVolume.startsWith(`${sub}/`))
        return [{ file: clean(`${m.mountPath}/${inVolume.slice(sub.length + 1)}`), volume: m.name, token, subPath: true }];
      return [];
    });
  });
}

/** Every projected ServiceAccount token of a pod, mounted or not. */
function tokenVolumes(pod: V1PodSpec | undefined): Array<{ volume: string; token: V1ServiceAccountTokenProjection }> {
  return (pod?.volumes ?? []).flatMap((v) =>
    (v.projected?.sources ?? []).flatMap((s) => (s.serviceAccountToken ? [{ volume: v.name, token: s.serviceAccountToken }] : [])),
  );
}

/** Whether a key or a value holds an AWS secret access key: by its name, or a credentials file that names one. */
const SECRET_KEY = /secret_?access_?key/i;

function holdsKeys(data: Record<string, string> | undefined, encoded: boolean): boolean {
  return Object.entries(data ?? {}).some(
    ([k, v]) => SECRET_KEY.test(k) || SECRET_KEY.test(encoded ? Buffer.from(v, 'base64').toString('utf8') : v),
  );
}

/** Secrets that hold AWS access keys, by name. */
function keySecrets(secrets: V1Secret[]): Set<string> {
  return new Set(secrets.filter((s) => s.metadata?.name === KEYS_SECRET || holdsKeys(s.data, true)).map((s) => s.metadata?.name ?? ''));
}

/** What of a pod's spec still carries static keys: environment variables by container, and volumes of key Secrets. */
function staticKeys(pod: V1PodSpec | undefined, configMaps: Map<string, V1ConfigMap>, secrets: Map<string, V1Secret>, held: Set<string>) {
  const containers = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
  const env = containers.flatMap((c) => {
    const vars = environment(c, configMaps, secrets);
    const fromOld = (c.envFrom ?? []).some((f) => held.has(f.secretRef?.name ?? '') || f.secretRef?.name === KEYS_SECRET);
    const names = STATIC_KEYS.filter((k) => vars.has(k));
    return names.length || fromOld ? [{ container: c.name, names: names.length ? names : [`envFrom ${KEYS_SECRET}`] }] : [];
  });
  const volumes = (pod?.volumes ?? [])
    .filter(
      (v) =>
        held.has(v.secret?.secretName ?? '') ||
        v.secret?.secretName === KEYS_SECRET ||
        (v.projected?.sources ?? []).some((s) => held.has(s.secret?.name ?? '') || s.secret?.name === KEYS_SECRET),
    )
    .map((v) => v.name);
  return { env, volumes };
}

async function workloadIdentity(ctx: CheckContext): Promise<Criterion[]> {
  const ns = ctx.ns();
  const [orders, account, secretList, configMapList] = await Promise.all([
    awaitRollout(ctx, 'orders'),
    ctx.get<V1ServiceAccount>('v1', 'ServiceAccount', APP_ACCOUNT, ns),
    ctx.list<V1Secret>('v1', 'Secret', ns),
    ctx.list<V1ConfigMap>('v1', 'ConfigMap', ns),
  ]);
  if (!orders) return [missing('rolled-out', 'The Deployment orders', 'Was it deleted? Reset the lab to get it back.')];
  const pods = await livePods(ctx, orders);
  const configMaps = new Map(configMapList.map((c) => [c.metadata?.name ?? '', c]));
  const secrets = new Map(secretList.map((s) => [s.metadata?.name ?? '', s]));
  const held = keySecrets(secretList);
  const spec = orders.spec?.template.spec;
  const template = orders.spec?.template.metadata;
  const look = '`kubectl get deployment orders -o yaml` and look at spec.template.spec.';

  // The ServiceAccount: the one the trust policy names, with the role on it.
  const runsAs = spec?.serviceAccountName || spec?.serviceAccount || 'default';
  const defaultAccount = runsAs === 'default' ? await ctx.get<V1ServiceAccount>('v1', 'ServiceAccount', 'default', ns) : undefined;
  let accountProblem = '';
  if (runsAs !== APP_ACCOUNT) {
    accountProblem = `The pods of orders run as the ServiceAccount ${runsAs}, so their tokens say sub system:serviceaccount:${ns}:${runsAs}; the role's trust policy accepts only system:serviceaccount:${ns}:${APP_ACCOUNT}, and STS would refuse them.`;
    if (defaultAccount?.metadata?.annotations?.[ROLE_ANNOTATION])
      accountProblem += ` And a role on the ServiceAccount default goes to every pod in ${ns} that names no ServiceAccount.`;
  } else if (!account) {
    accountProblem = `The pods of orders name the ServiceAccount ${APP_ACCOUNT}, which does not exist: no pod can be made for it.`;
  }
  const annotated = account?.metadata?.annotations?.[ROLE_ANNOTATION];
  const elsewhere = [
    template?.annotations?.[ROLE_ANNOTATION] ? 'the pod template' : '',
    orders.metadata?.annotations?.[ROLE_ANNOTATION] ? 'the Deployment' : '',
  ].filter(Boolean);
  let annotationProblem = '';
  if (!account) annotationProblem = `There is no ServiceAccount ${APP_ACCOUNT} to carry the role.`;
  else if (!annotated && elsewhere.length)
    annotationProblem = `The annotation ${ROLE_ANNOTATION} is on ${elsewhere.join(' and ')}, and the pod identity webhook reads it from the ServiceAccount: ${APP_ACCOUNT} has none, so on EKS nothing would give its pods the role.`;
  else if (!annotated)
    annotationProblem = `The ServiceAccount ${APP_ACCOUNT} has no ${ROLE_ANNOTATION} annotation: on EKS the webhook would not wire its pods, and nothing in the cluster says which role it is for.`;
  else if (annotated !== APP_ROLE) annotationProblem = `The ServiceAccount ${APP_ACCOUNT} is annotated with ${annotated}, not ${APP_ROLE}.`;

  // The containers that use AWS: those with AWS identity settings or a mounted token; all of them when none has.
  const containers = spec?.containers ?? [];
  const wired = containers.filter((c) => {
    const env = environment(c, configMaps, secrets);
    return [...WEB_IDENTITY_ENV, ...POD_IDENTITY_ENV].some((k) => env.has(k)) || mountedTokens(c, spec).length > 0;
  });
  const targets = wired.length ? wired : containers;
  let tokenProblem = '';
  let envProblem = '';
  let shown: V1ServiceAccountTokenProjection | undefined;
  for (const c of targets) {
    const env = environment(c, configMaps, secrets);
    const mounted = mountedTokens(c, spec);
    const tokenFile = env.get('AWS_WEB_IDENTITY_TOKEN_FILE')?.value;
    const wanted = tokenFile ? clean(tokenFile) : undefined;
    const used = mounted.find((m) => m.file === wanted) ?? mounted[0];
    shown ??= used?.token;
    const expiry = used?.token.expirationSeconds ?? DEFAULT_EXPIRY_SECONDS;
    if (!tokenProblem) {
      const unmounted = tokenVolumes(spec).map((t) => t.volume);
      if (!used)
        tokenProblem = unmounted.length
          ? `The container ${c.name} does not mount the token volume ${unmounted.join(', ')}: a volume no container mounts gives the SDK nothing.`
          : `The container ${c.name} mounts no projected ServiceAccount token for the SDK to trade with STS.`;
      else if (used.subPath)
        tokenProblem = `The container ${c.name} mounts the token by subPath: the kubelet never updates a subPath mount, so the token it renews never reaches the container, and after ${expiry} s the SDK holds an expired one.`;
      else if (!used.token.audience)
        tokenProblem = `The token of ${c.name} (volume ${used.volume}) has no audience: it is then a token for the Kubernetes API server, which STS refuses.`;
      else if (used.token.audience === POD_IDENTITY_AUDIENCE)
        tokenProblem = `The token of ${c.name} is for the audience ${POD_IDENTITY_AUDIENCE}, the one EKS Pod Identity's agent takes; STS accepts a token for this role only with the audience its OIDC provider and trust policy name, ${IRSA_AUDIENCE}.`;
      else if (used.token.audience !== IRSA_AUDIENCE)
        tokenProblem = `The token of ${c.name} is for the audience ${used.token.audience}; the role's trust policy accepts ${IRSA_AUDIENCE}.`;
      else if (expiry > MAX_EXPIRY_SECONDS)
        tokenProblem = `The token of ${c.name} lives ${expiry} s; the task asks for a day at most (${MAX_EXPIRY_SECONDS} s, what the webhook asks for).`;
    }
    if (!envProblem) {
      const roleArn = env.get('AWS_ROLE_ARN');
      const podIdentity = POD_IDENTITY_ENV.filter((k) => env.has(k));
      const files = mounted.filter((m) => !m.subPath || m.file === wanted).map((m) => m.file);
      if (podIdentity.length && !roleArn)
        envProblem = `The container ${c.name} is set up for EKS Pod Identity (${podIdentity.join(', ')}): that needs the Pod Identity Agent, an association made in the EKS API and a role that trusts ${POD_IDENTITY_AUDIENCE}. orders-app trusts the cluster's OIDC provider: the SDK assumes it with a web identity token, AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE.`;
      else if (!roleArn) envProblem = `The container ${c.name} has no AWS_ROLE_ARN: the SDK does not know which role to assume.`;
      else if (roleArn.value !== APP_ROLE)
        envProblem = `AWS_ROLE_ARN of the container ${c.name} is ${roleArn.secret ? `read from the Secret ${roleArn.secret}` : (roleArn.value ?? 'empty')}, not ${APP_ROLE}.`;
      else if (!tokenFile)
        envProblem = `The container ${c.name} has no AWS_WEB_IDENTITY_TOKEN_FILE: the SDK does not know where the token is.`;
      else if (!files.includes(wanted ?? ''))
        envProblem = `AWS_WEB_IDENTITY_TOKEN_FILE of the container ${c.name} names ${tokenFile}, and there is no token there: ${files.length ? `the container mounts it as ${files.join(', ')}` : 'the container mounts no token'}.`;
    }
  }

  // No keys: not in any container, not in any volume, not in the namespace.
  const inTemplate = staticKeys(spec, configMaps, secrets, held);
  const keyProblem = [
    ...inTemplate.env.map(({ container, names }) => `the container ${container} still gets ${names.join(', ')}`),
    ...inTemplate.volumes.map((v) => `the volume ${v} still holds the keys`),
  ];
  const staticWins = targets.some((c) => environment(c, configMaps, secrets).has('AWS_ROLE_ARN')) && inTemplate.env.length > 0;
  const leftSecrets = [...held].filter((name) => secrets.has(name));
  const leftConfigMaps = configMapList.filter((c) => holdsKeys(c.data, false)).map((c) => c.metadata?.name ?? '');
  const left = [...leftSecrets.map((n) => `Secret ${n}`), ...leftConfigMaps.map((n) => `ConfigMap ${n}`)];

  // The pods running now: each as the Deployment now asks, once its rollout is done.
  const problems = (p: V1Pod): string[] => {
    const out: string[] = [];
    const podAccount = p.spec?.serviceAccountName || 'default';
    if (podAccount !== runsAs) out.push(`runs as ${podAccount}`);
    // The API token the ServiceAccount admission plugin adds (kube-api-access-…) is not the template's.
    const ours = (s: V1PodSpec | undefined) =>
      tokenVolumes(s)
        .filter((t) => !t.volume.startsWith('kube-api-access-'))
        .map((t) => t.token.audience ?? '');
    const audiences = ours(p.spec);
    const wantedAudiences = ours(spec);
    if (audiences.join(',') !== wantedAudiences.join(',')) out.push('has other token volumes');
    const keys = staticKeys(p.spec, configMaps, secrets, held);
    if (keys.env.length > 0 !== inTemplate.env.length > 0) out.push('has other AWS keys');
    return out;
  };
  const stale = pods.map((p) => ({ name: p.metadata?.name ?? '', problems: problems(p) })).filter((p) => p.problems.length > 0);
  const done = rolledOut(orders) && (orders.status?.availableReplicas ?? 0) >= 1;

  return [
    criterion('service-account', accountProblem === '', {
      pass: `The pods of orders run as the ServiceAccount ${APP_ACCOUNT}, the one the role trusts.`,
      fail: accountProblem,
      hint: '`kubectl get configmap orders-role-trust -o yaml` (the sub condition) and `kubectl explain pod.spec.serviceAccountName`.',
      diff: [{ path: 'spec.template.spec.serviceAccountName', expected: APP_ACCOUNT, actual: runsAs }],
    }),
    criterion('role-annotation', annotationProblem === '', {
      pass: `The ServiceAccount ${APP_ACCOUNT} names the role ${APP_ROLE}.`,
      fail: annotationProblem,
      hint: '`kubectl get serviceaccount orders -o yaml` and look at metadata.annotations.',
      diff: [{ path: `ServiceAccount ${APP_ACCOUNT}: metadata.annotations["${ROLE_ANNOTATION}"]`, expected: APP_ROLE, actual: annotated }],
    }),
    criterion('irsa-token', tokenProblem === '', {
      pass: `orders mounts a token for ${IRSA_AUDIENCE} that expires within ${shown?.expirationSeconds ?? DEFAULT_EXPIRY_SECONDS} s.`,
      fail: tokenProblem,
      hint: `${look} \`kubectl explain pod.spec.volumes.projected.sources.serviceAccountToken\``,
      diff: [
        {
          path: 'spec.template.spec.volumes[].projected.sources[].serviceAccountToken',
          expected: { audience: IRSA_AUDIENCE, expirationSeconds: `≤ ${MAX_EXPIRY_SECONDS}` },
          actual: shown,
        },
      ],
    }),
    criterion('sdk-env', envProblem === '', {
      pass: 'AWS_ROLE_ARN names the role and AWS_WEB_IDENTITY_TOKEN_FILE the mounted token.',
      fail: envProblem,
      hint: `${look} Compare each volumeMounts[].mountPath plus the token's path with AWS_WEB_IDENTITY_TOKEN_FILE.`,
    }),
    criterion('no-static-keys', keyProblem.length === 0, {
      pass: 'No container of orders gets AWS access keys any more.',
      fail: `In the pod template of orders, ${keyProblem.join('; ')}.${staticWins ? ' Access keys in the environment come first in the AWS SDK’s search for credentials: with them there, the role is never used.' : ''}`,
      hint: '`kubectl set env deployment/orders --list` shows each variable and where it comes from.',
    }),
    criterion('keys-deleted', left.length === 0, {
      pass: 'No AWS access keys are left in the namespace.',
      fail: `The ${left.join(', ')} still exist${left.length === 1 ? 's' : ''}: the keys in ${left.length === 1 ? 'it' : 'them'} are as good as ever to whoever can read it, mounted or not, until someone deactivates them in IAM.`,
      hint: '`kubectl get secrets,configmaps`',
    }),
    criterion('rolled-out', done && stale.length === 0, {
      pass: `orders has rolled out: its ${plural(pods.length, 'pod')} run as the Deployment asks.`,
      fail:
        (orders.spec?.replicas ?? 1) === 0
          ? 'orders is scaled to 0 replicas: no pod runs with the new identity, or at all.'
          : !done
            ? `The rollout of orders has not finished (${orders.status?.updatedReplicas ?? 0} of ${orders.spec?.replicas ?? 1} replicas updated, ${orders.status?.availableReplicas ?? 0} available).`
            : `The pods ${stale.map((p) => `${p.name} (${p.problems.join(', ')})`).join(', ')} were made before the change.`,
      hint: '`kubectl rollout status deployment/orders` and `kubectl get pods -o wide`.',
    }),
  ];
}

export default defineCheck({
  lab: 'eks-access',
  steps: {
    'team-access': teamAccess,
    'workload-identity': workloadIdentity,
  },
});
