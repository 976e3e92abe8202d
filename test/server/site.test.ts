/**
 * The lab server serves the built lesson site on its own origin: every
 * topic on the home page, each lesson beside its terminal with the check of
 * each step, the search index, the instructor's page, and a lesson page
 * that ships only the JavaScript it needs.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { courseCatalog } from '../../checks/catalog.ts';
import { TOPICS } from '../../contract/content.ts';
import { buildSite, SITE_DIST, siteStale } from '../../scripts/build-site.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

let server: TestServer;
const catalog = courseCatalog();

beforeAll(async () => {
  if (siteStale()) await buildSite(() => undefined);
  server = await startTestServer({ CDL_MODE: 'single' }, catalog, SITE_DIST);
}, 120_000);

afterAll(async () => {
  await server?.close();
});

async function get(path: string): Promise<{ status: number; type: string; body: string }> {
  const response = await fetch(`${server.origin}${path}`);
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.text() };
}

describe('the lesson site', () => {
  it('lists every topic on the home page', async () => {
    const home = await get('/');
    expect(home.status).toBe(200);
    for (const topic of TOPICS) expect(home.body).toContain(topic.title.replace(/&/g, '&amp;'));
  });

  it('puts each lesson beside its terminal, with a check for every step of its lab', async () => {
    for (const lab of catalog.list()) {
      const page = await get(`/lessons/${lab.topic}/${lab.id}/`);
      expect(page.status, lab.id).toBe(200);
      expect(page.body).toContain(`<cdl-terminal lab="${lab.id}"`);
      for (const step of lab.steps) expect(page.body).toContain(`data-step="${step.id}"`);
    }
  });

  it('ships a lesson page with less than 150 KB of JavaScript, gzipped', async () => {
    const page = await get('/lessons/getting-started/first-deployment/');
    const scripts = [...page.body.matchAll(/<script[^>]+src="([^"]+)"/g)].map((m) => m[1] as string);
    const imports = new Set(scripts);
    // Follow the module graph one level at a time.
    for (const src of [...imports]) {
      const js = await get(src);
      expect(js.status, src).toBe(200);
      expect(js.type).toMatch(/javascript/);
      for (const m of js.body.matchAll(/from"(\.\/[^"]+\.js)"/g)) imports.add(new URL(m[1] as string, `http://x${src}`).pathname);
    }
    let total = 0;
    for (const src of imports) total += gzipSync((await get(src)).body).length;
    expect(total).toBeGreaterThan(20_000);
    expect(total).toBeLessThan(150 * 1024);
    process.stderr.write(`[site] a lesson page's JavaScript on first load: ${(total / 1024).toFixed(1)} KB gzipped\n`);
  });

  it('serves the search index and the instructor page', async () => {
    expect((await get('/pagefind/pagefind.js')).status).toBe(200);
    expect((await get('/search/')).body).toContain('pagefind-ui.js');
    expect((await get('/instructor/')).body).toContain('Admin token');
  });
});
