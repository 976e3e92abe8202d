/**
 * What a learner (or the instructor on their behalf) does with a lab: start
 * it, reset it to its setup, have it solved, check a step. Each action reads
 * and writes the LabSession, so any replica can serve the next request.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { withDefaultNamespace } from '../../../cluster/src/kube.ts';
import type { Capabilities } from '../../../cluster/src/provider.ts';
import { HttpError, notFound } from '../http/errors.ts';
import type { Metrics } from '../metrics.ts';
import { type NamespaceMap, namespaceMap, type Sandboxes } from '../sandbox/provision.ts';
import { countPassed, type LabSession, type SessionStore } from '../sessions/store.ts';
import type { CheckResult, LabCatalog, LabDefinition } from './catalog.ts';

export interface LabServiceDeps {
  kc: KubeConfig;
  catalog: LabCatalog;
  store: SessionStore;
  sandboxes: Sandboxes;
  metrics: Metrics;
  capabilities: Capabilities;
  mode: 'single' | 'workshop';
  checkTimeoutMs?: number;
}

const RESET_CONCURRENCY = 8;
/** A learner's token lives an hour; terminals renew it well before that. */
export const LEARNER_TOKEN_SECONDS = 3600;

export class LabService {
  private readonly deps: LabServiceDeps;
  /** Called when a session ends, e.g. to close its terminals on this server. */
  onSessionEnd: ((sessionName: string) => void) | undefined;

  constructor(deps: LabServiceDeps) {
    this.deps = deps;
  }

  list(): LabDefinition[] {
    return this.deps.catalog.list();
  }

  lab(labId: string): LabDefinition {
    const lab = this.deps.catalog.get(labId);
    if (!lab) throw notFound(`The lab "${labId}"`);
    return lab;
  }

  /** Why a lab cannot run here, or undefined when it can. */
  unavailable(lab: LabDefinition): string | undefined {
    if (lab.needsContainers && !this.deps.capabilities.runsContainers) {
      return 'This lab needs real containers, and this cluster simulates its nodes. Run it with the kind provider (`npm start` where Docker and kind are installed).';
    }
    if (lab.scope === 'cluster' && this.deps.mode === 'workshop') {
      return 'This lab needs a cluster of your own (it changes cluster-wide objects), and this workshop shares one cluster. Run it on your own machine in single-user mode.';
    }
    if (lab.scope === 'cluster' && !this.deps.capabilities.ownedByPlatform) {
      return "This lab changes cluster-wide objects, and this cluster is not the platform's own.";
    }
    return undefined;
  }

  private assertAvailable(lab: LabDefinition): void {
    const reason = this.unavailable(lab);
    if (reason) throw new HttpError(409, 'lab_unavailable', reason);
  }

  /** The sandbox of a started lab, or a 409 saying to start it. */
  namespacesOf(session: LabSession, lab: LabDefinition): NamespaceMap {
    const progress = session.status?.labs?.[lab.id];
    if (!progress?.namespaces || progress.sandbox !== 'ready') {
      throw new HttpError(409, 'lab_not_started', `The lab "${lab.id}" has not been started in this session.`, 'Start the lab first.');
    }
    return progress.namespaces;
  }

  /** Provisions the sandbox and applies the setup; starting a started lab only makes it current. */
  async start(session: LabSession, labId: string): Promise<{ session: LabSession; namespaces: NamespaceMap; created: boolean }> {
    const lab = this.lab(labId);
    this.assertAvailable(lab);
    const existing = session.status?.labs?.[lab.id];
    if (existing?.sandbox === 'ready' && existing.namespaces) {
      const updated = await this.deps.store.patchStatus(session.metadata.name, () => ({ currentLab: lab.id }));
      return { session: updated, namespaces: existing.namespaces, created: false };
    }
    const namespaces = await this.provision(session, lab);
    const updated = await this.deps.store.patchStatus(session.metadata.name, () => ({
      currentLab: lab.id,
      labs: { [lab.id]: { startedAt: new Date().toISOString(), sandbox: 'ready', namespaces } },
    }));
    return { session: updated, namespaces, created: true };
  }

  private async provision(session: LabSession, lab: LabDefinition): Promise<NamespaceMap> {
    const timer = this.deps.metrics.sandboxSeconds.startTimer();
    try {
      const namespaces = await this.deps.sandboxes.provision(session, lab.id, lab.namespaces);
      await this.deps.catalog.setup(this.deps.kc, lab, namespaces);
      return namespaces;
    } finally {
      timer();
    }
  }

  /** Back to the lab's start: fresh namespaces of the same names, setup applied again. Progress is kept. */
  async reset(session: LabSession, labId: string): Promise<NamespaceMap> {
    const lab = this.lab(labId);
    this.assertAvailable(lab);
    const namespaces = session.status?.labs?.[lab.id]?.namespaces ?? namespaceMap(session, lab.id, lab.namespaces);
    await this.teardown(lab, namespaces);
    await this.deps.sandboxes.remove(namespaces);
    const fresh = await this.provision(session, lab);
    await this.deps.store.patchStatus(session.metadata.name, () => ({
      labs: { [lab.id]: { sandbox: 'ready', namespaces: fresh } },
    }));
    return fresh;
  }

  /** Ends a session: its namespaces and identity go at once, then the LabSession itself. */
  async end(sessionName: string): Promise<boolean> {
    await this.removeSandboxes(sessionName);
    return this.deps.store.end(sessionName);
  }

  /**
   * Closes a session's terminals and removes every sandbox it has (with what
   * its cluster-scope labs made outside them); the LabSession stays.
   */
  async removeSandboxes(sessionName: string): Promise<void> {
    this.onSessionEnd?.(sessionName);
    const session = await this.deps.store.get(sessionName);
    for (const [labId, progress] of Object.entries(session?.status?.labs ?? {})) {
      const lab = this.deps.catalog.get(labId);
      if (lab && progress.namespaces && progress.sandbox === 'ready') await this.teardown(lab, progress.namespaces);
    }
    await this.deps.sandboxes.removeSession(sessionName);
  }

  /** What a cluster-scope lab made outside its namespaces goes first. */
  private async teardown(lab: LabDefinition, namespaces: NamespaceMap): Promise<void> {
    if (lab.scope === 'cluster') await this.deps.catalog.teardown?.(this.deps.kc, lab, namespaces);
  }

  /** Resets a lab for every session that has started it; returns how many. */
  async resetEveryone(labId: string): Promise<number> {
    const lab = this.lab(labId);
    const sessions = (await this.deps.store.list()).filter(
      (s) => s.status?.labs?.[lab.id]?.sandbox === 'ready' && !this.deps.store.expired(s),
    );
    // A few at a time: each reset deletes and recreates namespaces.
    for (let i = 0; i < sessions.length; i += RESET_CONCURRENCY) {
      await Promise.all(sessions.slice(i, i + RESET_CONCURRENCY).map((s) => this.reset(s, lab.id)));
    }
    return sessions.length;
  }

  /**
   * A kubeconfig for a started lab. A namespace-scope lab gets the learner's
   * own short-lived token, whatever the mode; a cluster-scope lab (only ever
   * available on a cluster of the learner's own) gets the cluster's admin.
   */
  async kubeconfig(session: LabSession, labId: string): Promise<string> {
    const lab = this.lab(labId);
    const namespaces = this.namespacesOf(session, lab);
    const namespace = namespaces[lab.namespaces[0]?.name ?? ''] ?? 'default';
    if (lab.scope === 'cluster') {
      this.assertAvailable(lab);
      return withDefaultNamespace(this.deps.kc, namespace);
    }
    const { token } = await this.deps.sandboxes.issueToken(session, LEARNER_TOKEN_SECONDS);
    return this.deps.sandboxes.learnerKubeconfig(token, namespace);
  }

  async solve(session: LabSession, labId: string): Promise<void> {
    const lab = this.lab(labId);
    await this.deps.catalog.solve(this.deps.kc, lab, this.namespacesOf(session, lab));
  }

  async check(session: LabSession, labId: string, stepId: string): Promise<CheckResult> {
    const lab = this.lab(labId);
    if (!lab.steps.some((s) => s.id === stepId)) throw notFound(`The step "${stepId}" of the lab "${lab.id}"`);
    const namespaces = this.namespacesOf(session, lab);
    const timer = this.deps.metrics.checkSeconds.startTimer();
    let result: CheckResult;
    try {
      result = await this.deps.catalog.check(this.deps.kc, lab, stepId, namespaces, this.deps.checkTimeoutMs ?? 15_000);
    } finally {
      timer();
    }
    this.deps.metrics.checksRun.inc({ lab: lab.id, outcome: result.passed ? 'pass' : 'fail' });
    const now = new Date().toISOString();
    const firstFailure = result.criteria.find((c) => !c.passed);
    await this.deps.store.patchStatus(session.metadata.name, (current) => {
      const before = current.status?.labs?.[lab.id]?.steps?.[stepId];
      const step = {
        lastCheckedAt: now,
        lastPassed: result.passed,
        attempts: (before?.attempts ?? 0) + 1,
        lastMessage: firstFailure?.message ?? 'passed',
        ...(result.passed && !before?.passedAt ? { passedAt: now } : {}),
      };
      const labs = {
        ...current.status?.labs,
        [lab.id]: { ...current.status?.labs?.[lab.id], steps: { ...current.status?.labs?.[lab.id]?.steps, [stepId]: step } },
      };
      return { labs: { [lab.id]: { steps: { [stepId]: step } } }, stepsPassed: countPassed(labs), lastActivityAt: now };
    });
    return result;
  }
}
