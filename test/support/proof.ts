/**
 * The proof that a lab of the course works, on the real test cluster:
 * from its setup the check fails; the solution passes every criterion; each
 * other correct answer (`right/`) passes every step too; each wrong attempt,
 * from the setup again, fails the criterion it names with a message that
 * says what is wrong. Every attempt gets a sandbox of its own
 * (a session, as a learner would have), so labs and attempts run in
 * parallel (those of labs that run real containers a few at a time, each
 * asked again while its pods run, as a learner would). Namespace-scope solutions are applied with the learner's own
 * short-lived token, which proves a learner's rights are enough to do the lab.
 * Cluster-scope labs change cluster-wide objects (bindings, admission), so
 * their attempts run one at a time, each cleaned up before the next, and
 * never beside another test file's (cluster-scope.ts).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { courseCatalog } from '../../checks/catalog.ts';
import { kubeConfigFromString, loadKubeConfig } from '../../cluster/src/kube.ts';
import type { LabDefinition } from '../../contract/catalog.ts';
import type { CheckResult } from '../../contract/check.ts';
import type { SandboxNamespaces } from '../../contract/sandbox.ts';
import { labAttempt } from './cluster-scope.ts';
import { LabSandboxes } from './lab-sandbox.ts';

const catalog = courseCatalog();
const admin = loadKubeConfig(inject('kubeconfig'));
const sandboxes = new LabSandboxes(admin, catalog);

const CHECK_TIMEOUT_MS = 20_000;

beforeAll(() => sandboxes.prepare());
afterAll(() => sandboxes.removeAll());

interface Sandbox {
  session: string;
  namespaces: SandboxNamespaces;
  /** Who applies the learner's files: the learner's token for a namespace-scope lab. */
  learner: KubeConfig;
}

/** A learner's fresh sandbox for the lab, with its setup applied. */
async function freshSandbox(lab: LabDefinition): Promise<Sandbox> {
  const { session, namespaces, kubeconfig } = await sandboxes.fresh(lab, 'proof of', 600);
  return { session, namespaces, learner: lab.scope === 'cluster' ? admin : kubeConfigFromString(kubeconfig) };
}

/** An attempt's sandbox goes once it is done; a cluster-scope attempt's cluster-wide objects before the next attempt starts. */
async function tidy(lab: LabDefinition, { session, namespaces }: Sandbox): Promise<void> {
  if (lab.scope === 'cluster') await catalog.teardown(admin, lab, namespaces);
  await sandboxes.remove(session);
}

function check(lab: LabDefinition, step: string, namespaces: SandboxNamespaces): Promise<CheckResult> {
  return catalog.check(admin, lab, step, namespaces, AbortSignal.timeout(CHECK_TIMEOUT_MS));
}

/** How long a learner would keep checking again while real containers run (a Job's waves of pods). */
const SETTLE_MS = 60_000;

/**
 * The check's answer once it says `settled`, as a learner gets it by
 * checking again: on a lab whose pods run real containers, what the check
 * sees a moment after an apply (a Job half done) is not yet its answer, and
 * a check waits only briefly. Other labs are asked once.
 */
async function settledCheck(
  lab: LabDefinition,
  step: string,
  namespaces: SandboxNamespaces,
  settled: (result: CheckResult) => boolean,
): Promise<CheckResult> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const result = await check(lab, step, namespaces);
    if (!lab.needsContainers || settled(result) || Date.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function summary(result: CheckResult): string {
  return result.criteria.map((c) => `${c.passed ? '✔' : '✖'} ${c.id}: ${c.message}`).join('\n');
}

/** Registers the proof of every lab of the given scope. */
export function proveLabs(scope: LabDefinition['scope']): void {
  const labs = catalog.list().filter((lab) => lab.scope === scope);
  const suite = scope === 'namespace' ? describe.concurrent : describe;
  it(`has ${scope}-scope labs to prove`, () => expect(labs.length).toBeGreaterThan(0));
  suite.each(labs.map((lab) => [lab.id, lab] as const))('lab %s', (_, lab) => {
    // Waiting for a slot on the real node, then for its pods to settle.
    const timeout = lab.needsContainers ? 240_000 : undefined;
    it(
      'fails from its setup, and passes with its solution',
      () =>
        labAttempt(lab, async () => {
          const sandbox = await freshSandbox(lab);
          const { namespaces, learner } = sandbox;
          try {
            for (const step of lab.steps) {
              const before = await check(lab, step.id, namespaces);
              expect(before.passed, `step ${step.id} passes before anything was done:\n${summary(before)}`).toBe(false);
            }
            await catalog.solve(learner, lab, namespaces);
            for (const step of lab.steps) {
              const after = await settledCheck(lab, step.id, namespaces, (r) => r.passed);
              expect(after.passed, `step ${step.id} fails with the solution:\n${summary(after)}`).toBe(true);
              expect(after.criteria.length).toBeGreaterThan(0);
            }
          } finally {
            await tidy(lab, sandbox);
          }
        }),
      timeout,
    );

    const files = catalog.files(lab.id);
    for (const right of files?.definition.right ?? []) {
      it(
        `accepts the other correct answer ${right.file}`,
        () =>
          labAttempt(lab, async () => {
            const sandbox = await freshSandbox(lab);
            const { namespaces, learner } = sandbox;
            try {
              await catalog.applyRight(learner, lab, right.file, namespaces);
              for (const step of lab.steps) {
                const result = await settledCheck(lab, step.id, namespaces, (r) => r.passed);
                expect(result.passed, `step ${step.id} refuses ${right.file} (${right.why}):\n${summary(result)}`).toBe(true);
              }
            } finally {
              await tidy(lab, sandbox);
            }
          }),
        timeout,
      );
    }
    for (const wrong of files?.definition.wrong ?? []) {
      it(
        `refuses the wrong attempt ${wrong.file}`,
        () =>
          labAttempt(lab, async () => {
            const sandbox = await freshSandbox(lab);
            const { namespaces, learner } = sandbox;
            try {
              await catalog.applyWrong(learner, lab, wrong.file, namespaces);
              const named = (r: CheckResult) =>
                r.criteria.some((c) => c.id === wrong.criterion && !c.passed && c.message.includes(wrong.messageIncludes));
              const result = await settledCheck(lab, wrong.step, namespaces, named);
              const failing = result.criteria.find((c) => c.id === wrong.criterion);
              expect(failing, `no criterion ${wrong.criterion} in:\n${summary(result)}`).toBeDefined();
              expect(failing?.passed, `criterion ${wrong.criterion} passes the wrong attempt:\n${summary(result)}`).toBe(false);
              expect(failing?.message).toContain(wrong.messageIncludes);
              expect(failing?.hint, 'a failing criterion carries a hint').toBeTruthy();
              expect(result.passed).toBe(false);
            } finally {
              await tidy(lab, sandbox);
            }
          }),
        timeout,
      );
    }
  });
}
