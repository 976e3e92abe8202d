/**
 * "Validate on the cluster": what the learner's YAML would meet if they
 * applied it, without applying it. Each document is sent as a server-side
 * apply with `dryRun=All` and `fieldValidation=Strict`, in the learner's own
 * identity (their short-lived token), so RBAC, Pod Security, quotas,
 * admission policies and the schema itself all answer, and nothing is
 * stored. The body goes as the learner wrote it: a typed client would drop
 * the misspelt field that strict validation is there to name.
 *
 * Each answer carries the line of its document, and, where the API server
 * names a field (`unknown field "spec.replica"`, `spec.replicas: Invalid
 * value`), the line of that field in the learner's text.
 */
import { type KubeConfig, type KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { type Document, isMap, isScalar, LineCounter, parseAllDocuments } from 'yaml';
import type { ValidationResult } from '../../../contract/api.ts';
import { type ApiAnswer, apiRequest } from './api-request.ts';

/** The URL path of an object, found the way the generic client finds it (discovery, cached). */
class ObjectPaths extends KubernetesObjectApi {
  path(object: KubernetesObject): Promise<string> {
    return this.specUriPath(object, 'patch');
  }

  collection(object: KubernetesObject): Promise<string> {
    return this.specUriPath(object, 'create');
  }

  /** Whether the cluster serves the kind in namespaces; undefined when it does not serve it at all. */
  async namespaced(object: KubernetesObject): Promise<boolean | undefined> {
    return (await this.resource(object.apiVersion ?? '', object.kind ?? ''))?.namespaced;
  }
}

/** At most this many objects are dry-run in one request: each costs the API server a request or two. */
export const MAX_DOCUMENTS = 20;

/** Discovery is kept per admin kubeconfig, so a validation asks the API server only the dry runs. */
const pathFinders = new WeakMap<KubeConfig, ObjectPaths>();

function pathsFor(admin: KubeConfig): ObjectPaths {
  let paths = pathFinders.get(admin);
  if (!paths) {
    paths = admin.makeApiClient(ObjectPaths);
    pathFinders.set(admin, paths);
  }
  return paths;
}

/** Server-side apply names only the first field it does not know, as a 500: a create's strict decoding names all of them. */
const UNDECLARED = /field not declared in schema/;

/**
 * A dry run in the kubeconfig's identity (the learner's token, or for a lab
 * of a cluster of the learner's own, its admin's certificate): a server-side
 * apply (PATCH), or a create (POST) to the object's collection.
 */
function send(kc: KubeConfig, method: 'PATCH' | 'POST', path: string, body: string): Promise<ApiAnswer> {
  const query = method === 'PATCH' ? '&force=true' : '';
  return apiRequest(kc, {
    method,
    path: `${path}?dryRun=All&fieldManager=kubectl&fieldValidation=Strict${query}`,
    body,
    contentType: method === 'PATCH' ? 'application/apply-patch+yaml' : 'application/json',
  });
}

/** The message of a Status the API server answered with, or the text itself. */
function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: string };
    return status.message ?? body;
  } catch {
    return body.slice(0, 500);
  }
}

/** `spec.template.spec.containers[0].image` as the YAML library's path: ['spec', …, 'containers', 0, 'image']. */
export function fieldPath(field: string): Array<string | number> {
  return field
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter(Boolean)
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/** The fields an API server's message names: strict decoding's `unknown field "a.b"` and validation's `a.b: Invalid value`. */
export function namedFields(message: string): string[] {
  const unknown = [...message.matchAll(/unknown field "([^"]+)"/g)].map((m) => m[1] ?? '');
  const invalid = [
    ...message.matchAll(
      /(?:^|[:,;]\s*|\[)((?:[a-zA-Z]+(?:\[\d+\])?\.)+[a-zA-Z]+(?:\[\d+\])?): (?:Invalid|Required|Unsupported|Duplicate|Forbidden|Too)/g,
    ),
  ].map((m) => m[1] ?? '');
  return [...new Set([...unknown, ...invalid])].filter(Boolean);
}

/** The line (1-based) of a field in a document: its key's line, or its nearest parent's. */
export function lineOf(doc: Document, lines: LineCounter, field: string): number | undefined {
  const path = fieldPath(field);
  for (let depth = path.length; depth > 0; depth--) {
    const parent = depth === 1 ? doc.contents : doc.getIn(path.slice(0, depth - 1), true);
    const key = path[depth - 1];
    if (isMap(parent)) {
      const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === key);
      const at = (pair?.key as { range?: [number, number, number] } | undefined)?.range?.[0];
      if (at !== undefined) return lines.linePos(at).line;
    } else {
      const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lines.linePos(node.range[0]).line;
    }
  }
  return undefined;
}

export interface ValidateOptions {
  /** An admin kubeconfig: only for finding each kind's URL (discovery). */
  admin: KubeConfig;
  /** The learner's kubeconfig: the dry-runs go in their identity. */
  learner: KubeConfig;
  /** Where an object without a namespace goes (the lab's first). */
  namespace: string;
}

/** Dry-runs every document of `text` as the learner; one result per document, in order. */
export async function validateManifests(text: string, options: ValidateOptions): Promise<ValidationResult[]> {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  const paths = pathsFor(options.admin);
  let sent = 0;
  const results: ValidationResult[] = [];
  for (const [index, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    // The document's first line of content (a `---` before it is not part of it).
    const line = lines.linePos(doc.contents?.range?.[0] ?? doc.range[0]).line;
    if (doc.errors.length > 0) {
      const error = doc.errors[0];
      results.push({
        index,
        line: error?.linePos?.[0]?.line ?? line,
        ok: false,
        message: `This is not valid YAML: ${error?.message.split('\n')[0] ?? 'a syntax error'}`,
      });
      continue;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const object = value as KubernetesObject;
    if (typeof value !== 'object' || Array.isArray(value) || !object.apiVersion || !object.kind) {
      results.push({ index, line, ok: false, message: 'This is not a Kubernetes object: it needs apiVersion and kind.' });
      continue;
    }
    const named = { kind: object.kind, ...(object.metadata?.name ? { name: object.metadata.name } : {}) };
    if (++sent > MAX_DOCUMENTS) {
      results.push({ index, line, ...named, ok: false, message: `Not checked: at most ${MAX_DOCUMENTS} objects are validated at once.` });
      continue;
    }
    if (!object.metadata?.name) {
      results.push({ index, line, ...named, ok: false, message: 'It has no metadata.name: apply needs a name for every object.' });
      continue;
    }
    const namespaced = await paths.namespaced(object).catch(() => undefined);
    if (namespaced === undefined) {
      results.push({ index, line, ...named, ok: false, message: `This cluster serves no kind ${object.kind} in ${object.apiVersion}.` });
      continue;
    }
    // A namespaced object without one goes to the lab's first namespace; a cluster-scope one goes as it is.
    const body = namespaced
      ? { ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? options.namespace } }
      : object;
    const path = await paths.path(body);
    let answer = await send(options.learner, 'PATCH', path, JSON.stringify(body));
    if (answer.status >= 200 && answer.status < 300) {
      results.push({ index, line, ...named, ok: true, ...(answer.warnings.length ? { warnings: answer.warnings } : {}) });
      continue;
    }
    if (UNDECLARED.test(answer.body)) {
      const strict = await send(options.learner, 'POST', await paths.collection(body), JSON.stringify(body));
      // The learner's mistake, not the server's: a 400 either way.
      answer = strict.status === 400 ? strict : { ...answer, status: 400 };
    }
    const message = statusMessage(answer.body);
    const fields = namedFields(message).flatMap((field) => {
      const at = lineOf(doc, lines, field);
      return at === undefined ? [] : [{ field, line: at }];
    });
    results.push({
      index,
      line,
      ...named,
      ok: false,
      status: answer.status,
      message,
      ...(fields.length ? { fields } : {}),
      ...(answer.warnings.length ? { warnings: answer.warnings } : {}),
    });
  }
  return results;
}
