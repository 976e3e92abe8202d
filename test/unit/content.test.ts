import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CatalogError, courseCatalog } from '../../checks/catalog.ts';
import { differences } from '../../checks/lib/compare.ts';
import { ManifestError, parseManifests } from '../../checks/lib/manifests.ts';
import { CHECKS } from '../../checks/registry.ts';
import { IMAGE_REFS } from '../../cluster/src/local/images.ts';
import { LABS_DIR, LabContentError, loadLabs } from '../../content/load.ts';
import { LabSchema, TOPICS } from '../../contract/content.ts';
import { defaultNamespace } from '../../contract/sandbox.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the course's labs to break. */
function copyOfLabs(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cdl-labs-'));
  dirs.push(dir);
  cpSync(LABS_DIR, dir, { recursive: true });
  return dir;
}

describe('the labs as data', () => {
  it('all load, and every lab has a check for each of its steps', () => {
    const catalog = courseCatalog();
    expect(catalog.list().length).toBe(loadLabs().length);
    for (const lab of catalog.list()) expect(TOPICS.map((t) => t.slug)).toContain(lab.topic);
  });

  it('a lab that runs containers uses only the images the real node has, with IfNotPresent (a wrong attempt may name another on purpose)', () => {
    const known = new Set<string>(Object.values(IMAGE_REFS));
    const containers = (node: unknown): Array<{ image?: string; imagePullPolicy?: string }> => {
      if (Array.isArray(node)) return node.flatMap(containers);
      if (!node || typeof node !== 'object') return [];
      const object = node as Record<string, unknown>;
      const own = ['containers', 'initContainers'].flatMap((key) =>
        Array.isArray(object[key]) ? (object[key] as Array<{ image?: string }>) : [],
      );
      return [
        ...own,
        ...Object.entries(object).flatMap(([key, value]) => (key === 'containers' || key === 'initContainers' ? [] : containers(value))),
      ];
    };
    const labs = loadLabs().filter((lab) => lab.definition.needsContainers);
    expect(labs.length).toBeGreaterThan(0);
    const unknown: string[] = [];
    for (const lab of labs) {
      const files = {
        'setup.yaml': lab.setup,
        'solution.yaml': lab.solution,
        ...Object.fromEntries([...lab.right].map(([f, t]) => [`right/${f}`, t])),
      };
      for (const [file, text] of Object.entries(files)) {
        for (const c of containers(parseAllDocuments(text).map((d) => d.toJS()))) {
          if (!c.image || !known.has(c.image) || c.imagePullPolicy !== 'IfNotPresent') {
            unknown.push(`${lab.definition.id}/${file}: ${c.image} (${c.imagePullPolicy ?? 'no pull policy'})`);
          }
        }
      }
    }
    expect(unknown).toEqual([]);
  });

  it('covers every topic of the course with at least one lab', () => {
    const topics = new Set(
      courseCatalog()
        .list()
        .map((lab) => lab.topic),
    );
    expect(TOPICS.filter((t) => !topics.has(t.slug)).map((t) => t.slug)).toEqual([]);
  });

  it('a lab folder without a solution is refused, naming the folder', () => {
    const dir = copyOfLabs();
    rmSync(join(dir, 'first-deployment', 'solution.yaml'));
    expect(() => loadLabs(dir)).toThrow(LabContentError);
    expect(() => loadLabs(dir)).toThrow(/first-deployment: no solution.yaml/);
  });

  it('a lab without a wrong attempt, or whose wrong attempt has no file, is refused', () => {
    const dir = copyOfLabs();
    rmSync(join(dir, 'first-deployment', 'wrong', 'bare-pod.yaml'));
    expect(() => loadLabs(dir)).toThrow(/wrong attempt bare-pod.yaml has no file/);
    const definition = LabSchema.safeParse({ ...loadLabs()[0]?.definition, wrong: [] });
    expect(definition.success).toBe(false);
  });

  it('a lab.yaml that breaks the schema names the field', () => {
    const dir = copyOfLabs();
    writeFileSync(join(dir, 'first-deployment', 'lab.yaml'), 'id: first-deployment\ntitle: X\ntopic: gardening\n');
    expect(() => loadLabs(dir)).toThrow(/lab.yaml: .*topic/);
  });

  it('a step whose verify script is missing, or that has a script and a check, is refused', () => {
    const dir = copyOfLabs();
    rmSync(join(dir, 'first-deployment', 'verify-expose.sh'));
    expect(() => loadLabs(dir)).toThrow(/step expose names verify-expose.sh, and there is no such file/);
    const withBoth = {
      ...CHECKS,
      'first-deployment': { lab: 'first-deployment', steps: { ...CHECKS['first-deployment']?.steps, expose: async () => [] } },
    };
    expect(() => courseCatalog({ checks: withBoth })).toThrow(/both a script and a check for expose/);
  });

  it('a lab with no check, or a check for no lab, is refused', () => {
    const { 'first-deployment': _, ...withoutOne } = CHECKS;
    expect(() => courseCatalog({ checks: withoutOne })).toThrow(CatalogError);
    const dir = copyOfLabs();
    rmSync(join(dir, 'first-deployment'), { recursive: true });
    expect(() => courseCatalog({ labsDir: dir })).toThrow(/has a check for "first-deployment", and content\/labs\/ has no such lab/);
  });
});

describe('manifests', () => {
  it('put objects in the learner namespaces and refuse unknown names', () => {
    const text =
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: "{{ns.db}}"\n';
    const sandbox = [
      { name: 'app', namespace: 's-1-app' },
      { name: 'db', namespace: 's-1-db' },
    ];
    const objects = parseManifests(text, sandbox, 'x.yaml');
    expect(objects.map((o) => o.metadata?.namespace)).toEqual(['s-1-app', 's-1-db']);
    expect(() => parseManifests(text, sandbox.slice(0, 1), 'x.yaml')).toThrow(ManifestError);
    expect(() => parseManifests('kind: ConfigMap\n', sandbox, 'x.yaml')).toThrow(/apiVersion, kind and metadata.name/);
  });

  it('read a List as its items, as kubectl does, and still refuse an item without a name', () => {
    const sandbox = [{ name: 'app', namespace: 's-1-app' }];
    const list =
      'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: a}\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: b}\n';
    const objects = parseManifests(list, sandbox, 'x.yaml');
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}/${o.metadata?.namespace}`)).toEqual([
      'ConfigMap/a/s-1-app',
      'Service/b/s-1-app',
    ]);
    const unnamed = 'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n';
    expect(() => parseManifests(unnamed, sandbox, 'x.yaml')).toThrow(/apiVersion, kind and metadata.name/);
  });

  it("put an object without a namespace in the lab's first namespace, whatever the names' order", () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n';
    // As a lab names them: prod first. Sorted keys (how the API server stores a map) would put dev first.
    const sandbox = [
      { name: 'prod', namespace: 's-1-prod' },
      { name: 'dev', namespace: 's-1-dev' },
    ];
    expect(parseManifests(text, sandbox, 'x.yaml')[0]?.metadata?.namespace).toBe('s-1-prod');
    expect(defaultNamespace(JSON.parse(JSON.stringify(sandbox)))).toBe('s-1-prod');
  });
});

describe('comparing an object with its expected shape', () => {
  it('reports each differing field with expected and actual', () => {
    const actual = { spec: { replicas: 1, template: { spec: { containers: [{ name: 'a', image: 'x:1' }] } } }, extra: true };
    expect(differences({ spec: { replicas: 1 } }, actual)).toEqual([]);
    expect(differences({ spec: { replicas: 2 } }, actual)).toEqual([{ path: 'spec.replicas', expected: 2, actual: 1 }]);
    expect(differences({ spec: { template: { spec: { containers: [{ image: 'x:1' }] } } } }, actual)).toEqual([]);
    const [diff] = differences({ spec: { template: { spec: { containers: [{ image: 'x:2' }] } } } }, actual);
    expect(diff?.path).toBe('spec.template.spec.containers[]');
    expect(differences({ metadata: { labels: { team: 'a' } } }, {})).toEqual([
      { path: 'metadata', expected: { labels: { team: 'a' } }, actual: undefined },
    ]);
  });
});
