/**
 * The headers that tell a browser what this site may do (helmet): a Content
 * Security Policy that allows only the server's own scripts, styles, fonts,
 * images, workers and connections; no framing by any page (clickjacking the
 * lab controls); no MIME sniffing; and, over HTTPS, HSTS and upgrading any
 * plain-HTTP subresource.
 *
 * The policy is made for the built site as it is. Astro bundles the page
 * scripts into files under /_astro/; the few scripts it leaves inline (the
 * search page starting Pagefind) are allowed by their SHA-256, read from the
 * built pages when the server starts, so a page edited to run an unknown
 * inline script is blocked rather than trusted. Pagefind compiles its
 * WebAssembly ('wasm-unsafe-eval', which allows WebAssembly only, not eval)
 * and searches in a worker of its own file. Styles allow 'unsafe-inline':
 * code highlighting writes `style` attributes and xterm.js adds <style>
 * elements as it renders; a style cannot run code.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestHandler } from 'express';
import helmet from 'helmet';

const INLINE_SCRIPT = /<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi;
/** Script types a browser runs; others (application/json, ld+json) are data. */
const RUNNABLE = /^\s*(|module|text\/javascript|application\/javascript)\s*$/i;

/** The CSP sources ('sha256-…') of every inline script in the built site's pages. */
export function inlineScriptHashes(siteDir: string): string[] {
  if (!existsSync(siteDir)) return [];
  const hashes = new Set<string>();
  const pages = readdirSync(siteDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.html'));
  for (const page of pages) {
    for (const [, attributes = '', body = ''] of readFileSync(join(siteDir, page), 'utf8').matchAll(INLINE_SCRIPT)) {
      if (/\ssrc\s*=/i.test(` ${attributes}`)) continue;
      const type = /\btype\s*=\s*["']?([^"'\s>]*)/i.exec(attributes)?.[1] ?? '';
      if (!RUNNABLE.test(type)) continue;
      hashes.add(`'sha256-${createHash('sha256').update(body, 'utf8').digest('base64')}'`);
    }
  }
  return [...hashes].sort();
}

export interface SecurityHeadersOptions {
  /** The built site, whose inline scripts are allowed by hash. */
  siteDir: string;
  /** The server's public origins: terminals' WebSockets connect to them. */
  origins: readonly string[];
  /** Served over HTTPS: add HSTS and upgrade-insecure-requests. */
  secure: boolean;
}

/** The Content-Security-Policy directives, as helmet takes them. */
export function cspDirectives(options: SecurityHeadersOptions): Record<string, string[]> {
  const sockets = options.origins.map((o) => o.replace(/^http/, 'ws'));
  const directives: Record<string, string[]> = {
    'default-src': ["'self'"],
    'script-src': ["'self'", "'wasm-unsafe-eval'", ...inlineScriptHashes(options.siteDir)],
    'script-src-attr': ["'none'"],
    'style-src': ["'self'", "'unsafe-inline'"],
    'img-src': ["'self'", 'data:'],
    'font-src': ["'self'", 'data:'],
    'connect-src': ["'self'", ...sockets],
    'worker-src': ["'self'"],
    'object-src': ["'none'"],
    'base-uri': ["'self'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
  };
  if (options.secure) directives['upgrade-insecure-requests'] = [];
  return directives;
}

export function securityHeaders(options: SecurityHeadersOptions): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: cspDirectives(options) },
    frameguard: { action: 'deny' },
    strictTransportSecurity: options.secure ? { maxAge: 180 * 24 * 60 * 60 } : false,
    referrerPolicy: { policy: 'same-origin' },
  });
}
