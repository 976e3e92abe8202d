/**
 * What the lab server needs from the course: the labs' definitions, and the
 * four things it does with them (apply the setup, apply the solution, run a
 * step's check, tidy up what a cluster-scope lab made). The checks package
 * implements it (checks/catalog.ts); the server depends only on this shape,
 * and tests give it small catalogs of their own.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { CheckResult } from './check.ts';
import type { Lab, LabStep } from './content.ts';
import type { SandboxNamespaces } from './sandbox.ts';

/** What the server reads of a lab: its identity, where it runs, its namespaces (in order) and its steps. */
export type LabDefinition = Pick<
  Lab,
  'id' | 'title' | 'topic' | 'scope' | 'needsContainers' | 'needsKarpenter' | 'needsAuditLog' | 'namespaces'
> & {
  steps: Array<Pick<LabStep, 'id' | 'title'>>;
};

export interface LabCatalog {
  list(): LabDefinition[];
  get(id: string): LabDefinition | undefined;
  setup(kc: KubeConfig, lab: LabDefinition, namespaces: SandboxNamespaces): Promise<void>;
  solve(kc: KubeConfig, lab: LabDefinition, namespaces: SandboxNamespaces): Promise<void>;
  /** Runs a step's check; `signal` aborts it (its deadline), and the result then says it timed out. */
  check(kc: KubeConfig, lab: LabDefinition, stepId: string, namespaces: SandboxNamespaces, signal: AbortSignal): Promise<CheckResult>;
  /**
   * Removes what a cluster-scope lab made outside its namespaces (bindings,
   * policies, definitions); deleting the namespaces removes the rest.
   */
  teardown?(kc: KubeConfig, lab: LabDefinition, namespaces: SandboxNamespaces): Promise<void>;
}
