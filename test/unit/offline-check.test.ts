/**
 * The site build's offline check (scripts/offline-check.ts): what a browser
 * would fetch from another origin by itself is found, in every kind of file;
 * links to follow, data URLs and the site's own files are not. The site
 * build runs it over the real site (scripts/build-site.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { externalLoads, externalReferences, leavesOrigin } from '../../scripts/offline-check.ts';

describe('the offline check', () => {
  it('tells a URL that leaves the origin from one that does not', () => {
    for (const url of ['https://cdn.example/x.js', 'http://x', '//cdn.example/f.woff2', 'wss://x/socket', '"https://q"']) {
      expect(leavesOrigin(url), url).toBe(true);
    }
    for (const url of ['/_astro/a.js', './b.css', 'data:font/woff2;base64,AAAA', '#top', 'blob:x', 'pagefind/pagefind.js']) {
      expect(leavesOrigin(url), url).toBe(false);
    }
  });

  it('finds scripts, styles, fonts, images and frames in pages, and leaves links alone', () => {
    const page = `<html><head>
      <script type="module" src="https://cdn.example/app.js"></script>
      <link rel="stylesheet" href='//fonts.example/css'>
      <link rel="icon" href="/favicon.svg">
      <style>@font-face { src: url(https://fonts.example/a.woff2) }</style>
      </head><body>
      <img srcset="/a.png 1x, https://img.example/b.png 2x" alt="">
      <div style="background: url('https://img.example/bg.png')"></div>
      <iframe src=https://video.example/embed></iframe>
      <a href="https://kubernetes.io/docs/">the docs</a>
      <script src="/_astro/own.js"></script>
      </body></html>`;
    expect(externalLoads('lesson.html', page).sort()).toEqual(
      [
        'https://cdn.example/app.js',
        '//fonts.example/css',
        'https://fonts.example/a.woff2',
        'https://img.example/b.png',
        'https://img.example/bg.png',
        'https://video.example/embed',
      ].sort(),
    );
  });

  it('finds imports in stylesheets and modules, workers and dynamic imports in scripts', () => {
    expect(externalLoads('a.css', '@import "https://x.example/a.css"; b { background: url(data:image/png;base64,AA) }')).toEqual([
      'https://x.example/a.css',
    ]);
    const js = `import a from "https://esm.example/a.js"; import "/_astro/own.js"; const b = await import('https://esm.example/b.js');
      new Worker("https://w.example/w.js"); const text = "see https://kubernetes.io/docs";`;
    expect(externalLoads('a.js', js).sort()).toEqual(['https://esm.example/a.js', 'https://esm.example/b.js', 'https://w.example/w.js']);
  });

  it('walks a built site, naming each file and what it loads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdl-offline-'));
    try {
      mkdirSync(join(dir, 'lessons', 'one'), { recursive: true });
      writeFileSync(join(dir, 'lessons', 'one', 'index.html'), '<script src="https://cdn.example/x.js"></script>');
      writeFileSync(join(dir, 'ok.html'), '<a href="https://example.com">ok</a>');
      expect(externalReferences(dir)).toEqual([{ file: join('lessons', 'one', 'index.html'), url: 'https://cdn.example/x.js' }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
