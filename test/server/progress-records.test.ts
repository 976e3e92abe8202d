/**
 * Progress that leaves the platform: a learner opens hints, uses the
 * solution and passes a step; the instructor's records (JSON and CSV) say
 * so, from the LabSession alone. Hints are recorded only for a started lab
 * and only ever go up; a learner cannot read the records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, startTestServer, type TestServer } from '../support/server.ts';

describe("the instructor's training records", () => {
  let server: TestServer;
  let ada: Client;
  let admin: Client;

  beforeAll(async () => {
    server = await startTestServer({ CDL_MODE: 'workshop', CDL_ACCESS_CODE: 'RECORDS-2026' });
    admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
    ada = new Client(server.origin);
    expect((await ada.post('/api/session', { name: '=Ada, "the first"', accessCode: 'RECORDS-2026' })).status).toBe(201);
  });

  afterAll(async () => {
    const id = ada ? (await ada.get('/api/session')).body.id : undefined;
    if (id) await admin.delete(`/api/admin/sessions/${id}`);
    await server?.close();
  });

  it('records hints, the solution and the pass, and exports them as JSON and CSV', async () => {
    // Before the lab starts, a hint is nothing to record.
    expect((await ada.post('/api/labs/palette/steps/repaint/hints', { shown: 1 })).body.hintsShown).toBe(0);
    expect((await ada.post('/api/labs/palette/start')).status).toBe(201);
    expect((await ada.post('/api/labs/palette/steps/repaint/hints', { shown: 2 })).body.hintsShown).toBe(2);
    // A page reloaded with one hint open does not lower the count.
    expect((await ada.post('/api/labs/palette/steps/repaint/hints', { shown: 1 })).body.hintsShown).toBe(2);
    expect((await ada.post('/api/labs/palette/steps/nope/hints', { shown: 1 })).status).toBe(404);
    expect((await ada.post('/api/labs/palette/steps/repaint/hints', { shown: 0 })).status).toBe(400);
    expect((await ada.post('/api/labs/palette/solve')).status).toBe(200);
    expect((await ada.post('/api/labs/palette/steps/repaint/check')).body.passed).toBe(true);

    const me = (await ada.get('/api/session')).body.id;
    const json = await admin.get('/api/admin/progress/records');
    expect(json.status).toBe(200);
    const mine = json.body.records.filter((r: { session: string }) => r.session === me);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      learner: '=Ada, "the first"',
      lab: 'palette',
      step: 'repaint',
      attempts: 1,
      hintsShown: 2,
      solutionUsed: true,
    });
    expect(mine[0].minutesToPass).toBeGreaterThanOrEqual(0);
    expect(Date.parse(mine[0].passedAt)).toBeGreaterThanOrEqual(Date.parse(mine[0].startedAt));

    const csv = await admin.get('/api/admin/progress/records.csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(/attachment; filename="progress-\d{4}-\d{2}-\d{2}\.csv"/);
    const lines = String(csv.body).split('\r\n');
    expect(lines[0]).toBe('session,learner,lab,step,stepTitle,startedAt,passedAt,minutesToPass,attempts,hintsShown,solutionUsed');
    const line = lines.find((l) => l.startsWith(`${me},`));
    // The name is quoted (a comma, quotes) and cannot run as a formula.
    expect(line).toMatch(new RegExp(`^${me},"'=Ada, ""the first""",palette,repaint,Set the colour to green,[^,]+,[^,]+,[0-9.]+,1,2,true$`));
  });

  it('is for the instructor only', async () => {
    expect((await ada.get('/api/admin/progress/records')).status).toBe(401);
    expect((await new Client(server.origin, { authorization: 'Bearer wrong' }).get('/api/admin/progress/records.csv')).status).toBe(403);
  });
});
