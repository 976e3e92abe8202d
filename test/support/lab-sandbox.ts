/**
 * A learner's fresh sandbox for a lab, as the lab server makes one: a
 * session, its namespaces, the lab's setup, and the kubeconfig its terminal
 * would get (the learner's own short-lived token for a namespace-scope lab,
 * the admin's with the sandbox's namespace for a cluster-scope one). A
 * sandbox is removed once its attempt is done (`remove`): the simulated
 * nodes have the room of a small cluster, and the pods of every attempt of
 * every lab would not fit at once. `removeAll` removes any left.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { withDefaultNamespace } from '../../cluster/src/kube.ts';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import type { LabCatalog, LabDefinition } from '../../contract/catalog.ts';
import { defaultNamespace, type SandboxNamespaces } from '../../contract/sandbox.ts';
import { Sandboxes } from '../../labs-server/src/sandbox/provision.ts';
import { ensureCrd } from '../../labs-server/src/sessions/crd.ts';
import { SessionStore } from '../../labs-server/src/sessions/store.ts';

export interface LabSandbox {
  /** The session's name, for `remove`. */
  session: string;
  namespaces: SandboxNamespaces;
  /** The kubeconfig the terminal gets (labs-server/src/labs/service.ts kubeconfigFor), as YAML. */
  kubeconfig: string;
}

export class LabSandboxes {
  private readonly sandboxes: Sandboxes;
  private readonly store: SessionStore;
  private readonly sessions: string[] = [];
  private readonly admin: KubeConfig;
  private readonly catalog: LabCatalog;

  constructor(admin: KubeConfig, catalog: LabCatalog) {
    this.admin = admin;
    this.catalog = catalog;
    // The suite's cluster is the local one, with its real node: a lab that needs containers is bound to it.
    this.sandboxes = new Sandboxes(admin, undefined, new LocalProvider().containerNodes);
    this.store = new SessionStore(admin, { ttlMs: 3_600_000 });
  }

  /** The LabSession CRD and the platform's namespace: once, before the first sandbox. */
  async prepare(): Promise<void> {
    await ensureCrd(this.admin);
    await this.sandboxes.ensureSystemNamespace();
  }

  /** A fresh sandbox for the lab with its setup applied; the learner's token lives `tokenSeconds`. */
  async fresh(lab: LabDefinition, purpose: string, tokenSeconds: number): Promise<LabSandbox> {
    const { session } = await this.store.create(`${purpose} ${lab.id}`);
    this.sessions.push(session.metadata.name);
    const namespaces = await this.sandboxes.provision(session, lab.id, lab.namespaces, { containers: lab.needsContainers });
    await this.catalog.setup(this.admin, lab, namespaces);
    const namespace = defaultNamespace(namespaces) ?? 'default';
    const name = session.metadata.name;
    if (lab.scope === 'cluster') return { session: name, namespaces, kubeconfig: withDefaultNamespace(this.admin, namespace) };
    const { token } = await this.sandboxes.issueToken(session, tokenSeconds);
    return { session: name, namespaces, kubeconfig: this.sandboxes.learnerKubeconfig(token, namespace) };
  }

  /** Ends a session and removes its sandboxes (their namespaces go in the background). */
  async remove(session: string): Promise<void> {
    const at = this.sessions.indexOf(session);
    if (at < 0) return;
    this.sessions.splice(at, 1);
    await this.sandboxes.removeSession(session);
    await this.store.end(session);
  }

  async removeAll(): Promise<void> {
    await Promise.all([...this.sessions].map((name) => this.remove(name)));
  }
}
