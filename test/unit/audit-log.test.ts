/**
 * Each learner's share of the audit log (labs-server/src/audit-log.ts), on
 * real files: only their namespaces' events, what was logged before the
 * terminal opened and what comes after, a line cut in two by a read, a log
 * the API server rotated, a bounded file, and no raw control character.
 */
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, eventNamespace, namespaceOf, routedLine } from '../../labs-server/src/audit-log.ts';

function event(namespace: string, name: string, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ kind: 'Event', verb: 'get', user: { username: 'u' }, objectRef: { resource: 'secrets', namespace, name }, ...extra })}\n`;
}

function names(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line).objectRef.name);
}

async function until(probe: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the audit log router', () => {
  let dir: string;
  let source: string;
  let log: AuditLog;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdl-audit-test-'));
    source = join(dir, 'audit.log');
    writeFileSync(source, '');
    log = new AuditLog(source, undefined, { pollMs: 20 });
  });

  afterEach(() => {
    log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function share(name: string): string {
    const file = join(dir, name);
    writeFileSync(file, '');
    return file;
  }

  it('says which namespace an event is about: its object, or the namespace itself', () => {
    expect(eventNamespace({ objectRef: { namespace: 'a', resource: 'pods', name: 'p' } })).toBe('a');
    expect(eventNamespace({ objectRef: { resource: 'namespaces', name: 'a' } })).toBe('a');
    expect(eventNamespace({ objectRef: { resource: 'nodes', name: 'n1' } })).toBeUndefined();
    expect(eventNamespace({})).toBeUndefined();
    expect(routedLine('{not json "objectRef"')).toBeUndefined();
    // The quick read of a line agrees with the parse, and a string cannot fake an object reference.
    const line = event('ada-ns', 'x', { userAgent: 'x","objectRef":{"namespace":"bob-ns"}' }).trim();
    expect(namespaceOf(line)).toBe('ada-ns');
    expect(routedLine(line)?.namespace).toBe('ada-ns');
    expect(namespaceOf('{"objectRef":{"resource":"namespaces","name":"ada-ns"}}')).toBe('ada-ns');
    expect(namespaceOf('{"objectRef":{"resource":"nodes","name":"n1"}}')).toBeUndefined();
    expect(routedLine('[1, "objectRef"]')).toBeUndefined();
  });

  it('gives each follower what was logged before and after, about its own namespaces only', async () => {
    appendFileSync(source, event('ada-ns', 'before') + event('bob-ns', 'bobs') + event('cluster', 'other'));
    const ada = share('ada.log');
    const stop = await log.follow(['ada-ns'], ada);
    expect(names(ada)).toEqual(['before']);
    appendFileSync(source, event('ada-ns', 'after') + event('bob-ns', 'bobs-2'));
    await until(() => names(ada).length === 2);
    expect(names(ada)).toEqual(['before', 'after']);
    // A second follower, later: the whole story of its namespace, once, in order.
    const bob = share('bob.log');
    const stopBob = await log.follow(['bob-ns'], bob);
    expect(names(bob)).toEqual(['bobs', 'bobs-2']);
    stop();
    appendFileSync(source, event('ada-ns', 'unseen') + event('bob-ns', 'bobs-3'));
    await until(() => names(bob).length === 3);
    expect(names(ada)).toEqual(['before', 'after']);
    stopBob();
  });

  it('joins a line the API server had only half written', async () => {
    const ada = share('ada.log');
    const stop = await log.follow(['ada-ns'], ada);
    const line = event('ada-ns', 'split');
    appendFileSync(source, line.slice(0, 30));
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(names(ada)).toEqual([]);
    appendFileSync(source, line.slice(30));
    await until(() => names(ada).length === 1);
    expect(names(ada)).toEqual(['split']);
    stop();
  });

  it('reads the new file after the API server rotates the log', async () => {
    appendFileSync(source, event('ada-ns', 'old'));
    const ada = share('ada.log');
    const stop = await log.follow(['ada-ns'], ada);
    renameSync(source, join(dir, 'audit-2026-12-02T10-00-00.000.log'));
    writeFileSync(source, event('ada-ns', 'new'));
    await until(() => names(ada).length === 2);
    expect(names(ada)).toEqual(['old', 'new']);
    stop();
  });

  it('writes every event again, so a control character in a request reaches the terminal escaped', async () => {
    const ada = share('ada.log');
    const stop = await log.follow(['ada-ns'], ada);
    appendFileSync(source, event('ada-ns', 'x', { userAgent: 'evil\u001b]0;pwned\u0007' }).replace(/\\u001b/g, '\\u001B'));
    await until(() => names(ada).length === 1);
    const text = readFileSync(ada, 'utf8');
    const controls = [...text].filter((c) => c !== '\n' && c.charCodeAt(0) < 0x20);
    expect(controls).toEqual([]);
    expect(JSON.parse(text).userAgent).toBe('evil\u001b]0;pwned\u0007');
    stop();
  });

  it('gives a new terminal only the end of a long log, so opening terminals again and again costs little', async () => {
    for (let i = 0; i < 50; i++) appendFileSync(source, event('ada-ns', `old${i}`));
    appendFileSync(source, event('ada-ns', 'recent'));
    const short = new AuditLog(source, undefined, { pollMs: 20, backfillBytes: 1000 });
    // The reader has been through the log before this terminal opens.
    const first = share('first.log');
    (await short.follow(['bob-ns'], first))();
    const ada = share('ada.log');
    const stop = await short.follow(['ada-ns'], ada);
    expect(names(ada)).toContain('recent');
    expect(names(ada)).not.toContain('old0');
    expect(readFileSync(ada).length).toBeLessThanOrEqual(1000);
    stop();
    short.close();
  });

  it("keeps a learner's file under its bound, dropping the oldest events", async () => {
    const bounded = new AuditLog(source, undefined, { pollMs: 20, maxFileBytes: 2000 });
    const ada = share('ada.log');
    const stop = await bounded.follow(['ada-ns'], ada);
    for (let i = 0; i < 40; i++) appendFileSync(source, event('ada-ns', `e${i}`));
    await until(() => names(ada).includes('e39'));
    expect(readFileSync(ada).length).toBeLessThanOrEqual(2000);
    expect(names(ada)).not.toContain('e0');
    stop();
    bounded.close();
  });

  it('stops following a terminal whose folder is gone, and says the log is missing when it is', async () => {
    const gone = join(dir, 'gone', 'audit.log');
    await log.follow(['ada-ns'], gone);
    appendFileSync(source, event('ada-ns', 'x'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(log.available).toBe(true);
    expect(new AuditLog(join(dir, 'none.log')).available).toBe(false);
  });
});
