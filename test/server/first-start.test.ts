/**
 * The first start, as a new user meets it (test/support/first-start.ts:
 * `npm start` with an empty binary cache, downloading from a mirror on
 * 127.0.0.1 whose Kubernetes download is held halfway). While it waits, the
 * lessons are served, /healthz says what is being prepared and how far it
 * is, and the API and the terminals answer 503 `preparing`; once the
 * download is let through, the cluster starts and a learner gets a working
 * terminal on the same port.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { poll } from '../../cluster/src/kube.ts';
import { type FirstStart, firstStart } from '../support/first-start.ts';
import { Client } from '../support/server.ts';
import { isRefusal, TerminalClient } from '../support/terminal-client.ts';

let start: FirstStart | undefined;

afterAll(async () => {
  await start?.stop();
}, 120_000);

describe('the first start', () => {
  it('serves the lessons while the cluster is prepared, says how far it is, then serves the labs on the same port', {
    timeout: 300_000,
  }, async () => {
    start = await firstStart(`cdl-first-${process.pid}`);
    const { origin, port, running } = start;
    process.stderr.write(`[first start] the home page answered ${start.servedAfter.toFixed(1)} s after npm start\n`);

    const home = await fetch(`${origin}/`);
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('<html');
    expect((await fetch(`${origin}/search`)).status, 'search is served too').toBe(200);

    const health = await poll(
      async () => {
        const answer = await fetch(`${origin}/healthz`);
        const body = await answer.json();
        return answer.status === 503 && /downloading kubernetes: [\d.]+ of [\d.]+ MB/.test(body.preparing?.detail ?? '') ? body : undefined;
      },
      { what: 'the health check to say Kubernetes is being downloaded', timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(health).toMatchObject({
      ok: false,
      mode: 'single',
      cluster: { provider: 'local', state: 'preparing' },
      preparing: { unit: 'bytes', done: expect.any(Number), total: expect.any(Number) },
    });
    expect(health.preparing.done).toBeLessThan(health.preparing.total);

    const learner = new Client(origin);
    const refused = await learner.post('/api/session');
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({
      error: 'preparing',
      message: expect.stringMatching(/^The cluster is being prepared: .*downloading kubernetes: [\d.]+ of [\d.]+ MB/),
    });
    expect(refused.headers.get('retry-after')).toBe('5');
    const terminal = await TerminalClient.open(`ws://localhost:${port}/api/terminal?lab=first-deployment`, { origin });
    expect(isRefusal(terminal) && terminal.status, 'a terminal is refused with the same words').toBe(503);

    start.release();
    await poll(async () => (await fetch(`${origin}/healthz`)).status === 200, {
      what: 'the cluster to be ready once the download went through',
      timeoutMs: 180_000,
      intervalMs: 1000,
    });
    expect(running.output()).toMatch(/The lessons can be read at .* while the cluster is prepared/);
    expect(running.output()).toMatch(/Downloaded kubernetes v1\.36\.3 \(.*checksums verified\)/);

    expect((await learner.post('/api/session')).status).toBe(201);
    const shell = await TerminalClient.open(`ws://localhost:${port}/api/terminal?lab=first-deployment`, {
      origin,
      cookie: learner.cookie,
    });
    if (isRefusal(shell)) throw new Error(`the terminal was refused: ${shell.status} ${shell.body}`);
    try {
      expect(await shell.run('kubectl auth can-i create deployments', 30_000)).toMatch(/^yes/m);
    } finally {
      await shell.close();
    }
  });
});
