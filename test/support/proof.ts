/**
 * The proof that a lab of the course works, on the real test cluster:
 * from its setup the check fails; the solution passes every criterion; each
 * other correct answer (`right/`) passes every step too; each wrong attempt,
 * from the setup again, fails the criterion it names with a message that
 * says what is wrong. Every attempt gets a sandbox of its own
 * (a session, as a learner would have), so labs and attempts run in
 * parallel. Namespace-scope solutions are applied with the learner's own
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
import { oneClusterScopeAtATime } from './cluster-scope.ts';
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

function summary(result: CheckResult): string {
  return result.criteria.map((c) => `${c.passed ? '✔' : '✖'} ${c.id}: ${c.message}`).join('\n');
}

/** Registers the proof of every lab of the given scope. */
export function proveLabs(scope: LabDefinition['scope']): void {
  const labs = catalog.list().filter((lab) => lab.scope === scope);
  const suite = scope === 'namespace' ? describe.concurrent : describe;
  it(`has ${scope}-scope labs to prove`, () => expect(labs.length).toBeGreaterThan(0));
  suite.each(labs.map((lab) => [lab.id, lab] as const))('lab %s', (_, lab) => {
    it('fails from its setup, and passes with its solution', () =>
      oneClusterScopeAtATime(lab, async () => {
        const sandbox = await freshSandbox(lab);
        const { namespaces, learner } = sandbox;
        try {
          for (const step of lab.steps) {
            const before = await check(lab, step.id, namespaces);
            expect(before.passed, `step ${step.id} passes before anything was done:\n${summary(before)}`).toBe(false);
          }
          await catalog.solve(learner, lab, namespaces);
          for (const step of lab.steps) {
            const after = await check(lab, step.id, namespaces);
            expect(after.passed, `step ${step.id} fails with the solution:\n${summary(after)}`).toBe(true);
            expect(after.criteria.length).toBeGreaterThan(0);
          }
        } finally {
          await tidy(lab, sandbox);
        }
      }));

    const files = catalog.files(lab.id);
    for (const right of files?.definition.right ?? []) {
      it(`accepts the other correct answer ${right.file}`, () =>
        oneClusterScopeAtATime(lab, async () => {
          const sandbox = await freshSandbox(lab);
          const { namespaces, learner } = sandbox;
          try {
            await catalog.applyRight(learner, lab, right.file, namespaces);
            for (const step of lab.steps) {
              const result = await check(lab, step.id, namespaces);
              expect(result.passed, `step ${step.id} refuses ${right.file} (${right.why}):\n${summary(result)}`).toBe(true);
            }
          } finally {
            await tidy(lab, sandbox);
          }
        }));
    }
    for (const wrong of files?.definition.wrong ?? []) {
      it(`refuses the wrong attempt ${wrong.file}`, () =>
        oneClusterScopeAtATime(lab, async () => {
          const sandbox = await freshSandbox(lab);
          const { namespaces, learner } = sandbox;
          try {
            await catalog.applyWrong(learner, lab, wrong.file, namespaces);
            const result = await check(lab, wrong.step, namespaces);
            const failing = result.criteria.find((c) => c.id === wrong.criterion);
            expect(failing, `no criterion ${wrong.criterion} in:\n${summary(result)}`).toBeDefined();
            expect(failing?.passed, `criterion ${wrong.criterion} passes the wrong attempt:\n${summary(result)}`).toBe(false);
            expect(failing?.message).toContain(wrong.messageIncludes);
            expect(failing?.hint, 'a failing criterion carries a hint').toBeTruthy();
            expect(result.passed).toBe(false);
          } finally {
            await tidy(lab, sandbox);
          }
        }));
    }
  });
}
