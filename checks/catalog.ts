/**
 * The course's labs as the lab server sees them: the definitions from
 * `content/labs/`, their setup and solution applied as the learner would,
 * and each step's check looked up in the registry by lab and step id, run
 * with a deadline. Loading fails at start when a lab has no check or a check
 * names a step the lab does not have.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { LABS_DIR, type LabFiles, loadLabs } from '../content/load.ts';
import type { CheckResult, LabCatalog, LabDefinition } from '../labs-server/src/labs/catalog.ts';
import type { NamespaceMap } from '../labs-server/src/sandbox/provision.ts';
import { CheckContext, type LabCheck } from './lib/check.ts';
import { applyManifests, deleteClusterObjects, parseManifests } from './lib/manifests.ts';
import { runVerifyScript } from './lib/script.ts';
import { CHECKS } from './registry.ts';

export class CatalogError extends Error {
  override readonly name = 'CatalogError';
}

/** Pairs each lab with its check; every step must have one, and every check a step. */
function pair(files: LabFiles[], checks: Record<string, LabCheck>): Map<string, { files: LabFiles; check: LabCheck }> {
  const labs = new Map<string, { files: LabFiles; check: LabCheck }>();
  for (const lab of files) {
    const check = checks[lab.definition.id];
    if (!check) throw new CatalogError(`the lab "${lab.definition.id}" has no check in checks/registry.ts`);
    const steps = lab.definition.steps.map((s) => s.id);
    const scripted = lab.definition.steps.filter((s) => s.verify).map((s) => s.id);
    const missing = steps.filter((id) => !check.steps[id] && !scripted.includes(id));
    const both = scripted.filter((id) => check.steps[id]);
    if (both.length > 0) throw new CatalogError(`the lab "${lab.definition.id}" has both a script and a check for ${both.join(', ')}`);
    const extra = Object.keys(check.steps).filter((id) => !steps.includes(id));
    if (missing.length > 0) throw new CatalogError(`the check of "${lab.definition.id}" has no step ${missing.join(', ')}`);
    if (extra.length > 0) throw new CatalogError(`the check of "${lab.definition.id}" checks steps the lab lacks: ${extra.join(', ')}`);
    labs.set(lab.definition.id, { files: lab, check });
  }
  for (const id of Object.keys(checks)) {
    if (!labs.has(id)) throw new CatalogError(`checks/registry.ts has a check for "${id}", and content/labs/ has no such lab`);
  }
  return labs;
}

function timeout(ms: number): { promise: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(ms)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

export class CheckTimeout extends Error {
  override readonly name = 'CheckTimeout';
  constructor(ms: number) {
    super(`the check did not finish within ${(ms / 1000).toFixed(0)} s`);
  }
}

export interface CourseCatalog extends Required<LabCatalog> {
  files(id: string): LabFiles | undefined;
  /** Applies one wrong attempt of a lab (for the proof suite and for demonstrations). */
  applyWrong(kc: KubeConfig, lab: LabDefinition, file: string, namespaces: NamespaceMap): Promise<void>;
}

export function courseCatalog(labsDir = LABS_DIR, checks: Record<string, LabCheck> = CHECKS): CourseCatalog {
  const labs = pair(loadLabs(labsDir), checks);
  const definitions = [...labs.values()].map(({ files }) => files.definition as LabDefinition);
  const entry = (id: string) => {
    const found = labs.get(id);
    if (!found) throw new CatalogError(`no lab "${id}"`);
    return found;
  };
  const apply = (kc: KubeConfig, text: string, namespaces: NamespaceMap, source: string) =>
    applyManifests(kc, parseManifests(text, namespaces, source));

  return {
    list: () => definitions,
    get: (id) => labs.get(id)?.files.definition as LabDefinition | undefined,
    files: (id) => labs.get(id)?.files,
    async setup(kc, lab, namespaces) {
      const { files } = entry(lab.id);
      await apply(kc, files.setup, namespaces, `${lab.id}/setup.yaml`);
    },
    async solve(kc, lab, namespaces) {
      const { files } = entry(lab.id);
      await apply(kc, files.solution, namespaces, `${lab.id}/solution.yaml`);
    },
    async teardown(kc, lab, namespaces) {
      const { files } = entry(lab.id);
      const sources: Array<[string, string]> = [
        ['setup.yaml', files.setup],
        ['solution.yaml', files.solution],
        ...[...files.wrong].map(([file, text]): [string, string] => [`wrong/${file}`, text]),
      ];
      const objects = sources.flatMap(([source, text]) => parseManifests(text, namespaces, `${lab.id}/${source}`));
      await deleteClusterObjects(kc, objects);
    },
    async applyWrong(kc, lab, file, namespaces) {
      const text = entry(lab.id).files.wrong.get(file);
      if (text === undefined) throw new CatalogError(`the lab "${lab.id}" has no wrong attempt ${file}`);
      await apply(kc, text, namespaces, `${lab.id}/wrong/${file}`);
    },
    async check(kc, lab, stepId, namespaces, timeoutMs): Promise<CheckResult> {
      const { files, check } = entry(lab.id);
      const started = performance.now();
      const script = files.scripts.get(stepId);
      if (script) {
        const seconds = files.definition.steps.find((s) => s.id === stepId)?.verify?.timeoutSeconds ?? 10;
        const criterion = await runVerifyScript(kc, script, namespaces, Math.min(seconds * 1000, timeoutMs));
        return { labId: lab.id, stepId, passed: criterion.passed, criteria: [criterion], durationMs: performance.now() - started };
      }
      const step = check.steps[stepId];
      if (!step) throw new CatalogError(`the lab "${lab.id}" has no step "${stepId}"`);
      const deadline = timeout(timeoutMs);
      try {
        const criteria = await Promise.race([step(new CheckContext(kc, namespaces)), deadline.promise]);
        return { labId: lab.id, stepId, passed: criteria.every((c) => c.passed), criteria, durationMs: performance.now() - started };
      } catch (error) {
        if (!(error instanceof CheckTimeout)) throw error;
        return {
          labId: lab.id,
          stepId,
          passed: false,
          durationMs: performance.now() - started,
          criteria: [
            {
              id: 'timeout',
              passed: false,
              message: `The check did not finish within ${(timeoutMs / 1000).toFixed(0)} s.`,
              hint: 'Try again in a moment; if it keeps happening, tell the instructor.',
            },
          ],
        };
      } finally {
        deadline.cancel();
      }
    },
  };
}
