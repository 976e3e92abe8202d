import { rolledOut } from '../cluster/src/kube.ts';
import { criterion, defineCheck, failed, missing, passed } from './lib/check.ts';
import { awaitRollout, deployment, plural } from './lib/workloads.ts';

const IMAGE = 'public.ecr.aws/nginx/nginx:1.27';

export default defineCheck({
  lab: 'first-deployment',
  steps: {
    async deploy(ctx) {
      const found = await deployment(ctx, 'hello');
      if (!found) {
        const pod = await ctx.get('v1', 'Pod', 'hello', ctx.ns());
        if (pod) {
          return [
            failed(
              'deployment',
              'There is a bare Pod hello, and no Deployment hello: nothing replaces a bare Pod when it or its node dies.',
              'A Deployment keeps the number of pods you ask for. `kubectl create deployment --help`.',
            ),
          ];
        }
        return [missing('deployment', 'The Deployment hello', '`kubectl get deployments` lists what your namespace has.')];
      }
      const images = found.spec?.template.spec?.containers.map((c) => c.image ?? '') ?? [];
      // The tag, or the tag pinned to its digest as well: both run that image.
      const runsImage = images.some((image) => image === IMAGE || image.startsWith(`${IMAGE}@sha256:`));
      const replicas = found.spec?.replicas ?? 1;
      // Whatever it asks for, what is available is read once its rollout is done (bounded): a new
      // Deployment has no pod available for a moment, and saying "0" then would not be true for long.
      const rolled = (await awaitRollout(ctx, 'hello')) ?? found;
      const available = rolled.status?.availableReplicas ?? 0;
      const settled = rolledOut(rolled);
      return [
        passed('deployment', 'The Deployment hello exists.'),
        criterion('image', runsImage, {
          pass: `It runs ${IMAGE}.`,
          fail: `The Deployment hello runs ${images.join(', ') || 'no image'}, not ${IMAGE}.`,
          hint: '`kubectl get deployment hello -o jsonpath={.spec.template.spec.containers[*].image}`',
          diff: [{ path: 'spec.template.spec.containers[].image', expected: IMAGE, actual: images }],
        }),
        criterion('replicas', replicas === 2, {
          pass: 'It asks for 2 replicas.',
          fail: `The Deployment hello asks for ${plural(replicas, 'replica')}; the task asks for 2.`,
          hint: '`kubectl scale --help`, or look at spec.replicas.',
          diff: [{ path: 'spec.replicas', expected: 2, actual: replicas }],
        }),
        criterion('available', replicas === 2 && available === 2, {
          pass: '2 replicas are available.',
          fail:
            replicas !== 2
              ? `${plural(available, 'replica')} of hello ${available === 1 ? 'is' : 'are'} available, as its ${plural(replicas, 'replica')} asked for; 2 are needed.`
              : `${plural(available, 'replica')} of hello ${available === 1 ? 'is' : 'are'} available, not 2${settled ? '' : ', and its rollout is still under way'}.`,
          hint: '`kubectl get pods -l app=hello` and `kubectl describe deployment hello` say what is missing.',
          diff: [{ path: 'status.availableReplicas', expected: 2, actual: available }],
        }),
      ];
    },
  },
});
