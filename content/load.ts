/**
 * Reads the labs from `content/labs/<id>/`: `lab.yaml` (the definition,
 * validated by the schema), `setup.yaml` (what starting the lab creates),
 * `solution.yaml` (what reaches the goal), `wrong/*.yaml` (plausible
 * mistakes) and `right/*.yaml` (other correct answers). A folder that breaks the contract is an error naming the file.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { type Lab, LabSchema } from '../contract/content.ts';
import { describeIssues, UserError } from '../contract/errors.ts';

export const CONTENT_DIR = dirname(fileURLToPath(import.meta.url));
export const LABS_DIR = join(CONTENT_DIR, 'labs');

export interface LabFiles {
  definition: Lab;
  dir: string;
  /** YAML text of the setup; empty when the lab starts from empty namespaces. */
  setup: string;
  solution: string;
  /** File name in wrong/ → YAML text. */
  wrong: Map<string, string>;
  /** File name in right/ → YAML text. */
  right: Map<string, string>;
  /** Step id → the path of its verify script. */
  scripts: Map<string, string>;
}

export class LabContentError extends UserError {
  constructor(message: string) {
    super('lab_invalid', message, 'See docs/authoring.md for what each field of lab.yaml means.');
  }
}

function read(path: string): string {
  return readFileSync(path, 'utf8');
}

export function loadLab(dir: string): LabFiles {
  const where = relative(process.cwd(), dir) || dir;
  const definitionPath = join(dir, 'lab.yaml');
  if (!existsSync(definitionPath)) throw new LabContentError(`${where}: no lab.yaml`);
  let raw: unknown;
  try {
    raw = parse(read(definitionPath));
  } catch (error) {
    throw new LabContentError(`${where}/lab.yaml: not valid YAML: ${(error as Error).message}`);
  }
  const parsed = LabSchema.safeParse(raw);
  if (!parsed.success) {
    throw new LabContentError(`${where}/lab.yaml: ${describeIssues(parsed.error, { schema: LabSchema })}`);
  }
  const definition = parsed.data;
  const folder = dir.split(/[\\/]/).filter(Boolean).pop();
  if (definition.id !== folder) throw new LabContentError(`${where}/lab.yaml: id "${definition.id}" differs from its folder "${folder}"`);
  const solutionPath = join(dir, 'solution.yaml');
  if (!existsSync(solutionPath)) throw new LabContentError(`${where}: no solution.yaml; every lab keeps a solution that passes its check`);
  const wrong = new Map<string, string>();
  for (const attempt of definition.wrong) {
    const path = join(dir, 'wrong', attempt.file);
    if (!existsSync(path)) throw new LabContentError(`${where}/lab.yaml: wrong attempt ${attempt.file} has no file wrong/${attempt.file}`);
    wrong.set(attempt.file, read(path));
  }
  const right = new Map<string, string>();
  for (const attempt of definition.right) {
    const path = join(dir, 'right', attempt.file);
    if (!existsSync(path)) throw new LabContentError(`${where}/lab.yaml: right attempt ${attempt.file} has no file right/${attempt.file}`);
    right.set(attempt.file, read(path));
  }
  const scripts = new Map<string, string>();
  for (const step of definition.steps) {
    if (!step.verify) continue;
    const path = join(dir, step.verify.script);
    if (!existsSync(path))
      throw new LabContentError(`${where}/lab.yaml: step ${step.id} names ${step.verify.script}, and there is no such file`);
    scripts.set(step.id, path);
  }
  const setupPath = join(dir, 'setup.yaml');
  return { definition, dir, setup: existsSync(setupPath) ? read(setupPath) : '', solution: read(solutionPath), wrong, right, scripts };
}

/** Every lab under `labsDir`, in folder order. */
export function loadLabs(labsDir = LABS_DIR): LabFiles[] {
  if (!existsSync(labsDir)) return [];
  return readdirSync(labsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => loadLab(join(labsDir, name)));
}
