/**
 * What the YAML editor's schema support (codemirror-json-schema) shows of a
 * schema's descriptions and messages, in place of its Markdown renderer:
 * that one brings markdown-it and the Shiki highlighter (about 200 KB
 * gzipped) for descriptions that Kubernetes writes as plain text. This
 * escapes the text (it is inserted as HTML) and keeps `code` spans as code.
 * site/astro.config.mjs puts it in the library's place.
 */
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

export function renderMarkdown(markdown: string, inline = true): string {
  const html = escapeHtml(markdown).replace(/`([^`\n]+)`/g, '<code>$1</code>');
  return inline ? html : `<p>${html.replace(/\n{2,}/g, '</p><p>')}</p>`;
}
