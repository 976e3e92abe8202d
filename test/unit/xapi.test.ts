import { describe, expect, it } from 'vitest';
import type { LabDefinition } from '../../contract/catalog.ts';
import type { LabSession } from '../../contract/session.ts';
import { readConfig } from '../../labs-server/src/config.ts';
import { isoDuration, pendingStatements } from '../../labs-server/src/xapi.ts';

const lab: LabDefinition = {
  id: 'probes',
  title: 'Health probes',
  topic: 'reliability',
  scope: 'namespace',
  needsContainers: true,
  needsKarpenter: false,
  needsAuditLog: false,
  namespaces: [{ name: 'app' }],
  steps: [
    { id: 'ready', title: 'Ready' },
    { id: 'live', title: 'Live' },
  ],
};

function session(status: LabSession['status'], uid = 'uid-1'): LabSession {
  return {
    metadata: { name: 's-1', uid, resourceVersion: '1', creationTimestamp: '2026-12-01T09:00:00Z' },
    spec: { learner: 'Ada', expiresAt: '2026-12-01T21:00:00Z', tokenHash: 'a'.repeat(64) },
    status,
  } as LabSession;
}

const started = '2026-12-01T09:00:00Z';
const PLATFORM = 'https://labs.example.org';

describe('xAPI statements', () => {
  it('owes a passed statement per passed step, and a completed one once every step is passed', () => {
    const one = session({ labs: { probes: { startedAt: started, steps: { ready: { passedAt: '2026-12-01T09:12:30Z', attempts: 3 } } } } });
    const pending = pendingStatements(one, [lab], PLATFORM);
    expect(pending.map((p) => p.key)).toEqual(['probes/ready']);
    expect(pending[0]?.statement).toMatchObject({
      verb: { id: 'http://adlnet.gov/expapi/verbs/passed' },
      object: { id: `${PLATFORM}/labs/probes/steps/ready` },
      result: { duration: 'PT12M30S', extensions: { 'https://containerdaylabs.dev/xapi/extensions/attempts': 3 } },
      timestamp: '2026-12-01T09:12:30Z',
    });
    const both = session({
      labs: {
        probes: {
          startedAt: started,
          solvedAt: '2026-12-01T09:20:00Z',
          steps: { ready: { passedAt: '2026-12-01T09:12:30Z' }, live: { passedAt: '2026-12-01T09:25:00Z' } },
        },
      },
    });
    const all = pendingStatements(both, [lab], PLATFORM);
    expect(all.map((p) => p.key)).toEqual(['probes/ready', 'probes/live', 'probes']);
    const done = all.at(-1)?.statement;
    expect(done).toMatchObject({ verb: { id: 'http://adlnet.gov/expapi/verbs/completed' }, timestamp: '2026-12-01T09:25:00Z' });
    expect(done?.result.duration).toBe('PT25M');
    // The solution came before the second pass, not the first.
    expect(all.map((p) => p.statement.result.extensions['https://containerdaylabs.dev/xapi/extensions/solution-used'])).toEqual([
      false,
      true,
      true,
    ]);
  });

  it('gives each statement an id that is the same every time and differs between sessions', () => {
    const status = { labs: { probes: { startedAt: started, steps: { ready: { passedAt: '2026-12-01T09:12:30Z' } } } } };
    const [a] = pendingStatements(session(status), [lab], PLATFORM);
    const [again] = pendingStatements(session(status), [lab], PLATFORM);
    const [other] = pendingStatements(session(status, 'uid-2'), [lab], PLATFORM);
    expect(a?.statement.id).toBe(again?.statement.id);
    expect(a?.statement.id).not.toBe(other?.statement.id);
  });

  it('owes nothing already sent or refused for good', () => {
    const both = session({
      labs: { probes: { startedAt: started, steps: { ready: { passedAt: started }, live: { passedAt: started } } } },
      xapi: { sent: ['probes/ready', 'probes'], refused: ['probes/live'] },
    });
    expect(pendingStatements(both, [lab], PLATFORM)).toEqual([]);
  });

  it('writes durations as ISO 8601', () => {
    expect(isoDuration('2026-12-01T09:00:00Z', '2026-12-01T09:00:00Z')).toBe('PT0S');
    expect(isoDuration('2026-12-01T09:00:00Z', '2026-12-01T11:00:05Z')).toBe('PT2H5S');
    expect(isoDuration(undefined, '2026-12-01T11:00:05Z')).toBeUndefined();
  });
});

describe('the xAPI settings', () => {
  it('refuses what cannot work, naming the variable', () => {
    expect(() => readConfig({ CDL_XAPI_ENDPOINT: 'lrs.example.org/xapi' })).toThrow(/CDL_XAPI_ENDPOINT: must be an http or https URL/);
    expect(() => readConfig({ CDL_XAPI_ENDPOINT: 'https://key:secret@lrs.example.org/xapi/' })).toThrow(
      /must not hold a user name or password/,
    );
    expect(() => readConfig({ CDL_XAPI_ENDPOINT: 'https://lrs.example.org/xapi/', CDL_XAPI_USERNAME: 'key' })).toThrow(
      /CDL_XAPI_PASSWORD: must be set too/,
    );
    expect(() => readConfig({ CDL_XAPI_USERNAME: 'key', CDL_XAPI_PASSWORD: 'secret' })).toThrow(/CDL_XAPI_ENDPOINT: must be set/);
    expect(readConfig({ CDL_XAPI_ENDPOINT: 'https://lrs.example.org/xapi/' }).CDL_XAPI_ENDPOINT).toBe('https://lrs.example.org/xapi/');
  });
});
