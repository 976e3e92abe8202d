/**
 * What a learner (or the instructor on their behalf) does with a lab: start
 * it, reset it to its setup, have it solved, check a step. Each action reads
 * and writes the LabSession, so any replica can serve the next request.
 *
 * Building a sandbox (a first start, a reset, a repair) is one procedure that
 * can be run again from the top at any point: claim the lab and record the
 * intent (`provisioning` or `resetting`) first, then delete whatever is left
 * of its namespaces, create them again, apply the setup, and only then mark
 * it `ready`. A server killed midway leaves that record behind, and the next
 * start, check or solve of the lab (or the reaper) finishes the job. A lab
 * marked ready is trusted only once its namespaces are seen to exist.
 * Concurrent requests for one lab in one server share one build; another
 * replica's live build is `LabBusy`, saying to try again.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { isStatus, kubeConfigFromString, withDefaultNamespace } from '../../../cluster/src/kube.ts';
import type { Capabilities } from '../../../cluster/src/provider.ts';
import type { ValidationResult } from '../../../contract/api.ts';
import type { LabCatalog, LabDefinition } from '../../../contract/catalog.ts';
import type { CheckResult } from '../../../contract/check.ts';
import { defaultNamespace, realNamespaces, type SandboxNamespaces } from '../../../contract/sandbox.ts';
import type { LabProgress, LabSession } from '../../../contract/session.ts';
import type { AuditLog } from '../audit-log.ts';
import type { Metrics } from '../metrics.ts';
import { type Sandboxes, sandboxNamespaces } from '../sandbox/provision.ts';
import type { SessionStore } from '../sessions/store.ts';
import { LabBusy, LabNotFound, LabNotStarted, LabUnavailable, SessionConflict } from './errors.ts';
import type { KarpenterAddOn } from './karpenter.ts';
import { PerSessionLimit } from './per-session-limit.ts';
import { busy, CLAIM_MS, claimable, holderName } from './sandbox-claim.ts';
import { ClusterSchemas, type JsonSchema } from './schema.ts';
import { validateManifests } from './validate.ts';

export interface LabServiceDeps {
  kc: KubeConfig;
  catalog: LabCatalog;
  store: SessionStore;
  sandboxes: Sandboxes;
  metrics: Metrics;
  capabilities: Capabilities;
  mode: 'single' | 'workshop';
  checkTimeoutMs?: number;
  /** This server's name in sandbox claims. Default: host, process and a nonce. */
  holder?: string;
  /** Called when a session's sandboxes go, e.g. to close its terminals on this server. */
  onSessionEnd?: (sessionName: string) => void;
  /** Told when a check passes (the training records' delivery sends it soon). */
  onStepPassed?: (sessionName: string) => void;
  /** Karpenter beside the cluster, for the labs that need it; absent where the provider cannot run it. */
  karpenter?: KarpenterAddOn;
  /** The API server's audit log, for the labs that read it; absent where the platform cannot read it. */
  auditLog?: Pick<AuditLog, 'available'>;
  /** The API server's address for the learner's own computer (CDL_PUBLIC_API_SERVER), in the kubeconfig they download. */
  publicApiServer?: string;
}

const RESET_CONCURRENCY = 8;
/** How long a namespace seen to exist is trusted without asking again. */
const SEEN_MS = 5_000;
/** A learner's token lives an hour; terminals renew it well before that. */
export const LEARNER_TOKEN_SECONDS = 3600;

const buildKey = (sessionName: string, labId: string) => `${sessionName}/${labId}`;

/** Whether a lab's state is still the one a decision was made on. */
function sameState(a: LabProgress | undefined, b: LabProgress | undefined): boolean {
  return a?.sandbox === b?.sandbox && a?.operation?.until === b?.operation?.until && a?.startedAt === b?.startedAt;
}

function busyError(lab: LabDefinition, progress: LabProgress | undefined): LabBusy {
  return new LabBusy(lab.id, progress?.sandbox === 'resetting' ? 'reset' : 'set up');
}

export class LabService {
  private readonly deps: LabServiceDeps;
  private readonly core: CoreV1Api;
  private readonly holder: string;
  /** Sandbox builds running in this process, by session and lab: concurrent requests share one. */
  private readonly building = new Map<string, Promise<SandboxNamespaces>>();
  /** Namespaces seen to exist, and when (see `exists`). */
  private readonly seen = new Map<string, number>();
  /** Each session's latest token, and until when it is valid (see `learnerToken`). */
  private readonly tokens = new Map<string, { token: Promise<string>; until: number }>();
  /** Checks of one session: two at a time, forty waiting, then 429. */
  private readonly checks = new PerSessionLimit(2, 40);
  private readonly schemas: ClusterSchemas;
  constructor(deps: LabServiceDeps) {
    this.deps = deps;
    this.core = deps.kc.makeApiClient(CoreV1Api);
    this.holder = deps.holder ?? holderName();
    this.schemas = new ClusterSchemas(deps.kc);
  }

  list(): LabDefinition[] {
    return this.deps.catalog.list();
  }

  lab(labId: string): LabDefinition {
    const lab = this.deps.catalog.get(labId);
    if (!lab) throw new LabNotFound(labId);
    return lab;
  }

  /** Why a lab cannot run here, or undefined when it can. */
  unavailable(lab: LabDefinition): string | undefined {
    if (lab.needsContainers && !this.deps.capabilities.runsContainers) {
      return 'This lab needs real containers, and no node of this cluster runs them. On Linux as root, the local cluster runs a real node beside the simulated ones (`npm run cluster -- up --real-node` says why it cannot, if it cannot); with Docker, the kind provider runs containers too.';
    }
    if (lab.scope === 'cluster' && this.deps.mode === 'workshop') {
      return 'This lab needs a cluster of your own (it changes cluster-wide objects), and this workshop shares one cluster. Run it on your own machine in single-user mode.';
    }
    if (lab.needsKarpenter && !this.deps.karpenter) {
      return 'This lab needs Karpenter, which the platform runs beside its own local cluster only. On kind or EKS, install Karpenter with its Helm chart and use the local provider for this lab.';
    }
    if (lab.needsAuditLog && !this.deps.auditLog) {
      return "This lab reads the API server's audit log, which the platform reads on its own local cluster only. On EKS, turn on the cluster's audit log type and read it in CloudWatch Logs.";
    }
    if (lab.needsAuditLog && !this.deps.auditLog?.available) {
      return "This lab reads the API server's audit log, and this cluster was started before the platform turned the log on. Restart it (`npm run cluster -- down`, then `npm run cluster -- up`; its sandboxes are lost).";
    }
    if (lab.scope === 'cluster' && !this.deps.capabilities.ownedByPlatform) {
      return "This lab changes cluster-wide objects, and this cluster is not the platform's own.";
    }
    return undefined;
  }

  private assertAvailable(lab: LabDefinition): void {
    const reason = this.unavailable(lab);
    if (reason) throw new LabUnavailable(reason);
  }

  /**
   * Whether every namespace of a sandbox exists (and is not on its way out).
   * A namespace seen a moment ago is not asked for again: opening a terminal
   * right after starting the lab costs no second round of reads.
   */
  private async exists(namespaces: SandboxNamespaces): Promise<boolean> {
    const now = Date.now();
    const found = await Promise.all(
      realNamespaces(namespaces).map(async (name) => {
        if (now - (this.seen.get(name) ?? 0) < SEEN_MS) return true;
        const there = await this.core.readNamespace({ name }).then(
          (ns) => ns.status?.phase !== 'Terminating',
          (error: unknown) => {
            if (isStatus(error, 404)) return false;
            throw error;
          },
        );
        if (there) this.seen.set(name, now);
        return there;
      }),
    );
    // What another replica ended is never forgotten here explicitly: old sightings are dropped.
    if (this.seen.size > 1000) for (const [name, at] of this.seen) if (now - at >= SEEN_MS) this.seen.delete(name);
    return found.every(Boolean);
  }

  /** Forgets what was seen of a session's namespaces and its token (its sandboxes are going). */
  private forget(sessionName: string, namespaces?: SandboxNamespaces): void {
    for (const name of namespaces ? realNamespaces(namespaces) : [...this.seen.keys()].filter((n) => n.startsWith(`${sessionName}-`))) {
      this.seen.delete(name);
    }
    if (!namespaces) this.tokens.delete(sessionName);
  }

  /**
   * A learner's token for a kubeconfig. `reuse`: one issued (or being
   * issued) earlier is given again while it has more than half its life
   * left, so the terminal opened right after a lab's start waits for no
   * TokenRequest (the start asks for one ahead). Otherwise (a renewal, the
   * kubeconfig download) a fresh one.
   */
  private learnerToken(session: LabSession, reuse: boolean): Promise<string> {
    const name = session.metadata.name;
    const held = this.tokens.get(name);
    if (reuse && held && held.until - Date.now() > (LEARNER_TOKEN_SECONDS * 1000) / 2) return held.token;
    for (const [other, { until }] of this.tokens) if (until <= Date.now()) this.tokens.delete(other);
    const token = this.deps.sandboxes.issueToken(session, LEARNER_TOKEN_SECONDS).then(({ token }) => token);
    const entry = { token, until: Date.now() + LEARNER_TOKEN_SECONDS * 1000 };
    this.tokens.set(name, entry);
    // A request that failed is not given again.
    token.catch(() => {
      if (this.tokens.get(name) === entry) this.tokens.delete(name);
    });
    return token;
  }

  /** The ready sandbox of a started lab, its state re-read from the cluster. */
  private async readySandbox(session: LabSession, labId: string): Promise<SandboxNamespaces | undefined> {
    const progress = session.status?.labs?.[labId];
    if (progress?.sandbox !== 'ready' || !progress.namespaces) return undefined;
    return (await this.exists(progress.namespaces)) ? progress.namespaces : undefined;
  }

  /**
   * The namespaces of a started lab, once they really exist: a build running
   * here is waited for, an interrupted one (or a ready lab whose namespaces
   * are gone) is finished first. A lab never started, or removed while its
   * learner was away, is `LabNotStarted`, saying to start it.
   */
  private async sandboxOf(session: LabSession, lab: LabDefinition): Promise<SandboxNamespaces> {
    const running = this.building.get(buildKey(session.metadata.name, lab.id));
    if (running) return running;
    const ready = await this.readySandbox(session, lab.id);
    if (ready) return ready;
    // What the request saw may be out of date: decide on a fresh read.
    const fresh = await this.deps.store.require(session.metadata.name);
    const progress = fresh.status?.labs?.[lab.id];
    if (!progress?.namespaces || progress.sandbox === undefined || progress.sandbox === 'removed') throw new LabNotStarted(lab.id);
    const again = await this.readySandbox(fresh, lab.id);
    if (again) return again;
    this.assertAvailable(lab);
    return this.build(fresh.metadata.name, lab, progress.sandbox === 'resetting' ? 'resetting' : 'provisioning', progress);
  }

  /** Provisions the sandbox and applies the setup; starting a started lab only makes it current. */
  async start(session: LabSession, labId: string): Promise<{ session: LabSession; namespaces: SandboxNamespaces; created: boolean }> {
    const lab = this.lab(labId);
    this.assertAvailable(lab);
    if (lab.needsKarpenter && !(await this.deps.karpenter?.ready())) {
      throw new LabUnavailable(
        `Karpenter is being prepared for this lab (${this.deps.karpenter?.status()}); the first time it is built, which takes about 10 minutes. Start the lab again in a moment.`,
      );
    }
    const name = session.metadata.name;
    let namespaces = this.building.has(buildKey(name, lab.id)) ? undefined : await this.readySandbox(session, lab.id);
    let created = false;
    if (!namespaces) {
      const fresh = await this.deps.store.require(name);
      namespaces = this.building.has(buildKey(name, lab.id)) ? undefined : await this.readySandbox(fresh, lab.id);
      if (!namespaces) {
        namespaces = await this.build(name, lab, 'provisioning', fresh.status?.labs?.[lab.id]);
        created = true;
      }
    }
    // Written only when it changes: a terminal opened on the current lab costs no write.
    const updated =
      session.status?.currentLab === lab.id && !created
        ? session
        : await this.deps.store.patchStatus(name, (current) =>
            current.status?.currentLab === lab.id ? undefined : { currentLab: lab.id },
          );
    // The terminal that usually follows needs a token: asked for now, it is ready when the shell starts.
    if (lab.scope === 'namespace') this.learnerToken(updated, true).catch(() => undefined);
    return { session: updated, namespaces, created };
  }

  /** Back to the lab's start: fresh namespaces of the same names, setup applied again. Progress is kept. */
  async reset(session: LabSession, labId: string): Promise<SandboxNamespaces> {
    const lab = this.lab(labId);
    this.assertAvailable(lab);
    return this.build(session.metadata.name, lab, 'resetting');
  }

  /** One build per lab at a time in this process: a second request for it waits for the first. */
  private build(
    sessionName: string,
    lab: LabDefinition,
    intent: 'provisioning' | 'resetting',
    observed?: LabProgress,
  ): Promise<SandboxNamespaces> {
    const key = buildKey(sessionName, lab.id);
    const running = this.building.get(key);
    if (running) return running;
    const work = this.rebuild(sessionName, lab, intent, observed).finally(() => this.building.delete(key));
    this.building.set(key, work);
    return work;
  }

  /**
   * Claims the lab and records the intent, then deletes what is left of its
   * namespaces, provisions them afresh and applies the setup, then marks it
   * ready. Each step may be repeated: a build cut short is simply run again.
   * `observed` is the state a start decided on; if the lab became ready in
   * the meantime (another replica started it), that sandbox is kept.
   */
  private async rebuild(
    sessionName: string,
    lab: LabDefinition,
    intent: 'provisioning' | 'resetting',
    observed: LabProgress | undefined,
  ): Promise<SandboxNamespaces> {
    let settled: SandboxNamespaces | undefined;
    let left: SandboxNamespaces = [];
    const claimed = await this.deps.store.patchStatus(sessionName, (current) => {
      const progress = current.status?.labs?.[lab.id];
      settled = undefined;
      if (intent === 'provisioning' && progress?.sandbox === 'ready' && progress.namespaces && !sameState(progress, observed)) {
        settled = progress.namespaces;
        return undefined;
      }
      if (!claimable(progress, this.holder, Date.now(), false)) throw busyError(lab, progress);
      left = progress?.namespaces ?? [];
      const fresh = progress?.sandbox === undefined || progress.sandbox === 'removed';
      return {
        labs: {
          [lab.id]: {
            sandbox: intent,
            namespaces: sandboxNamespaces(current, lab.id, lab.namespaces),
            operation: { holder: this.holder, until: new Date(Date.now() + CLAIM_MS).toISOString() },
            ...(fresh ? { startedAt: new Date().toISOString() } : {}),
          },
        },
      };
    });
    if (settled) return settled;
    const namespaces = claimed.status?.labs?.[lab.id]?.namespaces ?? sandboxNamespaces(claimed, lab.id, lab.namespaces);
    const renew = setInterval(() => void this.renewClaim(sessionName, lab.id).catch(() => undefined), CLAIM_MS / 3);
    renew.unref();
    const timer = this.deps.metrics.sandboxSeconds.startTimer();
    try {
      // What an older build left under other names goes too.
      const everything = [...left.filter((old) => !namespaces.some((ns) => ns.namespace === old.namespace)), ...namespaces];
      this.forget(sessionName, everything);
      await this.teardown(lab, everything);
      await this.deps.sandboxes.remove(everything);
      await this.deps.sandboxes.provision(claimed, lab.id, lab.namespaces, { containers: lab.needsContainers });
      await this.deps.catalog.setup(this.deps.kc, lab, namespaces);
      await this.deps.store.patchStatus(sessionName, (current) => {
        const progress = current.status?.labs?.[lab.id];
        // Our claim ran out and another server took the lab over: its build is the one that counts.
        if (progress?.operation?.holder !== this.holder) throw busyError(lab, progress);
        return { labs: { [lab.id]: { sandbox: 'ready', namespaces } } };
      });
      return namespaces;
    } finally {
      timer();
      clearInterval(renew);
    }
  }

  /** Keeps this server's claim on a lab alive while its build runs. */
  private async renewClaim(sessionName: string, labId: string): Promise<void> {
    await this.deps.store.patchStatus(sessionName, (current) => {
      const progress = current.status?.labs?.[labId];
      if (!busy(progress) || progress?.operation?.holder !== this.holder) return undefined;
      return { labs: { [labId]: { operation: { holder: this.holder, until: new Date(Date.now() + CLAIM_MS).toISOString() } } } };
    });
  }

  /**
   * Finishes every build left half done by a server that died (or whose
   * claim ran out), in the given sessions or all live ones. Returns the
   * labs repaired and those that could not be (busy elsewhere, or failing).
   */
  async repairInterrupted(sessions?: LabSession[]): Promise<{ repaired: string[]; failed: Array<{ lab: string; error: unknown }> }> {
    const result = { repaired: [] as string[], failed: [] as Array<{ lab: string; error: unknown }> };
    for (const session of sessions ?? (await this.deps.store.list())) {
      if (this.deps.store.expired(session)) continue;
      for (const [labId, progress] of Object.entries(session.status?.labs ?? {})) {
        const lab = this.deps.catalog.get(labId);
        const key = buildKey(session.metadata.name, labId);
        if (!lab || !busy(progress) || this.building.has(key) || this.unavailable(lab)) continue;
        if (!claimable(progress, this.holder, Date.now(), false)) continue;
        try {
          await this.build(session.metadata.name, lab, progress.sandbox === 'resetting' ? 'resetting' : 'provisioning', progress);
          result.repaired.push(key);
        } catch (error) {
          result.failed.push({ lab: key, error });
        }
      }
    }
    return result;
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
    this.deps.onSessionEnd?.(sessionName);
    this.forget(sessionName);
    const session = await this.deps.store.get(sessionName);
    for (const [labId, progress] of Object.entries(session?.status?.labs ?? {})) {
      const lab = this.deps.catalog.get(labId);
      if (lab && progress.namespaces && progress.sandbox !== undefined && progress.sandbox !== 'removed') {
        await this.teardown(lab, progress.namespaces);
      }
    }
    await this.deps.sandboxes.removeSession(sessionName);
  }

  /**
   * Removes a session's shells and sandboxes and marks its labs removed,
   * keeping every step's progress (an idle learner, an expired session).
   * Starting a lab again provisions a fresh sandbox.
   */
  async releaseSandboxes(sessionName: string): Promise<void> {
    await this.removeSandboxes(sessionName);
    await this.deps.store.patchStatus(sessionName, (current) => {
      const held = Object.entries(current.status?.labs ?? {}).filter(([, p]) => p.sandbox !== undefined && p.sandbox !== 'removed');
      if (held.length === 0) return undefined;
      return { labs: Object.fromEntries(held.map(([id]) => [id, { sandbox: 'removed' as const }])) };
    });
  }

  /** What a cluster-scope lab made outside its namespaces goes first. */
  private async teardown(lab: LabDefinition, namespaces: SandboxNamespaces): Promise<void> {
    if (lab.scope === 'cluster') await this.deps.catalog.teardown?.(this.deps.kc, lab, namespaces);
  }

  /** Resets a lab for every live session that has started it; returns how many were reset. */
  async resetEveryone(labId: string): Promise<number> {
    const lab = this.lab(labId);
    const sessions = (await this.deps.store.list()).filter((s) => {
      const sandbox = s.status?.labs?.[lab.id]?.sandbox;
      return sandbox !== undefined && sandbox !== 'removed' && !this.deps.store.expired(s);
    });
    let reset = 0;
    // A few at a time: each reset deletes and recreates namespaces.
    for (let i = 0; i < sessions.length; i += RESET_CONCURRENCY) {
      const outcomes = await Promise.allSettled(sessions.slice(i, i + RESET_CONCURRENCY).map((s) => this.reset(s, lab.id)));
      for (const outcome of outcomes) {
        if (outcome.status === 'fulfilled') reset += 1;
        // Another server is resetting that one right now: it ends up reset all the same.
        else if (!(outcome.reason instanceof LabBusy || outcome.reason instanceof SessionConflict)) throw outcome.reason;
      }
    }
    return reset;
  }

  /**
   * A kubeconfig for a started lab. A namespace-scope lab gets the learner's
   * own short-lived token, whatever the mode; a cluster-scope lab (only ever
   * available on a cluster of the learner's own) gets the cluster's admin.
   */
  async kubeconfig(session: LabSession, labId: string): Promise<string> {
    return this.kubeconfigFor(session, labId, await this.sandboxOf(session, this.lab(labId)), false, this.deps.publicApiServer);
  }

  /**
   * The kubeconfig of a sandbox whose namespaces the caller has just seen to
   * be ready; `reuse` takes the token the lab's start asked for ahead;
   * `server` replaces the API server's address (the learner's own computer's).
   */
  async kubeconfigFor(session: LabSession, labId: string, namespaces: SandboxNamespaces, reuse: boolean, server?: string): Promise<string> {
    const lab = this.lab(labId);
    const namespace = defaultNamespace(namespaces) ?? 'default';
    if (lab.scope === 'cluster') {
      this.assertAvailable(lab);
      return withDefaultNamespace(this.deps.kc, namespace);
    }
    return this.deps.sandboxes.learnerKubeconfig(await this.learnerToken(session, reuse), namespace, server);
  }

  async solve(session: LabSession, labId: string): Promise<void> {
    const lab = this.lab(labId);
    await this.deps.catalog.solve(this.deps.kc, lab, await this.sandboxOf(session, lab));
    // The records say that the solution was used, and from when (the first time).
    await this.deps.store.patchStatus(session.metadata.name, (current) =>
      current.status?.labs?.[lab.id]?.solvedAt ? undefined : { labs: { [lab.id]: { solvedAt: new Date().toISOString() } } },
    );
  }

  /** Dry-runs the learner's YAML in their own identity (validate.ts). */
  /** A kind's JSON Schema from the cluster's OpenAPI (the editor's completion and linting). */
  schema(apiVersion: string, kind: string): Promise<{ schema: JsonSchema; text: string; cached: boolean } | undefined> {
    return this.schemas.forKind(apiVersion, kind);
  }

  async validate(session: LabSession, labId: string, yaml: string): Promise<ValidationResult[]> {
    const lab = this.lab(labId);
    const namespaces = await this.sandboxOf(session, lab);
    const learner = kubeConfigFromString(await this.kubeconfigFor(session, labId, namespaces, true));
    return validateManifests(yaml, { admin: this.deps.kc, learner, namespace: defaultNamespace(namespaces) ?? 'default' });
  }

  /** Records that `shown` of a step's hints are open in a started lab; the most ever open is kept. Returns it (0 before the start). */
  async recordHints(session: LabSession, labId: string, stepId: string, shown: number): Promise<number> {
    const lab = this.lab(labId);
    if (!lab.steps.some((s) => s.id === stepId)) throw new LabNotFound(lab.id, stepId);
    let most = 0;
    await this.deps.store.patchStatus(session.metadata.name, (current) => {
      // Hints read before the lab starts are not a record of anything yet.
      if (!current.status?.labs?.[lab.id]?.startedAt) {
        most = 0;
        return undefined;
      }
      const before = current.status?.labs?.[lab.id]?.steps?.[stepId]?.hintsShown ?? 0;
      most = Math.max(before, shown);
      return most === before ? undefined : { labs: { [lab.id]: { steps: { [stepId]: { hintsShown: most } } } } };
    });
    return most;
  }

  async check(session: LabSession, labId: string, stepId: string): Promise<CheckResult> {
    const lab = this.lab(labId);
    if (!lab.steps.some((s) => s.id === stepId)) throw new LabNotFound(lab.id, stepId);
    const namespaces = await this.sandboxOf(session, lab);
    const timer = this.deps.metrics.checkSeconds.startTimer();
    let result: CheckResult;
    try {
      result = await this.checks.run(session.metadata.name, () =>
        // Aborted at its deadline: a check that runs late stops calling the API server.
        this.deps.catalog.check(this.deps.kc, lab, stepId, namespaces, AbortSignal.timeout(this.deps.checkTimeoutMs ?? 15_000)),
      );
    } finally {
      timer();
    }
    this.deps.metrics.checksRun.inc({ lab: lab.id, outcome: result.passed ? 'pass' : 'fail' });
    const now = new Date().toISOString();
    const firstFailure = result.criteria.find((c) => !c.passed);
    // Recomputed from the stored step on every attempt of the write, so concurrent checks all count.
    await this.deps.store.patchStatus(session.metadata.name, (current) => {
      const before = current.status?.labs?.[lab.id]?.steps?.[stepId];
      // A pass is for good: a later failing check does not take it back.
      const passedAt = before?.passedAt ?? (result.passed ? now : undefined);
      const step = {
        lastCheckedAt: now,
        lastPassed: result.passed,
        attempts: (before?.attempts ?? 0) + 1,
        lastMessage: firstFailure?.message ?? 'passed',
        ...(passedAt ? { passedAt } : {}),
      };
      return { labs: { [lab.id]: { steps: { [stepId]: step } } }, lastActivityAt: now };
    });
    if (result.passed) this.deps.onStepPassed?.(session.metadata.name);
    return result;
  }
}
