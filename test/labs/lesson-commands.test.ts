/**
 * Every command a lesson asks a learner to run, run as the learner, on the
 * real test cluster: each `<Run>`, each shell block, each kubectl command in
 * the text and the hints, and each kubectl command in the hints of the lab's
 * steps (content/lesson-commands.ts says which, and in what order). For
 * each lesson with a lab: a fresh session and sandbox with the lab's setup,
 * as the proof suite makes them (test/support/proof.ts), and the kubeconfig
 * the lab server would give the terminal: the learner's short-lived token
 * for a namespace-scope lab, the admin's with the sandbox's namespace for a
 * cluster-scope one. Then every command in order, in one learner's shell
 * (test/support/learner-shell.ts); each must exit as the lesson says (0
 * unless `exits` says otherwise). A failure names the lesson, the line,
 * the command and what it printed; every failing command of a lesson is
 * reported, not only the first.
 *
 * Namespace-scope lessons run a few at a time. Cluster-scope lessons change
 * cluster-wide objects, so they run one at a time after those, each
 * cleaned up (catalog.teardown) before the next.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, type ExpectStatic, expect, inject, it, type TestContext } from 'vitest';
import { courseCatalog } from '../../checks/catalog.ts';
import { loadKubeConfig } from '../../cluster/src/kube.ts';
import { type LessonCommand, lessonCommands } from '../../content/lesson-commands.ts';
import { type LessonFile, loadLessons } from '../../content/lessons.ts';
import type { LabDefinition } from '../../contract/catalog.ts';
import { realNamespaces } from '../../contract/sandbox.ts';
import { AuditLog } from '../../labs-server/src/audit-log.ts';
import { labAttempt } from '../support/cluster-scope.ts';
import { LabSandboxes } from '../support/lab-sandbox.ts';
import { LearnerShell, type ShellResult } from '../support/learner-shell.ts';

const catalog = courseCatalog();
const admin = loadKubeConfig(inject('kubeconfig'));
const sandboxes = new LabSandboxes(admin, catalog);
const auditLog = new AuditLog(inject('auditLog'));

/**
 * How long one command may take: a rollout status waits for pods, a create
 * for admission, a `kubectl run --rm -i` for its pod to end and its stream to
 * close (which once took over 30 s under the suite's load, after its output).
 */
const COMMAND_TIMEOUT_MS = 60_000;
/** How long a command that runs until stopped (a watch) runs before the test stops it. */
const UNTIL_STOPPED_MS = 5_000;
/** Namespace-scope lessons at once: every command starts a kubectl, and the test machine has two cores. */
const AT_ONCE = 3;
const LESSON_TIMEOUT_MS = 600_000;
/** Lines of a failing command's output in the message. */
const OUTPUT_LINES = 15;

beforeAll(() => sandboxes.prepare());
afterAll(async () => {
  auditLog.close();
  await sandboxes.removeAll();
});

/** A slot among AT_ONCE; the returned function gives it back. */
const waiting: Array<() => void> = [];
let running = 0;
async function slot(): Promise<() => void> {
  if (running >= AT_ONCE) await new Promise<void>((resolve) => waiting.push(resolve));
  else running += 1;
  return () => {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  };
}

function passes(command: LessonCommand, result: ShellResult): boolean {
  if (result.code === undefined) return command.untilStopped;
  if (command.question && result.code === 1 && /^no\b/m.test(result.output)) return true;
  return result.code === command.exits;
}

function failure(file: LessonFile, lab: string, command: LessonCommand, result: ShellResult): string {
  const where =
    command.source === 'lab-hint'
      ? `content/labs/${lab}/lab.yaml, ${command.where}`
      : `${relative(process.cwd(), file.path)}, ${command.where}`;
  const outcome =
    result.code === undefined
      ? `was still running after ${COMMAND_TIMEOUT_MS / 1000} s`
      : `exited ${result.code}; the lesson says it exits ${command.exits}`;
  const lines = result.output.trim() ? result.output.trimEnd().split('\n') : ['(no output)'];
  const shown = lines.slice(0, OUTPUT_LINES).map((line) => `    ${line}`);
  if (lines.length > OUTPUT_LINES) shown.push(`    … (${lines.length - OUTPUT_LINES} more lines)`);
  const [first = '', ...rest] = command.command.split('\n');
  const typed = rest.length > 0 ? `${first} … (${rest.length} more lines)` : first;
  return `${where} (${command.source}):\n  $ ${typed}\n  ${outcome}\n${shown.join('\n')}`;
}

/**
 * Runs the lesson's commands in a fresh sandbox of its lab, each checked
 * softly so every failure is reported; `expect` is the test's own, as
 * concurrent tests need.
 */
/** How a whole object of a lesson's solution is applied (content/lesson-commands.ts). */
const APPLY = 'kubectl apply -f -';

async function runLesson(
  file: LessonFile,
  lab: LabDefinition,
  { expect, annotate }: Pick<TestContext, 'annotate'> & { expect: ExpectStatic },
): Promise<void> {
  const { commands, skipped } = lessonCommands(file, catalog.files(lab.id)?.definition);
  for (const s of skipped) await annotate(`not run: ${s.where}: \`${s.command}\`, because ${s.reason}`);
  const { session, namespaces, kubeconfig } = await sandboxes.fresh(lab, 'lesson commands of', 1_800);
  // A lab that reads the audit log gets its namespaces' share of it, as its terminal would ($AUDIT_LOG).
  const audit = lab.needsAuditLog ? mkdtempSync(join(tmpdir(), 'cdl-audit-')) : undefined;
  const auditFile = audit ? join(audit, 'audit.log') : undefined;
  if (auditFile) writeFileSync(auditFile, '');
  const stopAudit = auditFile ? await auditLog.follow(realNamespaces(namespaces), auditFile) : () => undefined;
  const shell = new LearnerShell(kubeconfig, auditFile ? { AUDIT_LOG: auditFile } : {});
  try {
    for (const command of commands) {
      const result = await shell.run(command.command, command.untilStopped ? UNTIL_STOPPED_MS : COMMAND_TIMEOUT_MS);
      expect.soft(passes(command, result), failure(file, lab.id, command, result)).toBe(true);
    }
  } finally {
    if (lab.scope === 'cluster') {
      // What the lesson's own YAML made cluster-wide goes too: its names need not be the lab solution's.
      for (const { command } of commands.filter((c) => c.source === 'solution' && c.command.startsWith(APPLY))) {
        await shell.run(`kubectl delete --ignore-not-found --wait=false -f -${command.slice(APPLY.length)}`, COMMAND_TIMEOUT_MS);
      }
      await catalog.teardown(admin, lab, namespaces);
    }
    shell.dispose();
    stopAudit();
    if (audit) rmSync(audit, { recursive: true, force: true });
    await sandboxes.remove(session);
  }
}

const lessons = loadLessons().flatMap((file) => {
  const lab = file.lesson.lab ? catalog.get(file.lesson.lab) : undefined;
  return lab ? [{ file, lab }] : [];
});

it('has lessons with labs to run', () => expect(lessons.length).toBeGreaterThan(0));

describe.concurrent('namespace-scope lessons', () => {
  it.for(lessons.filter(({ lab }) => lab.scope === 'namespace').map(({ file, lab }) => [file.slug, file, lab] as const))(
    '%s: every command exits as the lesson says',
    { timeout: LESSON_TIMEOUT_MS },
    async ([, file, lab], context) => {
      const release = await slot();
      try {
        await runLesson(file, lab, context);
      } finally {
        release();
      }
    },
  );
});

describe('cluster-scope lessons, one at a time', () => {
  it.for(lessons.filter(({ lab }) => lab.scope === 'cluster').map(({ file, lab }) => [file.slug, file, lab] as const))(
    '%s: every command exits as the lesson says',
    { timeout: LESSON_TIMEOUT_MS },
    ([, file, lab], context) => labAttempt(lab, () => runLesson(file, lab, context)),
  );
});
