/**
 * Sessions, kept as `LabSession` objects in the cluster (see crd.ts).
 *
 * A learner holds a random token in a cookie; the cluster holds only its
 * SHA-256. The object's name is derived from that hash, so finding a session
 * is one GET, and knowing a name (every operator can list them) gives no way
 * back to the token. Status updates are merge patches carrying the
 * resourceVersion they were computed from, retried on conflict, so replicas
 * sharing a cluster never overwrite each other's progress.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { z } from 'zod';
import { API_VERSION, GROUP, KIND, LABELS, MANAGER, PLURAL, VERSION } from './crd.ts';

const StepProgressSchema = z.object({
  passedAt: z.string().optional(),
  lastCheckedAt: z.string().optional(),
  lastPassed: z.boolean().optional(),
  attempts: z.number().int().optional(),
  lastMessage: z.string().optional(),
});
const LabProgressSchema = z.object({
  startedAt: z.string().optional(),
  sandbox: z.enum(['ready', 'removed']).optional(),
  namespaces: z.record(z.string(), z.string()).optional(),
  steps: z.record(z.string(), StepProgressSchema).optional(),
});
export const LabSessionSchema = z.object({
  metadata: z.object({ name: z.string(), uid: z.string(), resourceVersion: z.string(), creationTimestamp: z.string() }),
  spec: z.object({ learner: z.string(), tokenHash: z.string(), expiresAt: z.string() }),
  status: z
    .object({
      lastActivityAt: z.string().optional(),
      currentLab: z.string().optional(),
      stepsPassed: z.number().int().optional(),
      labs: z.record(z.string(), LabProgressSchema).optional(),
    })
    .optional(),
});
export type LabSession = z.infer<typeof LabSessionSchema>;
export type LabProgress = z.infer<typeof LabProgressSchema>;
export type StatusPatch = NonNullable<LabSession['status']>;

export interface SessionStoreOptions {
  /** How long a new session lives. */
  ttlMs: number;
  /** Don't write lastActivityAt more often than this. */
  touchIntervalMs?: number;
  now?: () => Date;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A session's name from its token's hash; also the session id in the API. */
export function sessionName(tokenHash: string): string {
  return `s-${tokenHash.slice(0, 12)}`;
}

const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;

export class SessionStore {
  private readonly api: CustomObjectsApi;
  private readonly lastTouch = new Map<string, number>();
  private readonly now: () => Date;
  private readonly options: SessionStoreOptions;

  constructor(kc: KubeConfig, options: SessionStoreOptions) {
    this.options = options;
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.now = options.now ?? (() => new Date());
  }

  private ref(name: string) {
    return { group: GROUP, version: VERSION, plural: PLURAL, name };
  }

  async create(learner: string): Promise<{ token: string; session: LabSession }> {
    const token = randomBytes(32).toString('base64url');
    const tokenHash = hashToken(token);
    const now = this.now();
    const body = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: sessionName(tokenHash), labels: { [LABELS.managedBy]: MANAGER } },
      spec: { learner, tokenHash, expiresAt: new Date(now.getTime() + this.options.ttlMs).toISOString() },
    };
    await this.api.createClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, body });
    const session = await this.patchStatus(body.metadata.name, () => ({ lastActivityAt: now.toISOString(), stepsPassed: 0 }));
    return { token, session };
  }

  /** The live session a token belongs to, or undefined (unknown, forged or expired). */
  async byToken(token: string | undefined): Promise<LabSession | undefined> {
    if (!token || !TOKEN_FORMAT.test(token)) return undefined;
    const tokenHash = hashToken(token);
    const session = await this.get(sessionName(tokenHash));
    if (!session) return undefined;
    const a = Buffer.from(session.spec.tokenHash, 'hex');
    const b = Buffer.from(tokenHash, 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
    return this.expired(session) ? undefined : session;
  }

  expired(session: LabSession): boolean {
    return Date.parse(session.spec.expiresAt) <= this.now().getTime();
  }

  async get(name: string): Promise<LabSession | undefined> {
    try {
      return LabSessionSchema.parse(await this.api.getClusterCustomObject(this.ref(name)));
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  }

  async list(): Promise<LabSession[]> {
    const list = (await this.api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as { items: unknown[] };
    return list.items.map((item) => LabSessionSchema.parse(item));
  }

  /** Pushes the expiry to now + `byMs` (never earlier than it was). */
  async extend(name: string, byMs: number): Promise<LabSession> {
    const session = await this.require(name);
    const next = Math.max(Date.parse(session.spec.expiresAt), this.now().getTime() + byMs);
    const body = { metadata: { resourceVersion: session.metadata.resourceVersion }, spec: { expiresAt: new Date(next).toISOString() } };
    return LabSessionSchema.parse(
      await this.api.patchClusterCustomObject({ ...this.ref(name), body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    );
  }

  /** Deletes the session; the garbage collector removes its sandboxes and identity. */
  async end(name: string): Promise<boolean> {
    this.lastTouch.delete(name);
    try {
      await this.api.deleteClusterCustomObject({ ...this.ref(name), propagationPolicy: 'Background' });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return false;
      throw error;
    }
  }

  /** Records activity, at most once per touch interval per session. */
  async touch(name: string): Promise<void> {
    const now = this.now().getTime();
    if (now - (this.lastTouch.get(name) ?? 0) < (this.options.touchIntervalMs ?? 30_000)) return;
    this.lastTouch.set(name, now);
    await this.patchStatus(name, () => ({ lastActivityAt: new Date(now).toISOString() }));
  }

  /**
   * Read-modify-write of the status: `change` gets the current session and
   * returns the fields to merge. Retried when another writer got there first.
   */
  async patchStatus(name: string, change: (session: LabSession) => StatusPatch): Promise<LabSession> {
    for (let attempt = 0; ; attempt += 1) {
      const session = await this.require(name);
      const body = { metadata: { resourceVersion: session.metadata.resourceVersion }, status: change(session) };
      try {
        return LabSessionSchema.parse(
          await this.api.patchClusterCustomObjectStatus(
            { ...this.ref(name), body },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          ),
        );
      } catch (error) {
        if ((error as { code?: number }).code !== 409 || attempt >= 5) throw error;
      }
    }
  }

  async require(name: string): Promise<LabSession> {
    const session = await this.get(name);
    if (!session) throw new SessionNotFoundError(name);
    return session;
  }
}

export class SessionNotFoundError extends Error {
  override readonly name = 'SessionNotFoundError';
  readonly sessionName: string;
  constructor(sessionName: string) {
    super(`no session ${sessionName}`);
    this.sessionName = sessionName;
  }
}

/** The number of steps passed across every lab, for `kubectl get labsessions`. */
export function countPassed(labs: Record<string, LabProgress> | undefined): number {
  return Object.values(labs ?? {}).reduce(
    (sum, lab) => sum + Object.values(lab.steps ?? {}).filter((s) => s.passedAt !== undefined).length,
    0,
  );
}
