/**
 * Each learner's share of the API server's audit log. The API server writes
 * one log for the whole cluster (JSON lines, one event per request; the
 * local provider turns it on, cluster/src/local/provider.ts); a learner may
 * read only the events about their own namespaces, as an EKS user reads
 * their cluster's audit log in CloudWatch Logs.
 *
 * One reader per server follows the log (it polls its size: the API server
 * appends, and rotates it by renaming it away). Each terminal of a lab that
 * reads the audit log follows its namespaces into a file of its workspace
 * (a folder of the server's, read-only in the sandbox): first what the log
 * already holds about them (the setup's activity happened before the
 * terminal opened), then every new event. An event is another learner's
 * only when it names another namespace; a request of anyone into this
 * learner's namespaces (refused or not) is theirs to see, as it is on EKS.
 *
 * Every line written is an event parsed and written again by the server,
 * so a line of the file is always one whole JSON object, and a control
 * character a request put into its user agent or URL reaches the learner's
 * terminal escaped (`\u001b`), never raw.
 */

import { existsSync } from 'node:fs';
import { appendFile, open, stat, truncate } from 'node:fs/promises';
import type { Logger } from 'pino';

/** The part of an audit event the router reads. */
interface AuditEvent {
  objectRef?: { namespace?: string; resource?: string; name?: string };
}

export interface AuditLogOptions {
  /** How often the log is looked at while anyone follows it. Default 250 ms. */
  pollMs?: number;
  /** A learner's file is emptied and starts again when it would grow past this. Default 8 MiB. */
  maxFileBytes?: number;
  /**
   * How far back a new terminal is given what the log already holds. Default
   * 16 MiB: a lab's story is told at its setup, moments before, and a learner
   * who opens terminals again and again cannot make the server read the whole
   * log (100 MB) each time.
   */
  backfillBytes?: number;
}

interface Follower {
  namespaces: ReadonlySet<string>;
  file: string;
  /** Written lines not yet appended. */
  pending: string[];
  /** Bytes in the file. */
  bytes: number;
  /** Still to be given what the log already holds. */
  backfill: boolean;
  stopped: boolean;
}

const CHUNK = 1 << 20;

/** The namespace an event is about: its object's, or the namespace itself. */
export function eventNamespace(event: AuditEvent): string | undefined {
  const ref = event.objectRef;
  if (!ref) return undefined;
  if (ref.namespace) return ref.namespace;
  return ref.resource === 'namespaces' ? ref.name : undefined;
}

/**
 * The namespace a line of the log names, read without parsing it: the log
 * is large and most lines are about other learners' namespaces. The API
 * server writes an object reference as one flat object, the namespace
 * (or, for a namespace itself, its name) before anything nested.
 */
export function namespaceOf(line: string): string | undefined {
  const ref = /"objectRef":\{([^{}]*)\}/.exec(line)?.[1];
  if (ref === undefined) return undefined;
  const namespace = /"namespace":"([^"\\]+)"/.exec(ref)?.[1];
  if (namespace) return namespace;
  return /"resource":"namespaces"/.test(ref) ? /"name":"([^"\\]+)"/.exec(ref)?.[1] : undefined;
}

/** The event as a line for a learner, or undefined for a line that is not one whole event. */
export function routedLine(line: string): { namespace: string; text: string } | undefined {
  if (!line.includes('"objectRef"')) return undefined;
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof event !== 'object' || event === null) return undefined;
  const namespace = eventNamespace(event as AuditEvent);
  return namespace ? { namespace, text: `${JSON.stringify(event)}\n` } : undefined;
}

export class AuditLog {
  readonly path: string;
  private readonly followers = new Set<Follower>();
  private readonly pollMs: number;
  private readonly maxFileBytes: number;
  private readonly backfillBytes: number;
  private readonly logger: Logger | undefined;
  /** Where the reader is: the file's identity, how far it has read, and a line cut off at the end. */
  private inode = -1;
  private offset = 0;
  private partial = '';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(path: string, logger?: Logger, options: AuditLogOptions = {}) {
    this.path = path;
    this.logger = logger;
    this.pollMs = options.pollMs ?? 250;
    this.maxFileBytes = options.maxFileBytes ?? 8 * 1024 * 1024;
    this.backfillBytes = options.backfillBytes ?? 16 * 1024 * 1024;
  }

  /** Whether the API server writes the log (a cluster started before it was turned on does not). */
  get available(): boolean {
    return existsSync(this.path);
  }

  /**
   * Writes the events about `namespaces` into `file` (which must exist),
   * those already logged first, until the returned function is called.
   * Resolves once the file holds what the log held when it was called.
   */
  async follow(namespaces: readonly string[], file: string): Promise<() => void> {
    const follower: Follower = { namespaces: new Set(namespaces), file, pending: [], bytes: 0, backfill: true, stopped: false };
    this.followers.add(follower);
    this.schedule(0);
    await this.tick();
    return () => {
      follower.stopped = true;
      this.followers.delete(follower);
      if (this.followers.size === 0) clearTimeout(this.timer);
    };
  }

  close(): void {
    for (const follower of this.followers) follower.stopped = true;
    this.followers.clear();
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.followers.size === 0) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  /** One pass at a time: a second caller waits for the pass under way, then runs its own. */
  private async tick(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.pass()
      .catch((error: unknown) => this.logger?.warn({ err: error, file: this.path }, 'could not read the audit log'))
      .finally(() => {
        this.running = undefined;
        this.schedule(this.pollMs);
      });
    await this.running;
  }

  private async pass(): Promise<void> {
    const info = await stat(this.path).catch(() => undefined);
    if (!info) return;
    if (info.ino !== this.inode || info.size < this.offset) {
      // A new file (rotated, or the cluster started again): read it from its start.
      this.inode = info.ino;
      this.offset = 0;
      this.partial = '';
    }
    const newcomers = [...this.followers].filter((f) => f.backfill);
    const end = info.size;
    if (newcomers.length > 0) {
      // What the log held before the reader got to it, for the new followers only.
      for (const f of newcomers) f.backfill = false;
      // A read that starts inside a line drops that line: it does not parse.
      await this.read(Math.max(0, this.offset - this.backfillBytes), this.offset, newcomers);
    }
    if (end > this.offset) {
      const live = [...this.followers];
      this.partial = await this.read(this.offset, end, live, this.partial);
      this.offset = end;
    }
    await Promise.all([...this.followers].map((f) => this.flush(f)));
  }

  /**
   * Reads the log from `from` to `to` and hands each whole line to the
   * followers it is about; returns what is left of a last line cut off.
   */
  private async read(from: number, to: number, followers: readonly Follower[], carried = ''): Promise<string> {
    if (to <= from || followers.length === 0) return carried;
    const handle = await open(this.path, 'r');
    let rest = carried;
    try {
      const buffer = Buffer.alloc(CHUNK);
      for (let at = from; at < to; ) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, to - at), at);
        if (bytesRead === 0) break;
        at += bytesRead;
        const lines = (rest + buffer.toString('utf8', 0, bytesRead)).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) this.route(line, followers);
      }
    } finally {
      await handle.close();
    }
    return rest;
  }

  private route(line: string, followers: readonly Follower[]): void {
    // Parsed only when a follower wants it: the quick read decides, the parse confirms.
    const named = namespaceOf(line);
    if (named === undefined || !followers.some((f) => f.namespaces.has(named))) return;
    const routed = routedLine(line);
    if (!routed) return;
    for (const f of followers) if (!f.stopped && f.namespaces.has(routed.namespace)) f.pending.push(routed.text);
  }

  private async flush(follower: Follower): Promise<void> {
    if (follower.pending.length === 0 || follower.stopped) return;
    let lines = follower.pending;
    follower.pending = [];
    let bytes = lines.reduce((sum, line) => sum + Buffer.byteLength(line), 0);
    try {
      if (follower.bytes + bytes > this.maxFileBytes) {
        // A learner's share is bounded: the oldest events go, and the file starts again with the newest that fit.
        await truncate(follower.file, 0);
        follower.bytes = 0;
        let drop = 0;
        while (bytes > this.maxFileBytes && drop < lines.length) bytes -= Buffer.byteLength(lines[drop++] ?? '');
        lines = lines.slice(drop);
      }
      const text = lines.join('');
      // The file is the server's, in a folder only the server writes: no link can lead elsewhere.
      await appendFile(follower.file, text);
      follower.bytes += bytes;
    } catch (error) {
      // The terminal ended and its folder went: it stops following.
      follower.stopped = true;
      this.followers.delete(follower);
      this.logger?.debug({ err: error, file: follower.file }, 'stopped following the audit log into a terminal');
    }
  }
}
