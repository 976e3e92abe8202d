/** Progress views and "stuck" from LabSession objects alone. */
import { describe, expect, it } from 'vitest';
import type { LabDefinition } from '../../contract/catalog.ts';
import type { LabSession } from '../../contract/session.ts';
import { csvField, exportRecords, labProgress, learnerView, recordsCsv, stuckOn } from '../../labs-server/src/progress.ts';

const lab: LabDefinition = {
  id: 'first-deployment',
  title: 'First deployment',
  topic: 'getting-started',
  scope: 'namespace',
  needsContainers: false,
  needsKarpenter: false,
  needsAuditLog: false,
  namespaces: [{ name: 'app' }],
  steps: [
    { id: 'deploy', title: 'Deploy' },
    { id: 'scale', title: 'Scale' },
  ],
};

function session(status: LabSession['status']): LabSession {
  return {
    metadata: { name: 's-0123456789ab', uid: 'u', resourceVersion: '1', creationTimestamp: '2026-11-24T09:00:00Z' },
    spec: { learner: 'Ada', tokenHash: 'x', expiresAt: '2026-11-24T13:00:00Z' },
    status,
  };
}

const at = (time: string) => new Date(`2026-11-24T${time}Z`);

describe('progress', () => {
  const s = session({
    currentLab: 'first-deployment',
    labs: {
      'first-deployment': {
        startedAt: '2026-11-24T10:00:00Z',
        sandbox: 'ready',
        steps: { deploy: { passedAt: '2026-11-24T10:05:00Z', attempts: 3 }, scale: { attempts: 2, lastPassed: false } },
      },
    },
  });

  it('counts passed steps and attempts per lab', () => {
    const view = labProgress(s, lab);
    expect(view).toMatchObject({ passed: 1, total: 2, sandbox: 'ready' });
    expect(view.steps.map((step) => step.attempts)).toEqual([3, 2]);
  });

  it('calls a learner stuck from when the step became the next one, not from the lab start', () => {
    expect(stuckOn(s, [lab], at('10:14:00'), 10)).toBeUndefined();
    expect(stuckOn(s, [lab], at('10:16:00'), 10)).toEqual({
      lab: 'first-deployment',
      step: 'scale',
      since: '2026-11-24T10:05:00Z',
      minutes: 11,
    });
  });

  it('never calls a learner stuck on a finished lab or before a lab starts', () => {
    const done = session({
      currentLab: 'first-deployment',
      labs: {
        'first-deployment': {
          startedAt: '2026-11-24T10:00:00Z',
          steps: { deploy: { passedAt: '2026-11-24T10:01:00Z' }, scale: { passedAt: '2026-11-24T10:02:00Z' } },
        },
      },
    });
    expect(stuckOn(done, [lab], at('12:00:00'), 10)).toBeUndefined();
    expect(stuckOn(session(undefined), [lab], at('12:00:00'), 10)).toBeUndefined();
  });

  it('counts steps passed from the steps themselves, not from a stored total', () => {
    const stale = session({ ...s.status, stepsPassed: 0 });
    expect(learnerView(stale, [lab], at('10:30:00'), 10).stepsPassed).toBe(1);
  });

  it('keeps an expired session on the grid, marked expired and never stuck', () => {
    const view = learnerView(s, [lab], at('13:00:00'), 10);
    expect(view.expired).toBe(true);
    expect(view.stuck).toBeUndefined();
    expect(view.labs['first-deployment']?.steps[0]?.passedAt).toBe('2026-11-24T10:05:00Z');
    expect(learnerView(s, [lab], at('12:59:59'), 10).expired).toBe(false);
  });

  it('lists only the labs a learner started', () => {
    const view = learnerView(s, [lab, { ...lab, id: 'other' }], at('10:30:00'), 10);
    expect(Object.keys(view.labs)).toEqual(['first-deployment']);
    expect(view.stuck?.step).toBe('scale');
  });
});

describe('the training records', () => {
  const s = session({
    labs: {
      'first-deployment': {
        startedAt: '2026-11-24T10:00:00Z',
        solvedAt: '2026-11-24T10:20:00Z',
        steps: {
          deploy: { passedAt: '2026-11-24T10:05:30Z', attempts: 3, hintsShown: 2 },
          scale: { passedAt: '2026-11-24T10:21:00Z', attempts: 1 },
        },
      },
    },
  });

  it('gives one record per step of each lab started, with the time from the start and what helped', () => {
    const records = exportRecords([s, session({})], [lab]);
    expect(records).toEqual([
      {
        session: 's-0123456789ab',
        learner: 'Ada',
        lab: 'first-deployment',
        step: 'deploy',
        stepTitle: 'Deploy',
        startedAt: '2026-11-24T10:00:00Z',
        passedAt: '2026-11-24T10:05:30Z',
        minutesToPass: 5.5,
        attempts: 3,
        hintsShown: 2,
        solutionUsed: false,
      },
      {
        session: 's-0123456789ab',
        learner: 'Ada',
        lab: 'first-deployment',
        step: 'scale',
        stepTitle: 'Scale',
        startedAt: '2026-11-24T10:00:00Z',
        passedAt: '2026-11-24T10:21:00Z',
        minutesToPass: 21,
        attempts: 1,
        hintsShown: 0,
        solutionUsed: true,
      },
    ]);
  });

  it('writes CSV a spreadsheet reads as text: quoted where needed, formulas defused', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a, "b"')).toBe('"a, ""b"""');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField(-3)).toBe('-3');
    expect(csvField(undefined)).toBe('');
    const csv = recordsCsv(exportRecords([session({ ...s.status })], [lab]));
    const [header, first] = csv.split('\r\n');
    expect(header).toBe('session,learner,lab,step,stepTitle,startedAt,passedAt,minutesToPass,attempts,hintsShown,solutionUsed');
    expect(first).toBe('s-0123456789ab,Ada,first-deployment,deploy,Deploy,2026-11-24T10:00:00Z,2026-11-24T10:05:30Z,5.5,3,2,false');
    expect(csv.endsWith('\r\n')).toBe(true);
  });
});
