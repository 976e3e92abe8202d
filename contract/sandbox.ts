/**
 * A learner's sandbox as everyone names it: for each namespace a lab uses
 * (its logical name, e.g. `prod`), the learner's real namespace. An ordered
 * list, in the lab's order, and never a map: the API server stores custom
 * objects as JSON with sorted keys, so a map read back would lose the order
 * that says which namespace is the default.
 */
import { z } from 'zod';

export const SandboxNamespaceSchema = z
  .object({
    /** The lab's name for it, e.g. `prod`. */
    name: z.string(),
    /** The learner's real namespace, e.g. `s-1a2b3c4d5e6f-0a1b2-prod`. */
    namespace: z.string(),
  })
  .meta({ id: 'SandboxNamespace' });
export type SandboxNamespace = z.infer<typeof SandboxNamespaceSchema>;

export const SandboxNamespacesSchema = z.array(SandboxNamespaceSchema);
export type SandboxNamespaces = SandboxNamespace[];

/** The namespace commands use when they name none: the lab's first. */
export function defaultNamespace(namespaces: readonly SandboxNamespace[]): string | undefined {
  return namespaces[0]?.namespace;
}

/** The real namespace for the lab's name of it; without a name, the default one. */
export function realNamespace(namespaces: readonly SandboxNamespace[], logical?: string): string | undefined {
  return logical === undefined ? defaultNamespace(namespaces) : namespaces.find((ns) => ns.name === logical)?.namespace;
}

/** The learner's real namespaces, in order. */
export function realNamespaces(namespaces: readonly SandboxNamespace[]): string[] {
  return namespaces.map((ns) => ns.namespace);
}
