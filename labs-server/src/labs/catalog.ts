/**
 * What the lab server needs from the labs: their definitions, and the three
 * things it does with them (apply the setup, apply the solution, run a
 * step's check). The content and checks packages implement it; the server
 * depends only on this shape.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { LogicalNamespace, NamespaceMap } from '../sandbox/provision.ts';

export interface LabStep {
  id: string;
  title: string;
}

export interface LabDefinition {
  id: string;
  title: string;
  topic: string;
  scope: 'namespace' | 'cluster';
  needsContainers: boolean;
  namespaces: LogicalNamespace[];
  steps: LabStep[];
}

export interface CriterionResult {
  id: string;
  passed: boolean;
  message: string;
  hint?: string | undefined;
  diff?: Array<{ path: string; expected: unknown; actual: unknown }> | undefined;
}

export interface CheckResult {
  labId: string;
  stepId: string;
  passed: boolean;
  criteria: CriterionResult[];
  durationMs: number;
}

export interface LabCatalog {
  list(): LabDefinition[];
  get(id: string): LabDefinition | undefined;
  setup(kc: KubeConfig, lab: LabDefinition, namespaces: NamespaceMap): Promise<void>;
  solve(kc: KubeConfig, lab: LabDefinition, namespaces: NamespaceMap): Promise<void>;
  check(kc: KubeConfig, lab: LabDefinition, stepId: string, namespaces: NamespaceMap, timeoutMs: number): Promise<CheckResult>;
  /**
   * Removes what a cluster-scope lab made outside its namespaces (bindings,
   * policies, definitions); deleting the namespaces removes the rest.
   */
  teardown?(kc: KubeConfig, lab: LabDefinition, namespaces: NamespaceMap): Promise<void>;
}
