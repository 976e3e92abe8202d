/**
 * who-may-do-what: auditor reads pods in its namespace, and nothing more.
 * The authorizer is asked a matrix (every verb on pods, and a sample of
 * what the task does not name, here, elsewhere and cluster-wide), so any
 * way of writing the grant counts and every over-grant is named.
 */
import { type Access, criterion, defineCheck } from './lib/check.ts';
import { askMatrix, beyondTheTask, describeRights, READ_VERBS, rights, WRITE_VERBS } from './lib/rbac-matrix.ts';

const OTHERS = ['default', 'kube-system'];

export default defineCheck({
  lab: 'who-may-do-what',
  steps: {
    async 'grant-read'(ctx) {
      const namespace = ctx.ns();
      const auditor = { serviceAccount: 'auditor', namespace };
      const need = rights(READ_VERBS, 'pods', namespace);
      const refuse = [
        ...rights([...WRITE_VERBS, '*'], 'pods', namespace),
        ...OTHERS.flatMap((ns) => rights(['get', 'list'], 'pods', ns)),
        ...rights(['list'], 'pods'),
        ...beyondTheTask({ own: [namespace], others: OTHERS }, ['pods']),
      ];
      const [{ lacking, extra }, neighbour] = await Promise.all([
        askMatrix(ctx, auditor, { need, refuse }),
        // Another ServiceAccount of the namespace: a grant to all of them is not a grant to auditor alone.
        askMatrix(ctx, { serviceAccount: 'default', namespace }, { need: [], refuse: need }),
      ]);
      const isPods = (a: Access) => a.resource === 'pods' && !a.subresource && a.namespace === namespace;
      const isSecrets = (a: Access) => a.resource === 'secrets';
      const writes = extra.filter(isPods);
      const secrets = extra.filter(isSecrets);
      const rest = extra.filter((a) => !isPods(a) && !isSecrets(a));
      const list = '`kubectl auth can-i --list --as system:serviceaccount:<namespace>:auditor`';
      const roles = 'Which role did you bind? `kubectl describe rolebinding` and `kubectl describe role <name>` (or `clusterrole`).';
      return [
        criterion('read-pods', lacking.length === 0, {
          pass: 'auditor may get, list and watch pods.',
          fail: `ServiceAccount auditor may not yet ${lacking.map((a) => a.verb).join(', ')} pods in ${namespace}.`,
          hint: list,
          diff: [
            {
              path: 'can-i get,list,watch pods',
              expected: 'yes',
              actual: lacking.length ? `no: ${lacking.map((a) => a.verb).join(', ')}` : 'yes',
            },
          ],
        }),
        criterion('read-only', writes.length === 0, {
          pass: 'auditor may not change pods.',
          fail: `ServiceAccount auditor may change pods (${describeRights(writes)}): read-only means get, list and watch, nothing that changes anything.`,
          hint: roles,
          diff: [{ path: 'can-i create,update,patch,delete pods', expected: 'no', actual: writes.map((a) => a.verb).join(', ') }],
        }),
        criterion('no-secrets', secrets.length === 0, {
          pass: 'auditor may not read Secrets.',
          fail: `ServiceAccount auditor may read Secrets (${describeRights(secrets)}), and with them every password kept there.`,
          hint: 'Built-in roles such as edit and admin carry far more than reading pods; write a Role of your own.',
          diff: [{ path: 'can-i get,list,watch secrets', expected: 'no', actual: 'yes' }],
        }),
        criterion('nothing-else', rest.length === 0, {
          pass: 'auditor may do nothing beyond reading pods in its namespace.',
          fail: `ServiceAccount auditor may also ${describeRights(rest)}: the dashboard needs pods, and only pods.`,
          hint: `Built-in roles such as view read far more than pods. ${list}`,
        }),
        criterion('only-auditor', neighbour.extra.length === 0, {
          pass: 'No other ServiceAccount was given pods.',
          fail: `The ServiceAccount default of ${namespace} may ${describeRights(neighbour.extra)} too: the grant should name auditor, not every ServiceAccount of the namespace.`,
          hint: 'Look at the subjects of your RoleBinding: `kubectl get rolebindings -o wide`.',
        }),
      ];
    },
  },
});
