import { describe, expect, it } from 'vitest';
import { pathAt, schemaAt } from '../../site/src/lib/schema-completion.ts';

const lines = (text: string) => text.split('\n');

describe("the editor's completion path", () => {
  it('reads the path to a key from the indentation above, through list items', () => {
    expect(pathAt(lines('apiVersion: apps/v1\nkind: Deployment'), 0)).toEqual({ path: [], siblings: ['kind', 'apiVersion'] });
    expect(pathAt(lines('kind: Deployment\nspec:\n  replicas: 1'), 2)).toEqual({ path: [{ key: 'spec' }], siblings: ['replicas'] });
    const nested = 'spec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: x';
    expect(pathAt(lines(nested), 10)).toEqual({
      path: [{ key: 'spec' }, { key: 'template' }, { key: 'spec' }, { key: 'containers' }, { item: true }],
      siblings: ['image', 'name'],
    });
    // A list at its parent key's own indentation.
    expect(pathAt(lines('spec:\n  containers:\n  - name: web'), 4).path).toEqual([{ key: 'spec' }, { key: 'containers' }, { item: true }]);
  });

  it('walks the schema along the path, through references and items', () => {
    const root = {
      type: 'object',
      properties: { spec: { $ref: '#/definitions/Spec' } },
      definitions: {
        Spec: { type: 'object', properties: { containers: { type: 'array', items: { $ref: '#/definitions/Container' } } } },
        Container: { type: 'object', properties: { name: { type: 'string' }, image: { type: 'string' } } },
      },
    };
    expect(Object.keys(schemaAt(root, [{ key: 'spec' }, { key: 'containers' }, { item: true }])?.properties ?? {})).toEqual([
      'name',
      'image',
    ]);
    expect(schemaAt(root, [{ key: 'nope' }])).toBeUndefined();
  });
});
