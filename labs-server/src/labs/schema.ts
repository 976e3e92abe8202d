/**
 * The JSON Schema of one kind, from the cluster's own OpenAPI v3 documents,
 * for the lesson's YAML editor to complete and lint against: the schema the
 * API server itself validates with, so a CRD a lab installed is there too.
 *
 * The group-version document (`/openapi/v3/apis/apps/v1`) is found through
 * the discovery document (`/openapi/v3`), whose links carry a hash of their
 * content: a converted schema is kept under that link and the kind, and is
 * made again only when the document changes. Discovery itself is asked
 * again after DISCOVERY_TTL_MS.
 *
 * The conversion keeps what an editor needs and makes one thing stricter:
 * an object with declared properties takes no others (Kubernetes' schemas
 * leave that open, and the API server's strict field validation is what
 * refuses a misspelt field; the editor underlines it as the learner types).
 * References become `#/definitions/…` (draft-07), limited to those the kind
 * reaches; descriptions are cut to their first paragraph; `status`, which a
 * learner never writes, is left out.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { apiRequest } from './api-request.ts';

export type JsonSchema = { [key: string]: unknown };

const DISCOVERY_TTL_MS = 10_000;
/** Converted schemas kept: a lab uses a handful of kinds. */
const MAX_CACHED = 64;
/** Group-version documents kept, parsed (each up to a few MB): a kind the cluster lacks then costs no fetch. */
const MAX_DOCUMENTS = 8;
const DESCRIPTION_MAX = 400;
const REF = '#/components/schemas/';

interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** `apps/v1` → group apps, version v1; `v1` → the core group. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function shortDescription(text: string): string {
  const first = text.split(/\n\s*\n/)[0]?.trim() ?? '';
  return first.length > DESCRIPTION_MAX ? `${first.slice(0, DESCRIPTION_MAX - 1)}…` : first;
}

/** One schema node, converted; `refs` collects the components it points at. */
function convert(node: unknown, refs: Set<string>): unknown {
  if (Array.isArray(node)) return node.map((n) => convert(n, refs));
  if (!isObject(node)) return node;
  // `allOf: [{$ref}]` is how Kubernetes puts a description or a default beside a reference.
  const allOf = node.allOf;
  if (
    Array.isArray(allOf) &&
    allOf.length === 1 &&
    isObject(allOf[0]) &&
    typeof allOf[0].$ref === 'string' &&
    Object.keys(allOf[0]).length === 1
  ) {
    const { allOf: _, default: __, ...rest } = node;
    return convert({ ...rest, $ref: allOf[0].$ref }, refs);
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-') || key === 'default' || key === 'format') continue;
    if (key === '$ref' && typeof value === 'string' && value.startsWith(REF)) {
      const name = value.slice(REF.length);
      refs.add(name);
      out.$ref = `#/definitions/${name}`;
    } else if (key === 'description' && typeof value === 'string') {
      out.description = shortDescription(value);
    } else if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, convert(schema, refs)]));
    } else {
      out[key] = convert(value, refs);
    }
  }
  if (node['x-kubernetes-preserve-unknown-fields'] === true) {
    out.additionalProperties = true;
  } else if (isObject(node.properties) && node.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  if (node.nullable === true && typeof out.type === 'string') {
    out.type = [out.type, 'null'];
    delete out.nullable;
  }
  return out;
}

/**
 * The kind's JSON Schema from a group-version's OpenAPI v3 document, or
 * undefined when the document has no such kind.
 */
export function kindSchema(document: unknown, apiVersion: string, kind: string): JsonSchema | undefined {
  const { group, version } = splitApiVersion(apiVersion);
  const schemas =
    isObject(document) && isObject(document.components) && isObject(document.components.schemas) ? document.components.schemas : {};
  const rootName = Object.keys(schemas).find((name) => {
    const gvks = (schemas[name] as JsonSchema)['x-kubernetes-group-version-kind'];
    return Array.isArray(gvks) && gvks.some((g: GroupVersionKind) => g.group === group && g.version === version && g.kind === kind);
  });
  if (!rootName) return undefined;
  const refs = new Set<string>();
  const root = convert(schemas[rootName], refs) as JsonSchema;
  const properties = { ...(root.properties as JsonSchema) };
  delete properties.status;
  properties.apiVersion = { ...(properties.apiVersion as JsonSchema), enum: [apiVersion] };
  properties.kind = { ...(properties.kind as JsonSchema), enum: [kind] };
  const definitions: JsonSchema = {};
  // Every component the kind reaches, however deep.
  const queue = [...refs];
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    if (name in definitions) continue;
    const more = new Set<string>();
    definitions[name] = convert(schemas[name] ?? {}, more);
    for (const next of more) if (!(next in definitions)) queue.push(next);
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...root,
    properties,
    required: [...new Set([...((root.required as string[] | undefined) ?? []), 'apiVersion', 'kind'])],
    definitions,
  };
}

/** Keeps `value` under `key`, forgetting the oldest entry beyond `most`. */
function remember<T>(map: Map<string, T>, key: string, value: T, most: number): void {
  map.delete(key);
  if (map.size >= most) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

/** The cluster's schemas, kind by kind, cached by the hash of the document they came from. */
export class ClusterSchemas {
  private readonly kc: KubeConfig;
  private discovery: { at: number; paths: Record<string, string> } | undefined;
  /** Each kind's schema, and its JSON text as served (167 KB for a Deployment: made once, not per request). */
  private readonly cache = new Map<string, { schema: JsonSchema; text: string }>();
  private readonly documents = new Map<string, unknown>();

  constructor(kc: KubeConfig) {
    this.kc = kc;
  }

  private async get(path: string): Promise<unknown> {
    const answer = await apiRequest(this.kc, { method: 'GET', path, timeoutMs: 15_000 });
    if (answer.status !== 200) throw new Error(`the API server answered ${answer.status} for ${path}`);
    return JSON.parse(answer.body);
  }

  /** Group-version (`api/v1`, `apis/apps/v1`) → its document's link, with its hash. */
  private async links(): Promise<Record<string, string>> {
    if (!this.discovery || Date.now() - this.discovery.at > DISCOVERY_TTL_MS) {
      const document = (await this.get('/openapi/v3')) as { paths?: Record<string, { serverRelativeURL?: string }> };
      const paths = Object.fromEntries(
        Object.entries(document.paths ?? {}).flatMap(([name, link]) => (link.serverRelativeURL ? [[name, link.serverRelativeURL]] : [])),
      );
      this.discovery = { at: Date.now(), paths };
    }
    return this.discovery.paths;
  }

  /** The kind's schema, or undefined when the cluster serves no such kind in that group-version. */
  async forKind(apiVersion: string, kind: string): Promise<{ schema: JsonSchema; text: string; cached: boolean } | undefined> {
    const { group } = splitApiVersion(apiVersion);
    const link = (await this.links())[group ? `apis/${apiVersion}` : `api/${apiVersion}`];
    if (!link) return undefined;
    const key = `${link}|${kind}`;
    const known = this.cache.get(key);
    if (known) return { ...known, cached: true };
    let document = this.documents.get(link);
    if (document === undefined) {
      document = await this.get(link);
      remember(this.documents, link, document, MAX_DOCUMENTS);
    }
    const schema = kindSchema(document, apiVersion, kind);
    // Only what exists is kept: asking for kinds that do not exist fills nothing.
    if (!schema) return undefined;
    const made = { schema, text: JSON.stringify(schema) };
    remember(this.cache, key, made, MAX_CACHED);
    return { ...made, cached: false };
  }
}
