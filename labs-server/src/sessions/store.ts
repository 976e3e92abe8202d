/**
 * Sessions, kept as `LabSession` objects in the cluster (see crd.ts).
 *
 * A learner holds a random token in a cookie; the cluster holds only its
 * SHA-256. The object's name is derived from that hash, so finding a session
 * is one GET, and knowing a name (every operator can list them) gives no way
 * back to the token. Updates are merge patches carrying the resourceVersion
 * they were computed from, so replicas sharing a cluster never overwrite
 * each other's progress. Within one server, writes to a session run one after
 * another (a queue per session), so a burst of checks never conflicts with
 * itself; a conflict with another replica is recomputed from a fresh read,
 * and one that still cannot be resolved is a 409, never a lost update.
 *
 * A session lives `ttlMs` after its last activity, and activity never keeps
 * it past `maxMs` from its creation (the instructor can still extend it).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { isStatus } from '../../../cluster/src/kube.ts';
import {
  API_VERSION,
  countPassed,
  GROUP,
  KIND,
  LABELS,
  type LabSession,
  LabSessionSchema,
  MANAGER,
  PLURAL,
  type StatusPatch,
  VERSION,
} from '../../../contract/session.ts';
import { SessionConflict, SessionNotFound } from '../labs/errors.ts';

export interface SessionStoreOptions {
  /** How long a session lives after its last activity. */
  ttlMs: number;
  /** Activity never keeps a session longer than this from its creation. Default 12 hours. */
  maxMs?: number;
  /** Don't record activity more often than this. Default 30 s, or a tenth of the TTL when that is shorter. */
  touchIntervalMs?: number;
  now?: () => Date;
}

/** The default hard maximum of a session: a long workshop day. */
export const DEFAULT_SESSION_MAX_MS = 12 * 3_600_000;
/**
 * How long a session this server has just read or written stands for its
 * token: a page's burst of requests and a terminal's connect need one GET,
 * not one each. A session ended by this server is forgotten at once; one
 * ended by another replica is refused here at most this much later.
 */
const RECENT_MS = 2000;
/** How many times a write that met another writer's change is recomputed before it is refused. */
const WRITE_ATTEMPTS = 12;

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
  /** The tail of each session's write queue in this process. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Sessions as last read or written by this server, by name, with when. */
  private readonly recent = new Map<string, { session: LabSession; at: number }>();
  /** Counts the sessions ended here, so that a read under way when one ends does not bring it back. */
  private ended = 0;
  private readonly now: () => Date;
  private readonly ttlMs: number;
  private readonly maxMs: number;
  private readonly touchIntervalMs: number;

  constructor(kc: KubeConfig, options: SessionStoreOptions) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.now = options.now ?? (() => new Date());
    this.ttlMs = options.ttlMs;
    this.maxMs = options.maxMs ?? Math.max(DEFAULT_SESSION_MAX_MS, options.ttlMs);
    this.touchIntervalMs = options.touchIntervalMs ?? Math.min(30_000, options.ttlMs / 10);
  }

  private ref(name: string) {
    return { group: GROUP, version: VERSION, plural: PLURAL, name };
  }

  /** `labels` are added to the object's own (e.g. a hash of the client's address, to count its sessions). */
  async create(learner: string, labels: Record<string, string> = {}): Promise<{ token: string; session: LabSession }> {
    const token = randomBytes(32).toString('base64url');
    const tokenHash = hashToken(token);
    const now = this.now();
    const body = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: sessionName(tokenHash), labels: { ...labels, [LABELS.managedBy]: MANAGER } },
      spec: { learner, tokenHash, expiresAt: new Date(now.getTime() + Math.min(this.ttlMs, this.maxMs)).toISOString() },
    };
    await this.api.createClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, body });
    const session = await this.patchStatus(body.metadata.name, () => ({ lastActivityAt: now.toISOString(), stepsPassed: 0 }));
    return { token, session };
  }

  /** The live session a token belongs to, or undefined (unknown, forged or expired). */
  async byToken(token: string | undefined): Promise<LabSession | undefined> {
    if (!token || !TOKEN_FORMAT.test(token)) return undefined;
    const tokenHash = hashToken(token);
    const name = sessionName(tokenHash);
    const recent = this.recent.get(name);
    const session = recent && performance.now() - recent.at < RECENT_MS ? recent.session : await this.get(name);
    if (!session) return undefined;
    const a = Buffer.from(session.spec.tokenHash, 'hex');
    const b = Buffer.from(tokenHash, 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
    return this.expired(session) ? undefined : session;
  }

  expired(session: LabSession): boolean {
    return Date.parse(session.spec.expiresAt) <= this.now().getTime();
  }

  /** The latest expiry activity can give a session: its creation plus the hard maximum. */
  hardLimit(session: LabSession): number {
    return Date.parse(session.metadata.creationTimestamp) + this.maxMs;
  }

  async get(name: string): Promise<LabSession | undefined> {
    const ended = this.ended;
    try {
      const session = LabSessionSchema.parse(await this.api.getClusterCustomObject(this.ref(name)));
      if (ended === this.ended) this.remember(session);
      return session;
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  private remember(session: LabSession): void {
    const now = performance.now();
    if (this.recent.size >= 1000) {
      for (const [name, entry] of this.recent) if (now - entry.at >= RECENT_MS) this.recent.delete(name);
    }
    this.recent.set(session.metadata.name, { session, at: now });
  }

  /** Every session, or those matching a label selector. */
  async list(labelSelector?: string): Promise<LabSession[]> {
    const list = (await this.api.listClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      ...(labelSelector ? { labelSelector } : {}),
    })) as { items: unknown[] };
    return list.items.map((item) => LabSessionSchema.parse(item));
  }

  /** Pushes the expiry to now + `byMs` (never earlier than it was); the instructor's decision, so past the hard maximum too. */
  async extend(name: string, byMs: number): Promise<LabSession> {
    return this.serial(name, () =>
      this.write(name, 'spec', (session) => {
        const next = Math.max(Date.parse(session.spec.expiresAt), this.now().getTime() + byMs);
        return { expiresAt: new Date(next).toISOString() };
      }),
    );
  }

  /** Deletes the session; the garbage collector removes its sandboxes and identity. */
  async end(name: string): Promise<boolean> {
    this.lastTouch.delete(name);
    this.ended += 1;
    this.recent.delete(name);
    try {
      await this.api.deleteClusterCustomObject({ ...this.ref(name), propagationPolicy: 'Background' });
      return true;
    } catch (error) {
      if (isStatus(error, 404)) return false;
      throw error;
    }
  }

  /**
   * Records activity, at most once per touch interval per session: the time,
   * and an expiry pushed to now + TTL (up to the hard maximum). An expired
   * session stays expired: activity does not bring it back.
   */
  async touch(name: string): Promise<void> {
    const now = this.now().getTime();
    if (now - (this.lastTouch.get(name) ?? 0) < this.touchIntervalMs) return;
    this.lastTouch.set(name, now);
    await this.serial(name, async () => {
      const current = await this.require(name);
      if (this.expired(current)) return;
      // One read: each write starts from what the one before it returned.
      const touched = await this.write(name, 'status', () => ({ lastActivityAt: new Date(now).toISOString() }), current);
      // Written only when it moves by a quarter of the TTL (at most 5 minutes), not on every touch.
      const step = Math.min(5 * 60_000, this.ttlMs / 4);
      await this.write(
        name,
        'spec',
        (session) => {
          const target = Math.min(now + this.ttlMs, this.hardLimit(session));
          if (this.expired(session) || target - Date.parse(session.spec.expiresAt) < step) return undefined;
          return { expiresAt: new Date(target).toISOString() };
        },
        touched,
      );
    });
  }

  /**
   * Read-modify-write of the status: `change` gets the current session and
   * returns the fields to merge (or undefined to write nothing). `stepsPassed`
   * is always recounted from the status the patch produces.
   */
  async patchStatus(name: string, change: (session: LabSession) => StatusPatch | undefined): Promise<LabSession> {
    return this.serial(name, () => this.write(name, 'status', change));
  }

  async require(name: string): Promise<LabSession> {
    const session = await this.get(name);
    if (!session) throw new SessionNotFound(name);
    return session;
  }

  /** Runs `work` after every earlier write to this session made by this process. */
  private serial<T>(name: string, work: () => Promise<T>): Promise<T> {
    const result = (this.queues.get(name) ?? Promise.resolve()).then(work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(name, tail);
    void tail.then(() => {
      if (this.queues.get(name) === tail) this.queues.delete(name);
    });
    return result;
  }

  /**
   * One merge patch of `spec` or `status`, recomputed from a fresh read when
   * another writer got there first. `known` is a copy just read or written,
   * to start from without reading again (its resourceVersion makes a stale
   * one a conflict, and then the session is read afresh).
   */
  private async write(
    name: string,
    part: 'spec' | 'status',
    change: (session: LabSession) => Record<string, unknown> | undefined,
    known?: LabSession,
  ): Promise<LabSession> {
    const ended = this.ended;
    for (let attempt = 1; ; attempt += 1) {
      const session = attempt === 1 && known ? known : await this.require(name);
      const patch = change(session);
      if (patch === undefined) return session;
      const body = {
        metadata: { resourceVersion: session.metadata.resourceVersion },
        [part]: part === 'status' ? withCount(session.status, patch) : patch,
      };
      const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
      try {
        const written =
          part === 'status'
            ? await this.api.patchClusterCustomObjectStatus({ ...this.ref(name), body }, options)
            : await this.api.patchClusterCustomObject({ ...this.ref(name), body }, options);
        const session = LabSessionSchema.parse(written);
        if (ended === this.ended) this.remember(session);
        return session;
      } catch (error) {
        if (!isStatus(error, 409)) throw error;
        if (attempt >= WRITE_ATTEMPTS) throw new SessionConflict(name, { cause: error });
        // Another replica wrote meanwhile: back off a little, at random, so the two do not collide again.
        await sleep(Math.random() * 25 * attempt);
      }
    }
  }
}

/** The patch with `stepsPassed` recounted from the status it will produce. */
function withCount(status: LabSession['status'], patch: Record<string, unknown>): Record<string, unknown> {
  if (!('labs' in patch)) return patch;
  const merged = mergePatch(status ?? {}, patch) as StatusPatch;
  return { ...patch, stepsPassed: countPassed(merged.labs) };
}

/** RFC 7386 JSON merge patch, as the API server applies it: objects merge, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else if (value !== undefined) result[key] = mergePatch(result[key], value);
  }
  return result;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
