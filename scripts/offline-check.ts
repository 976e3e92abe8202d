/**
 * The built site loads nothing from anywhere but its own origin: no script,
 * stylesheet, font, image, frame or module from a CDN, so a lesson works in
 * a room without internet once the platform is installed. The site build
 * runs this over site/dist and fails on any such reference, naming the file
 * and what it loads; the browser tests prove the same from the other side
 * (every request to another origin is recorded, and there are none).
 *
 * What counts is what a browser fetches by itself: `src`, `srcset`, `data`
 * and `poster` attributes, `<link href>` (stylesheets, icons, preloads,
 * manifests), `url()` and `@import` in CSS (files and `style` attributes),
 * and module imports or workers in JavaScript. A link the learner may
 * follow (`<a href="https://kubernetes.io/…">`) is not a load.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';

export interface ExternalReference {
  /** The file, relative to the built site's folder. */
  file: string;
  /** What it would load. */
  url: string;
}

/** A URL that leaves the origin: absolute with a scheme of the network, or protocol-relative. */
export function leavesOrigin(url: string): boolean {
  const text = url.trim().replace(/^['"]|['"]$/g, '');
  return /^(https?:|wss?:|ftp:)?\/\//i.test(text);
}

const HTML_LOADS = [
  /<(?:script|img|iframe|frame|source|track|audio|video|embed|input)\b[^>]*?\ssrc\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi,
  /<(?:img|source)\b[^>]*?\ssrcset\s*=\s*("[^"]*"|'[^']*')/gi,
  /<object\b[^>]*?\sdata\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi,
  /<video\b[^>]*?\sposter\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi,
  /<link\b[^>]*?\shref\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi,
];
const CSS_LOADS = [/url\(\s*("[^"]*"|'[^']*'|[^)\s]+)\s*\)/gi, /@import\s+("[^"]*"|'[^']*')/gi];
const JS_LOADS = [
  /\bimport\s*\(\s*("[^"]*"|'[^']*'|`[^`]*`)\s*\)/g,
  /\b(?:import|export)\b[^;'"`]*?\bfrom\s*("[^"]*"|'[^']*')/g,
  /\bimport\s*("[^"]*"|'[^']*')/g,
  /\bnew\s+(?:Shared)?Worker\s*\(\s*("[^"]*"|'[^']*'|`[^`]*`)/g,
  /\bimportScripts\s*\(\s*("[^"]*"|'[^']*')/g,
];

function unquote(value: string): string {
  return value.replace(/^["'`]|["'`]$/g, '');
}

function matches(text: string, patterns: readonly RegExp[]): string[] {
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].map((m) => unquote(m[1] ?? '')));
}

/** What one file would load from elsewhere, by its kind. */
export function externalLoads(name: string, text: string): string[] {
  const kind = extname(name).toLowerCase();
  let urls: string[] = [];
  if (kind === '.html') {
    urls = matches(text, HTML_LOADS).flatMap((value) => value.split(',').map((part) => part.trim().split(/\s+/)[0] ?? ''));
    // CSS inside the page: <style> elements and style attributes.
    urls.push(...matches(text, CSS_LOADS));
  } else if (kind === '.css') {
    urls = matches(text, CSS_LOADS);
  } else if (kind === '.js' || kind === '.mjs') {
    urls = matches(text, JS_LOADS);
  }
  return [...new Set(urls.filter(leavesOrigin))];
}

/** Every reference in the built site to something on another origin. */
export function externalReferences(dir: string): ExternalReference[] {
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(html|css|m?js)$/i.test(f));
  return files.sort().flatMap((file) => externalLoads(file, readFileSync(join(dir, file), 'utf8')).map((url) => ({ file, url })));
}
