import { criterion, defineCheck } from './lib/check.ts';

export default defineCheck({
  lab: 'who-may-do-what',
  steps: {
    async 'grant-read'(ctx) {
      const namespace = ctx.ns();
      const auditor = { serviceAccount: 'auditor', namespace };
      const [get, list, watch, del, secrets] = await Promise.all([
        ctx.can(auditor, { verb: 'get', resource: 'pods', namespace }),
        ctx.can(auditor, { verb: 'list', resource: 'pods', namespace }),
        ctx.can(auditor, { verb: 'watch', resource: 'pods', namespace }),
        ctx.can(auditor, { verb: 'delete', resource: 'pods', namespace }),
        ctx.can(auditor, { verb: 'get', resource: 'secrets', namespace }),
      ]);
      const lacking = [get ? '' : 'get', list ? '' : 'list', watch ? '' : 'watch'].filter(Boolean);
      const hint = '`kubectl auth can-i --list --as system:serviceaccount:<namespace>:auditor`';
      return [
        criterion('read-pods', lacking.length === 0, {
          pass: 'auditor may get, list and watch pods.',
          fail: `ServiceAccount auditor may not yet ${lacking.join(', ')} pods in ${namespace}.`,
          hint,
          diff: [{ path: 'can-i get,list,watch pods', expected: 'yes', actual: lacking.length ? `no: ${lacking.join(', ')}` : 'yes' }],
        }),
        criterion('no-delete', !del, {
          pass: 'auditor may not delete pods.',
          fail: 'ServiceAccount auditor may delete pods: read-only means get, list and watch, nothing that changes anything.',
          hint: 'Which role did you bind? `kubectl describe rolebinding` and `kubectl describe clusterrole <name>`.',
          diff: [{ path: 'can-i delete pods', expected: 'no', actual: 'yes' }],
        }),
        criterion('no-secrets', !secrets, {
          pass: 'auditor may not read Secrets.',
          fail: 'ServiceAccount auditor may read Secrets in your namespace, and with them every password kept there.',
          hint: 'Built-in roles such as admin carry far more than reading pods; write a Role of your own.',
          diff: [{ path: 'can-i get secrets', expected: 'no', actual: 'yes' }],
        }),
      ];
    },
  },
});
