/**
 * A request to the API server in a kubeconfig's identity, with the body and
 * the answer as text: for what the typed clients do not do (a dry run sent
 * as the learner wrote it, the OpenAPI documents).
 */
import { type RequestOptions, request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface ApiAnswer {
  status: number;
  body: string;
  /** The API server's warnings (admission, deprecations), without their code and agent. */
  warnings: string[];
}

export interface ApiRequest {
  method: 'GET' | 'PATCH' | 'POST';
  /** Path and query, e.g. `/openapi/v3` or `/apis/apps/v1/…?dryRun=All`. */
  path: string;
  body?: string;
  contentType?: string;
  timeoutMs?: number;
}

export async function apiRequest(kc: KubeConfig, { method, path, body, contentType, timeoutMs = 10_000 }: ApiRequest): Promise<ApiAnswer> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no cluster');
  const url = new URL(path, cluster.server);
  const credentials: RequestOptions = {};
  await kc.applyToHTTPSOptions(credentials);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ...credentials,
        method,
        headers: {
          ...(credentials.headers as Record<string, string> | undefined),
          ...(contentType ? { 'content-type': contentType } : {}),
          accept: 'application/json',
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const warning = res.headers.warning;
          const warnings = (Array.isArray(warning) ? warning : warning ? [warning] : []).map((w) => w.replace(/^\d{3} \S+ "?|"$/g, ''));
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), warnings });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`the API server did not answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}
