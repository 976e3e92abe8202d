/**
 * What the server reads of a terminal agent's answer. A shell pod is the
 * learner's: its answers are not trusted to be small or well formed. A
 * refusal is read up to a bound, a "too many files" refusal is believed only
 * when it is the agent's error body, and anything else is a plain error.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../labs-server/src/metrics.ts';
import { AgentRelay } from '../../labs-server/src/terminal/agent-relay.ts';
import { TooManyFiles } from '../../labs-server/src/terminal/lab-files.ts';

/** What the stand-in agent answers a save with, by the file's name. */
const ANSWERS: Record<string, { status: number; body: () => string }> = {
  'many.yaml': { status: 409, body: () => JSON.stringify({ error: 'too_many_files', message: 'This lab keeps 20 files at most.' }) },
  'lying.yaml': { status: 409, body: () => 'too_many_files, but not the agent error body' },
  'huge.yaml': { status: 500, body: () => 'x'.repeat(64 * 1024 * 1024) },
  'fine.yaml': { status: 204, body: () => '' },
};

describe("the server reading a terminal agent's answers", () => {
  let agent: Server;
  let url = '';

  beforeAll(async () => {
    agent = createServer((req, res) => {
      req.resume();
      const name = decodeURIComponent(new URL(req.url ?? '/', 'http://agent').pathname.split('/').at(-1) ?? '');
      const answer = ANSWERS[name] ?? { status: 404, body: () => '' };
      res.writeHead(answer.status, { 'content-type': 'text/plain' });
      res.end(answer.status === 204 ? undefined : answer.body());
    });
    await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(agent.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => agent.close(() => resolve())));

  const files = () =>
    new AgentRelay({
      locator: { locate: async () => ({ url, secret: 'secret' }), release: async () => undefined },
      metrics: createMetrics(),
      logger: pino({ level: 'silent' }),
    }).files();

  it('saves when the agent takes the file', async () => {
    await expect(files().write('s-0000000000aa', 'first-deployment', 'fine.yaml', 'a: 1\n')).resolves.toBeUndefined();
  });

  it("believes a too-many-files refusal that is the agent's error body, and no other", async () => {
    await expect(files().write('s-0000000000aa', 'first-deployment', 'many.yaml', 'a: 1\n')).rejects.toThrow(TooManyFiles);
    const lying = files().write('s-0000000000aa', 'first-deployment', 'lying.yaml', 'a: 1\n');
    await expect(lying).rejects.toThrow(/refused the file: 409/);
    await expect(lying).rejects.not.toThrow(TooManyFiles);
  });

  it('reads at most 4 KiB of an answer, however much the agent sends', async () => {
    const error = await files()
      .write('s-0000000000aa', 'first-deployment', 'huge.yaml', 'a: 1\n')
      .then(
        () => new Error('saved'),
        (e: unknown) => e as Error,
      );
    expect(error.message).toMatch(/refused the file: 500 x+/);
    expect(error.message.length).toBeLessThan(4096 + 100);
  });
});
