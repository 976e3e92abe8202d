/**
 * A lab's activity (contract/content.ts `activity`): requests made right
 * after its setup as the setup's own ServiceAccounts, each with a token of
 * its own, so that the API server's audit log shows them as those accounts
 * did them, with the user agent the lab gives. A refusal (403) is part of
 * the story the log tells; any other answer fails the setup.
 */

import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Activity } from '../../contract/content.ts';
import { realNamespace, type SandboxNamespaces } from '../../contract/sandbox.ts';

/** A token lives long enough for the requests, and no longer. */
const TOKEN_SECONDS = 600;
const METHODS = { get: 'GET', list: 'GET', delete: 'DELETE' } as const;

/** The request's path: `/api/v1/namespaces/ns/secrets/name` or `/apis/group/version/…`. */
export function activityPath(activity: Pick<Activity, 'apiVersion' | 'resource' | 'name' | 'verb'>, namespace: string): string {
  const base = activity.apiVersion.includes('/') ? `/apis/${activity.apiVersion}` : `/api/${activity.apiVersion}`;
  const collection = `${base}/namespaces/${encodeURIComponent(namespace)}/${activity.resource}`;
  return activity.verb === 'list' || activity.name === undefined ? collection : `${collection}/${encodeURIComponent(activity.name)}`;
}

function send(kc: KubeConfig, method: string, path: string, token: string, userAgent: string): Promise<number> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const ca = cluster.caData ? Buffer.from(cluster.caData, 'base64') : cluster.caFile ? readFileSync(cluster.caFile) : undefined;
  const url = new URL(path, cluster.server);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, ca, headers: { authorization: `Bearer ${token}`, 'user-agent': userAgent, accept: 'application/json' }, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${path} within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Makes the lab's requests in order; returns each answer's status code. */
export async function replayActivity(
  kc: KubeConfig,
  activity: readonly Activity[],
  namespaces: SandboxNamespaces,
  source: string,
): Promise<number[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const tokens = new Map<string, Promise<string>>();
  const tokenFor = (name: string, namespace: string) => {
    const key = `${namespace}/${name}`;
    let token = tokens.get(key);
    if (!token) {
      token = core
        .createNamespacedServiceAccountToken({ name, namespace, body: { spec: { expirationSeconds: TOKEN_SECONDS, audiences: [] } } })
        .then((answer) => answer.status?.token ?? '');
      tokens.set(key, token);
    }
    return token;
  };
  const codes: number[] = [];
  for (const [i, step] of activity.entries()) {
    const namespace = realNamespace(namespaces, step.namespace);
    if (!namespace) throw new Error(`${source}: activity ${i + 1} names the namespace "${step.namespace}", which the sandbox lacks`);
    const token = await tokenFor(step.as, namespace);
    const path = activityPath(step, namespace);
    const code = await send(kc, METHODS[step.verb], path, token, step.userAgent ?? `${step.as}/1.0`);
    if (code !== 403 && (code < 200 || code > 299)) {
      throw new Error(`${source}: activity ${i + 1} (${step.as}: ${step.verb} ${path}) was answered ${code}`);
    }
    codes.push(code);
  }
  return codes;
}
