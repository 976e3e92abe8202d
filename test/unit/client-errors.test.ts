/**
 * The error handler answers a bad request that Express, the router or
 * body-parser noticed with its own 4xx, and logs it below warn: a malformed
 * request is the client's doing, not the server's failure.
 */
import express from 'express';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { errorHandler } from '../../labs-server/src/http/errors.ts';
import { freePort } from '../support/ports.ts';

describe('the error handler, for requests the parsers refuse', () => {
  it('answers each with its 4xx and JSON, and logs none at warn or above', async () => {
    const levels: number[] = [];
    const app = express();
    app.use(express.json({ limit: '16kb' }));
    app.get('/labs/:lab', (_req, res) => {
      res.json({});
    });
    app.post('/labs/:lab', (_req, res) => {
      res.json({});
    });
    app.use(
      errorHandler(
        pino(
          { level: 'trace' },
          {
            write(line: string) {
              levels.push(JSON.parse(line).level);
            },
          },
        ),
      ),
    );
    const port = await freePort();
    const server = app.listen(port, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const post = (type: string, body: string | Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${port}/labs/a`, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
    try {
      const cases: [() => Promise<Response>, number, string][] = [
        [() => post('application/json; charset=latin1', '{}'), 415, 'unsupported_charset'],
        [() => post('application/json; charset=koi8-r', '{}'), 415, 'unsupported_charset'],
        [() => post('application/json', '{"name":'), 400, 'invalid_request'],
        [() => post('application/json', 'x'.repeat(20_000)), 413, 'too_large'],
        [() => post('application/json', '{}', { 'content-encoding': 'x-unknown' }), 415, 'unsupported_encoding'],
        [() => post('application/json', new Uint8Array([1, 2, 3]), { 'content-encoding': 'gzip' }), 400, 'invalid_request'],
        [() => fetch(`http://127.0.0.1:${port}/labs/%E0%A4%A`), 400, 'invalid_request'],
        [() => fetch(`http://127.0.0.1:${port}/labs/%`), 400, 'invalid_request'],
      ];
      for (const [answer, status, code] of cases) {
        const response = await answer();
        expect(response.status, `case ${cases.findIndex(([a]) => a === answer)}`).toBe(status);
        expect(((await response.json()) as { error: string }).error).toBe(code);
      }
      expect(levels.filter((level) => level >= 40)).toEqual([]);
    } finally {
      server.close();
    }
  });
});
