import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { allows, type Endpoint, selects } from '../../checks/lib/network.ts';

const at = (namespace: string, app: string): Endpoint => ({
  namespace,
  namespaceLabels: { 'kubernetes.io/metadata.name': namespace },
  podLabels: { app },
});

const policy = (name: string, spec: V1NetworkPolicy['spec']): V1NetworkPolicy => ({ metadata: { name, namespace: 'a' }, spec });
const denyAll = policy('deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });

describe('NetworkPolicy evaluation', () => {
  it('allows everything without policies, and nothing under default-deny', () => {
    expect(allows([], { from: at('a', 'ui'), to: at('a', 'db'), port: 5432 })).toBe(true);
    expect(allows([denyAll], { from: at('a', 'ui'), to: at('a', 'db'), port: 5432 })).toBe(false);
    expect(allows([denyAll], { from: at('b', 'ui'), to: at('b', 'db'), port: 5432 })).toBe(true);
  });

  it('treats two from items as OR and one item with both selectors as AND', () => {
    const and = policy('and', {
      podSelector: { matchLabels: { app: 'db' } },
      ingress: [
        {
          _from: [
            { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'a' } }, podSelector: { matchLabels: { app: 'ui' } } },
          ],
        },
      ],
    });
    const or = policy('or', {
      podSelector: { matchLabels: { app: 'db' } },
      ingress: [
        {
          _from: [
            { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'a' } } },
            { podSelector: { matchLabels: { app: 'ui' } } },
          ],
        },
      ],
    });
    const other = { from: at('a', 'orders'), to: at('a', 'db'), port: 5432 };
    expect(allows([and], { ...other, from: at('a', 'ui') })).toBe(true);
    expect(allows([and], other)).toBe(false);
    expect(allows([or], other)).toBe(true);
    expect(allows([and], { ...other, from: at('b', 'ui') })).toBe(false);
  });

  it('matches ports and protocols, and needs egress at the source too', () => {
    const ingress = policy('in', { podSelector: {}, ingress: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] });
    const traffic = { from: at('a', 'ui'), to: at('a', 'db'), port: 8080 };
    expect(allows([ingress], traffic)).toBe(true);
    expect(allows([ingress], { ...traffic, port: 8081 })).toBe(false);
    expect(allows([ingress], { ...traffic, protocol: 'UDP' })).toBe(false);
    expect(allows([ingress, denyAll], traffic)).toBe(false);
  });

  it('evaluates match expressions', () => {
    expect(selects({ matchExpressions: [{ key: 'app', operator: 'In', values: ['ui', 'web'] }] }, { app: 'web' })).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['ui'] }] }, { app: 'ui' })).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, { app: 'ui' })).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, { app: 'ui' })).toBe(false);
  });
});

describe('one side of the question', () => {
  it('answers for the ingress rules alone', () => {
    const or = policy('or', {
      podSelector: { matchLabels: { app: 'db' } },
      ingress: [
        {
          _from: [
            { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'a' } } },
            { podSelector: { matchLabels: { app: 'ui' } } },
          ],
        },
      ],
    });
    const traffic = { from: at('a', 'orders'), to: at('a', 'db'), port: 5432 };
    expect(allows([or, denyAll], traffic)).toBe(false);
    expect(allows([or, denyAll], traffic, 'ingress')).toBe(true);
    expect(allows([or, denyAll], traffic, 'egress')).toBe(false);
  });
});
