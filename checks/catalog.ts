/**
 * The course's labs as the lab server sees them: the definitions from
 * `content/labs/`, their setup and solution applied as the learner would,
 * and each step's check looked up in the registry by lab and step id, run
 * until its deadline's signal aborts it. Loading fails at start when a lab
 * has no check or a check names a step the lab does not have.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { LABS_DIR, type LabFiles, loadLabs } from '../content/load.ts';
import type { LabCatalog, LabDefinition } from '../contract/catalog.ts';
import type { CheckResult, CriterionResult } from '../contract/check.ts';
import { UserError } from '../contract/errors.ts';
import type { SandboxNamespaces } from '../contract/sandbox.ts';
import { replayActivity } from './lib/activity.ts';
import { CheckContext, type LabCheck } from './lib/check.ts';
import { applyManifests, deleteClusterObjects, parseManifests } from './lib/manifests.ts';
import { directLaunch, type Launch, runVerifyScript } from './lib/script.ts';
import { CHECKS } from './registry.ts';

export class CatalogError extends UserError {
  constructor(message: string) {
    super('catalog_invalid', message, 'Fix the lab or its check; `npm test` runs every lab against its solution and wrong attempts.');
  }
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

/** What a learner reads when a check ran out of time. */
function timedOut(signal: AbortSignal): CriterionResult {
  const reason = signal.reason as Error | undefined;
  const late = reason?.name === 'TimeoutError';
  return {
    id: 'timeout',
    passed: false,
    message: late ? 'The check did not finish in time.' : 'The check was stopped before it finished.',
    hint: 'Try again in a moment; if it keeps happening, tell the instructor.',
  };
}

export interface CourseCatalog extends Required<LabCatalog> {
  files(id: string): LabFiles | undefined;
  /** Applies one wrong attempt of a lab (for the proof suite and for demonstrations). */
  applyWrong(kc: KubeConfig, lab: LabDefinition, file: string, namespaces: SandboxNamespaces): Promise<void>;
  /** Applies one of a lab's other correct answers (for the proof suite). */
  applyRight(kc: KubeConfig, lab: LabDefinition, file: string, namespaces: SandboxNamespaces): Promise<void>;
}

export interface CourseCatalogOptions {
  /** Default: content/labs/. */
  labsDir?: string;
  /** Default: the registry's. */
  checks?: Record<string, LabCheck>;
  /** How verify scripts are started. Default: as they are; the lab server passes its terminals' launcher. */
  launch?: Launch;
}

export function courseCatalog(options: CourseCatalogOptions = {}): CourseCatalog {
  const { labsDir = LABS_DIR, checks = CHECKS, launch = directLaunch } = options;
  const labs = pair(loadLabs(labsDir), checks);
  const definitions: LabDefinition[] = [...labs.values()].map(({ files }) => files.definition);
  const entry = (id: string) => {
    const found = labs.get(id);
    if (!found) throw new CatalogError(`no lab "${id}"`);
    return found;
  };
  const apply = (kc: KubeConfig, text: string, namespaces: SandboxNamespaces, source: string) =>
    applyManifests(kc, parseManifests(text, namespaces, source));

  return {
    list: () => definitions,
    get: (id) => labs.get(id)?.files.definition,
    files: (id) => labs.get(id)?.files,
    async setup(kc, lab, namespaces) {
      const { files } = entry(lab.id);
      await apply(kc, files.setup, namespaces, `${lab.id}/setup.yaml`);
      const { activity } = files.definition;
      if (activity.length > 0) await replayActivity(kc, activity, namespaces, `${lab.id}/lab.yaml`);
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
        ...[...files.right].map(([file, text]): [string, string] => [`right/${file}`, text]),
      ];
      const objects = sources.flatMap(([source, text]) => parseManifests(text, namespaces, `${lab.id}/${source}`));
      await deleteClusterObjects(kc, objects);
    },
    async applyWrong(kc, lab, file, namespaces) {
      const text = entry(lab.id).files.wrong.get(file);
      if (text === undefined) throw new CatalogError(`the lab "${lab.id}" has no wrong attempt ${file}`);
      await apply(kc, text, namespaces, `${lab.id}/wrong/${file}`);
    },
    async applyRight(kc, lab, file, namespaces) {
      const text = entry(lab.id).files.right.get(file);
      if (text === undefined) throw new CatalogError(`the lab "${lab.id}" has no right attempt ${file}`);
      await apply(kc, text, namespaces, `${lab.id}/right/${file}`);
    },
    async check(kc, lab, stepId, namespaces, signal): Promise<CheckResult> {
      const { files, check } = entry(lab.id);
      const started = performance.now();
      const result = (criteria: CriterionResult[]): CheckResult => ({
        labId: lab.id,
        stepId,
        passed: criteria.every((c) => c.passed),
        criteria,
        durationMs: performance.now() - started,
      });
      const script = files.scripts.get(stepId);
      if (script) {
        const seconds = files.definition.steps.find((s) => s.id === stepId)?.verify?.timeoutSeconds ?? 10;
        return result([await runVerifyScript(kc, script, namespaces, { signal, timeoutMs: seconds * 1000, launch })]);
      }
      const step = check.steps[stepId];
      if (!step) throw new CatalogError(`the lab "${lab.id}" has no step "${stepId}"`);
      try {
        const criteria = await step(new CheckContext(kc, namespaces, signal));
        // A check that swallowed its own aborted calls still ran out of time.
        return result(signal.aborted ? [timedOut(signal)] : criteria);
      } catch (error) {
        if (!signal.aborted) throw error;
        return result([timedOut(signal)]);
      }
    },
  };
}
