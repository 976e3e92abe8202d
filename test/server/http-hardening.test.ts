/**
 * The HTTP surface as an attendee with the access code, a browser and a
 * shell would attack it, on the real cluster: what one client address may
 * take (sessions counted in the cluster, across a restart; joins and code
 * guesses rate-limited), whose address counts (X-Forwarded-For only from
 * TRUST_PROXY), sessions made only by a POST from the server's own pages,
 * malformed requests answered 4xx and never logged as errors (a few hundred
 * fuzzed ones), and the browser-facing headers the built site works under.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import { GROUP, PLURAL, VERSION } from '../../contract/session.ts';
import { readConfig } from '../../labs-server/src/config.ts';
import { CLIENT_LABEL, CODE_ATTEMPTS, JOINS_PER_MINUTE } from '../../labs-server/src/http/client-limits.ts';
import { type LabServer, startLabServer } from '../../labs-server/src/server.ts';
import { SessionStore } from '../../labs-server/src/sessions/store.ts';
import { buildSite, SITE_DIST, siteStale } from '../../scripts/build-site.ts';
import { TEST_CLUSTER } from '../support/cluster-setup.ts';
import { fixtureCatalog } from '../support/fixture-catalog.ts';
import { testKubeConfig } from '../support/kube.ts';
import { freePort } from '../support/ports.ts';
import { Client } from '../support/server.ts';

const kc = testKubeConfig();
const objects = kc.makeApiClient(CustomObjectsApi);

interface Started {
  server: LabServer;
  origin: string;
  port: number;
  /** The server's log lines, parsed. */
  logs: { level: number; msg: string }[];
}

/**
 * A lab server with these settings and a log this test reads. The settings
 * are also put in the environment while it starts, which the app reads them
 * from when it is not handed its config.
 */
async function start(env: Record<string, string>, options: { siteDir?: string; port?: number } = {}): Promise<Started> {
  const port = options.port ?? (await freePort());
  const logs: Started['logs'] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, env);
  try {
    const server = await startLabServer({
      config: readConfig({ PORT: String(port), LOG_LEVEL: 'debug', ...env }),
      cluster: new LocalProvider({ clusterName: TEST_CLUSTER }),
      catalog: fixtureCatalog,
      logger: pino({ level: 'debug' }, sink),
      siteDir: options.siteDir ?? '/nonexistent',
    });
    return { server, origin: `http://localhost:${port}`, port, logs };
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** A request with exactly these headers (fetch would add its own). */
function plain(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends raw bytes and reads the status line: 0 when the server closed without answering, -1 when it never answered. */
function raw(port: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let seen = '';
    let done = false;
    const finish = (status: number) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(status);
    };
    socket.setTimeout(10_000, () => finish(-1));
    socket.on('data', (chunk) => {
      seen += chunk.toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(seen);
      if (match) finish(Number(match[1]));
    });
    socket.on('error', () => finish(0));
    socket.on('close', () => finish(0));
    socket.write(bytes);
  });
}

async function endAll(origin: string, adminToken: string, ids: string[]) {
  const admin = new Client(origin, { authorization: `Bearer ${adminToken}` });
  for (const id of ids) await admin.delete(`/api/admin/sessions/${id}`);
}

describe('in a workshop, what one client address may take', () => {
  const CODE = 'HARD-7Q2X-M4PA';
  const env = {
    CDL_MODE: 'workshop',
    CDL_ACCESS_CODE: CODE,
    TRUST_PROXY: 'loopback',
    SESSIONS_PER_ADDRESS: '2',
    SHARED_ADDRESSES: '203.0.113.7',
  };
  let running: Started;
  const joined: string[] = [];
  const from = (address: string) => new Client(running.origin, { 'x-forwarded-for': address });
  const join = async (client: Client, accessCode = CODE) => {
    const answer = await client.post('/api/session', { name: 'Probe', accessCode });
    if (answer.status === 201) joined.push(answer.body.id);
    return answer;
  };

  beforeAll(async () => {
    running = await start(env);
  });
  afterAll(async () => {
    await endAll(running.origin, running.server.secrets.adminToken, joined);
    await running?.server.close();
  });

  it('caps live sessions per address, counted in the cluster, across a restart', async () => {
    const a1 = from('198.51.100.1');
    const a2 = from('198.51.100.1');
    const a3 = from('198.51.100.1');
    const firstJoin = await join(a1);
    expect(firstJoin.status, JSON.stringify([firstJoin.body, running.logs.filter((l) => l.level >= 50)])).toBe(201);
    expect((await join(a2)).status).toBe(201);
    const refused = await join(a3);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toBe('too_many_sessions');
    expect(refused.body.hint).toMatch(/SHARED_ADDRESSES/);
    const other = await join(from('198.51.100.2'));
    expect(other.status).toBe(201);

    // The count lives on the LabSession objects, as a keyed hash, never the address.
    const read = async (id: string) =>
      (await objects.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name: id })) as {
        metadata: { labels: Record<string, string> };
      };
    const [first, second, third] = await Promise.all([read(joined[0] ?? ''), read(joined[1] ?? ''), read(other.body.id)]);
    expect(first.metadata.labels[CLIENT_LABEL]).toMatch(/^[0-9a-f]{32}$/);
    expect(second.metadata.labels[CLIENT_LABEL]).toBe(first.metadata.labels[CLIENT_LABEL]);
    expect(third.metadata.labels[CLIENT_LABEL]).not.toBe(first.metadata.labels[CLIENT_LABEL]);
    expect(JSON.stringify(first)).not.toContain('198.51.100.1');

    // A restarted server (or another replica) counts the same sessions.
    await running.server.close();
    running = await start(env, { port: running.port });
    expect((await join(a3)).body.error).toBe('too_many_sessions');
    expect((await a1.delete('/api/session')).status).toBe(204);
    expect((await join(a3)).status).toBe(201);
  });

  it('counts an IPv6 client by its /56, and lets a room behind a shared address in', async () => {
    expect((await join(from('2001:db8:1:100::1'))).status).toBe(201);
    expect((await join(from('2001:db8:1:1ff::2'))).status).toBe(201);
    expect((await join(from('2001:db8:1:1aa::3'))).body.error).toBe('too_many_sessions');
    for (let i = 0; i < 4; i += 1) expect((await join(from('203.0.113.7'))).status).toBe(201);
  });

  it('throttles guessing the access code per address', async () => {
    const guesses = 200;
    const guesser = from('198.51.100.9');
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: guesses }, (_, i) =>
        guesser.call('POST', '/api/session', { name: 'Guess', accessCode: `GUESS-${String(i).padStart(4, '0')}` }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const judged = answers.filter((a) => a.status === 403).length;
    const throttled = answers.filter((a) => a.status === 429);
    console.info(`${guesses} guesses in ${seconds.toFixed(2)} s: ${judged} judged, ${throttled.length} throttled`);
    expect(judged).toBeLessThanOrEqual(CODE_ATTEMPTS);
    expect(throttled.length).toBe(guesses - judged);
    expect(throttled.every((a) => Number(a.headers.get('retry-after')) > 0)).toBe(true);
    expect((await join(guesser)).status).toBe(429);
    // Other addresses are not held back by one guesser.
    expect((await join(from('198.51.100.10'))).status).toBe(201);
  });

  it('pauses joining after a few wrong codes, even with the right one', async () => {
    const typo = from('198.51.100.20');
    for (let i = 0; i < CODE_ATTEMPTS; i += 1) expect((await join(typo, 'KUBE-0000-0000')).body.error).toBe('bad_access_code');
    const right = await join(typo);
    expect(right.status).toBe(429);
    expect(right.body.error).toBe('too_many_code_attempts');
  });

  it('rate-limits joining per address', async () => {
    const again = from('198.51.100.30');
    expect((await join(again)).status).toBe(201);
    for (let i = 1; i < JOINS_PER_MINUTE; i += 1) expect((await join(again)).status).toBe(200);
    const limited = await join(again);
    expect(limited.status).toBe(429);
    expect(limited.body.error).toBe('too_many_joins');
  });
});

describe('in a workshop behind no trusted proxy', () => {
  const CODE = 'HARD-9R4T-W2PB';
  let running: Started;
  const joined: string[] = [];

  beforeAll(async () => {
    running = await start({ CDL_MODE: 'workshop', CDL_ACCESS_CODE: CODE });
  });
  afterAll(async () => {
    await endAll(running.origin, running.server.secrets.adminToken, joined);
    await running?.server.close();
  });

  it('does not let a client choose its address with X-Forwarded-For', async () => {
    const answers = [];
    for (let i = 0; i < 4; i += 1) {
      const client = new Client(running.origin, { 'x-forwarded-for': `198.51.100.${100 + i}` });
      const answer = await client.post('/api/session', { name: 'Spoof', accessCode: CODE });
      if (answer.status === 201) joined.push(answer.body.id);
      answers.push(answer.status);
    }
    expect(answers).toEqual([201, 201, 201, 429]);
  });

  it('keeps room for people who have not joined: at MAX_SESSIONS, joining says the workshop is full', async () => {
    const full = await start({ CDL_MODE: 'workshop', CDL_ACCESS_CODE: 'HARD-3K8D-J5NV', MAX_SESSIONS: '1' });
    const store = new SessionStore(kc, { ttlMs: 60_000 });
    const placeholder = await store.create('Placeholder');
    try {
      const answer = await new Client(full.origin).post('/api/session', { name: 'Late', accessCode: 'HARD-3K8D-J5NV' });
      if (answer.status === 201) joined.push(answer.body.id);
      expect(answer.status).toBe(503);
      expect(answer.body.error).toBe('workshop_full');
    } finally {
      await store.end(placeholder.session.metadata.name);
      await full.server.close();
    }
  });
});

describe('alone on a laptop, and against malformed requests', () => {
  let running: Started;
  const made: string[] = [];

  beforeAll(async () => {
    if (siteStale()) await buildSite(() => undefined);
    running = await start({ CDL_MODE: 'single' }, { siteDir: SITE_DIST });
  }, 180_000);
  afterAll(async () => {
    await endAll(running.origin, running.server.secrets.adminToken, made);
    await running?.server.close();
  });

  it('never makes a session on a GET, and makes one only for a request from its own page', async () => {
    const { port, origin } = running;
    const reads: Record<string, string>[] = [{}, { origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { origin }];
    for (const headers of reads) {
      const read = await plain(port, 'GET', '/api/session', headers);
      expect(read.status).toBe(401);
      expect(JSON.parse(read.body).error).toBe('session_required');
      expect(read.headers['set-cookie']).toBeUndefined();
    }
    const json = { 'content-type': 'application/json' };
    const refusals = [
      { ...json },
      { ...json, 'sec-fetch-site': 'cross-site' },
      { ...json, 'sec-fetch-site': 'same-site' },
      { ...json, origin: 'https://evil.example' },
      { ...json, origin: 'null' },
    ];
    for (const headers of refusals) {
      const answer = await plain(port, 'POST', '/api/session', headers, '{}');
      expect(answer.status, JSON.stringify(headers)).toBe(403);
      expect(answer.headers['set-cookie']).toBeUndefined();
    }
    for (const headers of [
      { ...json, origin },
      { ...json, 'sec-fetch-site': 'same-origin' },
    ]) {
      const answer = await plain(port, 'POST', '/api/session', headers, '{}');
      expect(answer.status).toBe(201);
      expect(String(answer.headers['set-cookie'])).toMatch(/^cdl_session=/);
      made.push(JSON.parse(answer.body).id);
    }
  });

  it('answers a few hundred malformed requests with 4xx, never 5xx, and logs none as an error', { timeout: 120_000 }, async () => {
    // A fixed seed: the same requests on every run, so a failure can be replayed.
    let seed = 0x5eed;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

    const paths = [
      '/api/session',
      '/api/labs',
      '/api/labs/palette',
      '/api/labs/palette/steps/repaint/check',
      '/api/labs/%E0%A4%A',
      '/api/labs/%E0%A4%A/start',
      '/api/labs/%/reset',
      '/api/labs/%zz/solve',
      '/api/labs/palette/steps/%C0%AF/check',
      '/api/labs/palette%00/kubeconfig',
      '/api/admin/progress',
      '/api/admin/progress?stuckMinutes=%E0%A4%A',
      '/api/admin/progress?stuckMinutes[]=1&stuckMinutes[]=2',
      '/api/admin/sessions/s-000000000000/extend',
      '/api/admin/sessions/%FF%FE/extend',
      '/api/admin/labs/%E0%A4%A/reset',
      `/api/labs/${'a'.repeat(3000)}`,
      '/api/labs?%=%',
      '/%E0%A4%A',
      '/lessons/%ff/',
      '/search/%',
      '/metrics?%',
      '/api/terminal?lab=%E0',
      '/api/nothing/%%%',
    ];
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND', 'TRACE', 'MKCOL', 'FOO', 'G@T'];
    const types = [
      'application/json',
      'application/json; charset=latin1',
      'application/json; charset=iso-8859-1',
      'application/json; charset=utf-16',
      'application/json; charset=koi8-r',
      'application/json; charset=',
      'application/json; charset="utf-8',
      'application/json; charset=utf-8; charset=latin1',
      'application/vnd.api+json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      ';;;',
      '*/*',
      undefined,
    ];
    const bodies: (string | Buffer)[] = [
      '{',
      '{"name":',
      '[',
      'nul',
      '\u0000\u0001\u0002',
      '{"name":"\\ud800"}',
      '['.repeat(5000),
      '"just a string"',
      '1e999',
      '\ufeff{"name":"A"}',
      '{"name":{"$gt":""}}',
      '{"name":["a"],"accessCode":12345}',
      '{"minutes":-1}',
      '{"minutes":"ten"}',
      '{"minutes":1e309}',
      '{"__proto__":{"polluted":true}}',
      'x'.repeat(20_000),
      '',
      Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xe9, 0xff, 0x22, 0x7d]),
      Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02]),
    ];
    const encodings = [undefined, undefined, undefined, 'gzip', 'deflate', 'br', 'compress', 'x-unknown'];
    const extras: (() => string[])[] = [
      () => [],
      () => [],
      () => [`X-Big: ${'a'.repeat(20_000)}`],
      () => Array.from({ length: 300 }, (_, i) => `X-Many-${i}: ${i}`),
      () => ['Cookie: cdl_session=%E0%A4%A; __Host-cdl_session=%; =; ;;'],
      () => [`Cookie: cdl_session=${'A'.repeat(43)}`],
      () => ['Authorization: Bearer'],
      () => [`Authorization: Bearer ${'a'.repeat(5000)}`],
      () => ['Authorization: Basic Zm9vOmJhcg=='],
      () => [`Authorization: Bearer ${running.server.secrets.adminToken}`],
      () => ['Origin: https://evil.example'],
      () => ['Origin: null', 'Sec-Fetch-Site: cross-site'],
      () => ['X-Forwarded-For: 1.2.3.4, not-an-address'],
      () => ['Range: bytes=9-1,x'],
      () => ['If-None-Match: *', 'If-Modified-Since: yesterday'],
      () => ['Expect: 100-continue'],
    ];
    const requests: Buffer[] = [];
    for (let i = 0; i < 400; i += 1) {
      const method = pick(methods);
      const path = pick(paths);
      const body = method === 'GET' || method === 'HEAD' ? (random() < 0.2 ? pick(bodies) : '') : pick(bodies);
      const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
      const type = pick(types);
      const encoding = pick(encodings);
      const lines = [`${method} ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close'];
      if (type) lines.push(`Content-Type: ${type}`);
      if (encoding) lines.push(`Content-Encoding: ${encoding}`);
      lines.push(...pick(extras)());
      const shape = random();
      if (shape < 0.05) {
        // A body far larger than allowed is refused from its Content-Length, before it is read.
        lines.push('Content-Length: 99999999');
        requests.push(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
      } else if (shape < 0.1) {
        lines.push('Transfer-Encoding: chunked');
        requests.push(Buffer.from(`${lines.join('\r\n')}\r\n\r\nzz\r\nnot a chunk\r\n0\r\n\r\n`, 'latin1'));
      } else {
        lines.push(`Content-Length: ${bytes.length}`);
        requests.push(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), bytes]));
      }
    }
    // The two reported cases, by name.
    const named = [
      Buffer.from(
        'POST /api/session HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json; charset=latin1\r\nContent-Length: 2\r\n\r\n{}',
      ),
      Buffer.from('GET /api/labs/%E0%A4%A HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
    ];
    const statuses: number[] = [];
    for (let i = 0; i < requests.length; i += 16) {
      statuses.push(...(await Promise.all(requests.slice(i, i + 16).map((bytes) => raw(running.port, bytes)))));
    }
    const [charset, badEscape] = await Promise.all(named.map((bytes) => raw(running.port, bytes)));
    expect(charset).toBe(415);
    expect(badEscape).toBe(400);

    const tally = new Map<number, number>();
    for (const status of statuses) tally.set(status, (tally.get(status) ?? 0) + 1);
    console.info(`fuzzed ${statuses.length} requests:`, Object.fromEntries([...tally].sort(([a], [b]) => a - b)));
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(
      statuses.flatMap((s, i) => (s === -1 ? [requests[i]?.toString('latin1').split('\r\n\r\n')[0]] : [])),
      'requests never answered',
    ).toEqual([]);
    expect(statuses.filter((s) => s >= 400 && s < 500).length).toBeGreaterThan(300);
    expect(running.logs.filter((line) => line.level >= 50).map((line) => line.msg)).toEqual([]);
    // And the server still answers.
    expect((await plain(running.port, 'GET', '/healthz')).status).toBe(200);
  });

  it('sends a Content-Security-Policy the built site works under, and refuses framing and sniffing', async () => {
    const lesson = readdirSync(join(SITE_DIST, 'lessons'), { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith('index.html'));
    const pages = ['/', '/search/', '/instructor/', `/lessons/${lesson?.replace(/index\.html$/, '')}`];
    for (const page of pages) {
      const answer = await plain(running.port, 'GET', page);
      expect(answer.status, page).toBe(200);
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      const csp = String(answer.headers['content-security-policy']);
      const directive = (name: string) =>
        csp
          .split(';')
          .map((d) => d.trim().split(/\s+/))
          .find(([key]) => key === name)
          ?.slice(1) ?? [];
      expect(directive('frame-ancestors')).toEqual(["'none'"]);
      expect(directive('object-src')).toEqual(["'none'"]);
      expect(directive('script-src')).not.toContain("'unsafe-inline'");
      expect(directive('script-src')).toContain("'wasm-unsafe-eval'"); // Pagefind's WebAssembly
      expect(directive('worker-src')).toContain("'self'"); // Pagefind's worker
      expect(directive('connect-src')).toContain(`ws://localhost:${running.port}`); // the terminal
      // Every inline script the page runs is allowed by its hash; everything else it loads is its own.
      for (const [, attributes = '', body = ''] of answer.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
        if (/\bsrc=/.test(attributes)) continue;
        const hash = `'sha256-${createHash('sha256').update(body).digest('base64')}'`;
        expect(directive('script-src'), `${page}: an inline script`).toContain(hash);
      }
      for (const [, url = ''] of answer.body.matchAll(/<(?:script|img|link|iframe|source)\b[^>]*\b(?:src|href)="([^"]*)"/gi)) {
        expect(url, `${page} loads ${url}`).toMatch(/^(\/(?!\/)|data:|#|[a-z0-9._-]+(\/|$))/i);
      }
      expect(answer.body, `${page} has an inline event handler`).not.toMatch(/<[a-z][^>]*\son[a-z]+\s*=/i);
    }
    // No bundled script needs eval, which the policy does not allow.
    for (const dir of ['_astro', 'pagefind']) {
      for (const file of readdirSync(join(SITE_DIST, dir)).filter((f) => f.endsWith('.js'))) {
        expect(readFileSync(join(SITE_DIST, dir, file), 'utf8'), file).not.toMatch(/\beval\(|new Function\(/);
      }
    }
    // The API's answers carry the headers too.
    expect((await plain(running.port, 'GET', '/api/session')).headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('served over HTTPS, with a metrics token', () => {
  const PUBLIC = 'https://labs.example.org';
  const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
  let running: Started;
  const made: string[] = [];

  beforeAll(async () => {
    running = await start({ CDL_MODE: 'single', PUBLIC_ORIGINS: PUBLIC, METRICS_TOKEN });
  });
  afterAll(async () => {
    await endAll(running.origin, running.server.secrets.adminToken, made);
    await running?.server.close();
  });

  it('sets a __Host- prefixed, Secure session cookie and reads only that one', async () => {
    const learner = new Client(running.origin, { origin: PUBLIC });
    const joined = await learner.post('/api/session');
    expect(joined.status).toBe(201);
    made.push(joined.body.id);
    const cookie = joined.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^__Host-cdl_session=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/; Secure/i);
    expect(cookie).toMatch(/; Path=\//i);
    expect(cookie).not.toMatch(/Domain=/i);
    expect((await learner.get('/api/session')).status).toBe(200);
    const token = learner.cookie.split('=')[1] ?? '';
    const unprefixed = await plain(running.port, 'GET', '/api/session', { cookie: `cdl_session=${token}` });
    expect(unprefixed.status).toBe(401);
    const page = await plain(running.port, 'GET', '/healthz');
    expect(page.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(String(page.headers['content-security-policy'])).toMatch(/upgrade-insecure-requests/);
  });

  it('serves /metrics only with the metrics token', async () => {
    expect((await plain(running.port, 'GET', '/metrics')).status).toBe(401);
    expect((await plain(running.port, 'GET', '/metrics', { authorization: 'Bearer not-the-token' })).status).toBe(401);
    expect((await plain(running.port, 'GET', '/metrics', { authorization: `Bearer ${running.server.secrets.adminToken}` })).status).toBe(
      401,
    );
    const metrics = await plain(running.port, 'GET', '/metrics', { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/cdl_sessions_created_total/);
  });
});
