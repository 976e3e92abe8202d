import { describe, expect, it } from 'vitest';
import { lessonCommands } from '../../content/lesson-commands.ts';
import type { LessonFile } from '../../content/lessons.ts';

/** A lesson of this body, its front matter ending on line 4. */
function lesson(body: string): LessonFile {
  return { slug: 'topic/lab', path: 'content/lessons/topic/lab.mdx', lesson: {} as LessonFile['lesson'], body, bodyLine: 5 };
}

const BODY = `import { Check, Hint, Run, Solution } from '@lesson';

<Run cmd="kubectl auth can-i create pods --namespace kube-system" exits="1" />

<Hint>\`kubectl create deployment --help\` shows the flags; \`kubectl describe\` too, and \`kubectl get pods -n <namespace>\` later.</Hint>

<Run cmd="kubectl get deployment hello" />

<Check step="deploy" />

<Solution>

<Run cmd="kubectl create deployment hello --image=nginx --replicas=2" />

\`\`\`yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
\`\`\`

\`\`\`yaml
affinity:
  nodeAffinity: {}
\`\`\`

</Solution>
`;

describe('the commands of a lesson', () => {
  it('finds Run blocks, inline kubectl and whole objects of a solution, in the order a learner runs them', () => {
    const { commands, skipped } = lessonCommands(lesson(BODY));
    expect(commands.map((c) => [c.source, c.command, c.exits])).toEqual([
      ['run', 'kubectl auth can-i create pods --namespace kube-system', 1],
      ['hint', 'kubectl create deployment --help', 0],
      // The solution stands for the learner's work: after the last hint, before the check it answers.
      ['run', 'kubectl create deployment hello --image=nginx --replicas=2', 0],
      ['solution', expect.stringMatching(/^kubectl apply -f -/), 0],
      ['run', 'kubectl get deployment hello', 0],
    ]);
    expect(commands[0]?.where).toBe('line 7');
    expect(skipped.map((s) => s.command)).toEqual(expect.arrayContaining(['kubectl describe', 'kubectl get pods -n <namespace>']));
  });

  it('refuses an exit status that is not one', () => {
    expect(() => lessonCommands(lesson(`<Run cmd="kubectl get pods" exits="300" />\n`))).toThrow(/lab\.mdx:5/);
  });
});
