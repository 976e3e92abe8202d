/**
 * Errors become one clear JSON answer. A cluster that went away is a 503
 * with a hint, proven with a real client call to a port where nothing listens.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import express from 'express';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { errorHandler, HttpError } from '../../labs-server/src/http/errors.ts';
import { freePort } from '../support/ports.ts';

async function answer(error: () => Promise<unknown>) {
  const app = express();
  app.get('/', async () => {
    await error();
  });
  app.use(errorHandler(pino({ level: 'silent' })));
  const port = await freePort();
  const server = app.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    return { status: response.status, body: (await response.json()) as { error: string; message: string; hint?: string } };
  } finally {
    server.close();
  }
}

describe('the error handler', () => {
  it('answers a cluster that does not answer with 503 and a hint', async () => {
    const port = await freePort();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'gone', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'gone', user: 'u' }],
      currentContext: 'c',
    });
    const { status, body } = await answer(() => kc.makeApiClient(CoreV1Api).listNamespace());
    expect(status).toBe(503);
    expect(body.error).toBe('cluster_unavailable');
    expect(body.hint).toBeTruthy();
  });

  it('answers invalid input with 400 naming the field', async () => {
    const { status, body } = await answer(async () => z.object({ minutes: z.number() }).parse({ minutes: 'ten' }));
    expect(status).toBe(400);
    expect(body.message).toMatch(/minutes/);
  });

  it('answers its own errors with their status, code and hint, and anything else with 500 and no detail', async () => {
    expect((await answer(async () => Promise.reject(new HttpError(409, 'lab_not_started', 'Not yet.', 'Start it.')))).body).toEqual({
      error: 'lab_not_started',
      message: 'Not yet.',
      hint: 'Start it.',
    });
    const internal = await answer(async () => Promise.reject(new Error('secret detail')));
    expect(internal.status).toBe(500);
    expect(JSON.stringify(internal.body)).not.toMatch(/secret detail/);
  });
});
