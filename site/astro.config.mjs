// The lesson site: static pages built from content/lessons, served by the
// lab server on the same origin as its API. In development (`astro dev`),
// /api and the terminal WebSocket are forwarded to a lab server on
// LABS_SERVER (default http://127.0.0.1:4321); start that one with
// PUBLIC_ORIGINS including the dev server's address.
import { fileURLToPath } from 'node:url';
import mdx from '@astrojs/mdx';
import { defineConfig } from 'astro/config';
import { developmentSettings } from '../contract/settings.ts';

const labsServer = developmentSettings().LABS_SERVER;

/**
 * The YAML editor's schema support renders descriptions with markdown-it and
 * Shiki, 200 KB gzipped for plain text: its renderer is replaced by
 * src/lib/schema-text.ts, which escapes the text and keeps `code` spans.
 */
const schemaTextPlugin = {
  name: 'cdl-schema-text',
  enforce: 'pre',
  resolveId(source, importer) {
    if (source === '../utils/markdown' && importer?.includes('codemirror-json-schema')) {
      return fileURLToPath(new URL('./src/lib/schema-text.ts', import.meta.url));
    }
    return null;
  },
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  outDir: fileURLToPath(new URL('./dist', import.meta.url)),
  integrations: [mdx()],
  server: { port: 4322 },
  vite: {
    plugins: [schemaTextPlugin],
    resolve: {
      alias: { '@lesson': fileURLToPath(new URL('./src/components/lesson/index.ts', import.meta.url)) },
    },
    server: {
      proxy: { '/api': { target: labsServer, ws: true } },
    },
  },
});
