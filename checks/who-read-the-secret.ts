/**
 * who-read-the-secret: the learner reads the API server's audit log of
 * their namespace, finds the identity that read payments-db (the lab's
 * activity: metrics-agent read it and listed every Secret; reporting and
 * ci-deployer asked and were refused), records it, then takes exactly that
 * right away. The second step asks the authorizer a matrix for every
 * identity of the namespace, so any way of writing the fix counts, and
 * every over- or under-correction is named.
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import { type Access, type CheckContext, criterion, defineCheck, failed, missing, passed } from './lib/check.ts';
import { askMatrix, beyondTheTask, describeRights, READ_VERBS, rights } from './lib/rbac-matrix.ts';

/** The ServiceAccount whose requests for payments-db succeeded, by the lab's activity (lab.yaml). */
const READER = 'metrics-agent';
/** Those whose requests for it the authorizer refused. */
const REFUSED = ['reporting', 'ci-deployer'];
/** The app that mounts the Secret: the kubelet reads it, not the app's ServiceAccount. */
const MOUNTS = 'checkout';
const SECRET = 'payments-db';

/** The ServiceAccount an answer names: `metrics-agent`, or `system:serviceaccount:<ns>:metrics-agent` of this namespace. */
export function namedAccount(answer: string, namespace: string): string | undefined {
  const text = answer.trim();
  const full = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(text);
  if (full) return full[1] === namespace ? full[2] : undefined;
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(text) ? text : undefined;
}

function secretReads(namespace: string): Access[] {
  return [...rights(READ_VERBS, 'secrets', namespace), ...rights(['get'], 'secrets', namespace, SECRET)];
}

/** What each automation of the setup may do, which the fix must leave as it was. */
function jobs(namespace: string): Array<{ name: string; need: Access[] }> {
  return [
    { name: 'ci-deployer', need: rights([...READ_VERBS, 'patch', 'update'], 'deployments.apps', namespace) },
    { name: 'reporting', need: [...rights(['get', 'list'], 'configmaps', namespace), ...rights(['get', 'list'], 'pods', namespace)] },
  ];
}

async function revoked(ctx: CheckContext) {
  const namespace = ctx.ns();
  const agent = { serviceAccount: READER, namespace };
  const job = ['pods', 'services', 'endpoints'].flatMap((resource) => rights(READ_VERBS, resource, namespace));
  const others = ['default', 'kube-system'];
  const [answer, account, secret, ...rest] = await Promise.all([
    askMatrix(ctx, agent, {
      need: job,
      refuse: [...secretReads(namespace), ...beyondTheTask({ own: [namespace], others }, ['pods', 'services', 'endpoints'])],
    }),
    ctx.get('v1', 'ServiceAccount', READER, namespace),
    ctx.get('v1', 'Secret', SECRET, namespace),
    ...jobs(namespace).map(async ({ name, need }) => ({
      name,
      answer: await askMatrix(ctx, { serviceAccount: name, namespace }, { need, refuse: secretReads(namespace) }),
    })),
  ]);
  const reads = answer.extra.filter((a) => a.resource === 'secrets' && a.namespace === namespace);
  const added = answer.extra.filter((a) => !reads.includes(a));
  const broken = rest.filter((r) => r.answer.lacking.length > 0 || r.answer.extra.length > 0);
  const asAgent = `\`kubectl auth can-i --list --as system:serviceaccount:${namespace}:${READER}\``;
  return [
    criterion('no-secrets', reads.length === 0, {
      pass: `${READER} may no longer read any Secret in ${namespace}.`,
      fail: `${READER} may still ${describeRights(reads)}: a list or a watch returns every Secret with its values, as much a read as a get.`,
      hint: `Take secrets out of the rules of the Role its RoleBinding names, every verb of it. ${asAgent}`,
    }),
    account
      ? criterion('keeps-its-job', answer.lacking.length === 0, {
          pass: `${READER} still reads pods, services and endpoints.`,
          fail: `${READER} may no longer ${describeRights(answer.lacking)}: the metrics it collects stop with it.`,
          hint: 'Take away the Secret rule only; the rest of its Role (and the RoleBinding) stays.',
        })
      : failed(
          'keeps-its-job',
          `The ServiceAccount ${READER} is gone, and the agent cannot run without it.`,
          `Create it again (\`kubectl create serviceaccount ${READER}\`) and change its rights instead.`,
        ),
    criterion('nothing-new', added.length === 0, {
      pass: `${READER} was given nothing new.`,
      fail: `${READER} may now ${describeRights(added)}, which it could not before: the fix gave it more than it took.`,
      hint: `Built-in roles such as view read far more than a metrics agent needs (configmaps among them); keep its own Role. ${asAgent}`,
    }),
    criterion('others-unchanged', broken.length === 0, {
      pass: 'ci-deployer and reporting keep exactly the rights they had.',
      fail: `The fix changed what ${broken.map((b) => b.name).join(' and ')} may do (${broken
        .map((b) => describeRights([...b.answer.lacking, ...b.answer.extra]))
        .join('; ')}): the finding was about ${READER} alone.`,
      hint: 'Put back the Roles of the other automations as the setup had them (`kubectl get role <name> -o yaml`).',
    }),
    secret
      ? passed('secret-kept', `The Secret ${SECRET} is still there for checkout.`)
      : failed(
          'secret-kept',
          `The Secret ${SECRET} is gone: checkout mounts it, so the shop goes down with it, and the right to read Secrets is still there.`,
          'Create it again with its two keys (username, password), then change the Role instead.',
        ),
  ];
}

export default defineCheck({
  lab: 'who-read-the-secret',
  steps: {
    async 'name-the-reader'(ctx) {
      const namespace = ctx.ns();
      const incident = await ctx.get<V1ConfigMap>('v1', 'ConfigMap', 'incident', namespace);
      if (!incident) {
        return [
          missing(
            'recorded',
            'the ConfigMap incident',
            'Record what you found: `kubectl create configmap incident --from-literal=reader=<identity>`.',
          ),
        ];
      }
      const answer = incident.data?.reader;
      if (answer === undefined) {
        const keys = Object.keys(incident.data ?? {});
        return [
          criterion('recorded', false, {
            pass: '',
            fail: `The ConfigMap incident has no key reader${keys.length ? ` (it has ${keys.join(', ')})` : ''}.`,
            hint: 'Put the identity under the key reader: `kubectl create configmap incident --from-literal=reader=<identity> --dry-run=client -o yaml | kubectl apply -f -`.',
          }),
        ];
      }
      const named = namedAccount(answer, namespace);
      const recorded = passed('recorded', 'The ConfigMap incident records a reader.');
      const look = `Look at every event about ${SECRET}: \`jq -c 'select(.objectRef.name == "${SECRET}") | [.user.username, .verb, .responseStatus.code]' "$AUDIT_LOG"\`.`;
      if (named === READER) return [recorded, passed('the-reader', `${READER} read ${SECRET} (and listed every Secret with it).`)];
      let fail: string;
      if (named !== undefined && REFUSED.includes(named)) {
        fail = `${named} asked for ${SECRET}, and the authorizer refused it (403): it read nothing.`;
      } else if (named === MOUNTS) {
        fail = `checkout mounts ${SECRET}, and the kubelet fetches a mounted Secret itself (as the node), not as checkout's ServiceAccount: the log shows no request of checkout's.`;
      } else {
        fail = `The audit log shows no request of "${answer.trim()}" that read ${SECRET}.`;
      }
      return [recorded, failed('the-reader', fail, look)];
    },
    'revoke-the-read': revoked,
  },
});
